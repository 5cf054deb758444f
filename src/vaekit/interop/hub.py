"""``vaekit push RUN ORG/NAME``: upload a run folder's model repository to the Hugging Face Hub
(config, safetensors weights, card, grids, numbers: ``vaekit.run.layout.PUBLISHED``; never a
checkpoint with optimizer state, never pickle). Downloading is vaekit.run.fetch.

It needs ``huggingface_hub`` (``pip install 'vaekit[hub]'``) and the network; without either it
stops with one line saying so.
"""

from __future__ import annotations

from vaekit.errors import VaekitError
from vaekit.run import Run
from vaekit.run.card import write_card
from vaekit.run.fetch import hub_module, reason
from vaekit.run.layout import PUBLISHED


def push(run, rid: str, private: bool = False, token: str | None = None) -> str:
    """Upload a run folder's model repository to ``ORG/NAME``; returns the repository's URL."""
    hub = hub_module()
    run = Run.open(run)
    if rid.count("/") != 1 or not all(rid.split("/")):
        raise VaekitError(f"{rid!r}: expected ORG/NAME", "repo_id")
    _ = run.model  # a run whose weights do not load is not uploaded
    write_card(run)
    try:
        api = hub.HfApi(token=token)
        url = api.create_repo(rid, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(run.path), repo_id=rid, allow_patterns=PUBLISHED,
                          commit_message=f"vaekit push {run.name}")
    except Exception as e:  # noqa: BLE001 -- offline, no token, refused: one line either way
        raise VaekitError(f"{rid}: could not upload ({reason(e)})") from None
    return str(url)
