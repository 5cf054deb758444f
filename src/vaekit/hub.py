"""The Hugging Face Hub: ``vaekit push RUN ORG/NAME`` uploads a run folder's model repository
(config, safetensors weights, card, grids, numbers) and ``vaekit.load("hf://ORG/NAME")``
downloads one. Only those files travel -- never a checkpoint with optimizer state, never pickle
-- and a downloaded config gets exactly the checks a local one gets.

Both need ``huggingface_hub`` (``pip install 'vaekit[hub]'``) and the network; without either
they stop with one line saying so.
"""

from __future__ import annotations

from pathlib import Path

from vaekit.errors import VaekitError

PREFIXES = ("hf://", "hf:/")  # a Path collapses the double slash
UPLOADED = ["config.json", "model.safetensors", "README.md", "summary.json", "eval.json", "metrics.csv",
            "grids/*.png"]
DOWNLOADED = ["config.json", "model.safetensors", "README.md", "summary.json"]


def is_hub(ref) -> bool:
    return str(ref).startswith(PREFIXES)


def repo_id(ref) -> str:
    text = str(ref)
    for prefix in PREFIXES:
        if text.startswith(prefix):
            rid = text[len(prefix):].strip("/")
            if rid.count("/") != 1 or not all(rid.split("/")):
                raise VaekitError(f"{ref}: expected hf://ORG/NAME")
            return rid
    raise VaekitError(f"{ref}: expected hf://ORG/NAME")


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise VaekitError("the Hugging Face Hub needs huggingface_hub: pip install 'vaekit[hub]'") from None
    return huggingface_hub


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def download(ref) -> Path:
    """The local folder of a Hub model repository (downloaded, or from the cache)."""
    hub = _hub()
    rid = repo_id(ref)
    try:
        return Path(hub.snapshot_download(rid, allow_patterns=DOWNLOADED))
    except Exception as e:  # noqa: BLE001 -- offline, unknown repo, refused: one line either way
        raise VaekitError(f"hf://{rid}: could not download ({_reason(e)})") from None


def push(run, rid: str, private: bool = False, token: str | None = None) -> str:
    """Upload a run folder's model repository to ``ORG/NAME``; returns the repository's URL."""
    from vaekit.card import write_card
    from vaekit.run import Run

    hub = _hub()
    run = Run.open(run)
    if rid.count("/") != 1 or not all(rid.split("/")):
        raise VaekitError(f"{rid!r}: expected ORG/NAME", "repo_id")
    _ = run.model  # a run whose weights do not load is not uploaded
    write_card(run)
    try:
        api = hub.HfApi(token=token)
        url = api.create_repo(rid, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(run.path), repo_id=rid, allow_patterns=UPLOADED,
                          commit_message=f"vaekit push {run.name}")
    except Exception as e:  # noqa: BLE001 -- offline, no token, refused: one line either way
        raise VaekitError(f"{rid}: could not upload ({_reason(e)})") from None
    return str(url)
