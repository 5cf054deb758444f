"""A run folder from the Hugging Face Hub: ``vaekit.load("hf://ORG/NAME")`` and ``Run.open`` download
a model repository (config, safetensors weights, card, numbers; never pickle) into the Hub's
cache, and a downloaded config gets exactly the checks a local one gets. ``vaekit push``
(vaekit.interop.hub) uploads one.

It needs ``huggingface_hub`` (``pip install 'vaekit[hub]'``) and the network; without either it
stops with one line saying so.
"""

from __future__ import annotations

from pathlib import Path

from vaekit.errors import VaekitError
from vaekit.run.layout import DOWNLOADED

PREFIXES = ("hf://", "hf:/")  # a Path collapses the double slash


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


def hub_module():
    try:
        import huggingface_hub
    except ImportError:
        raise VaekitError("the Hugging Face Hub needs huggingface_hub: pip install 'vaekit[hub]'") from None
    return huggingface_hub


def reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def download(ref) -> Path:
    """The local folder of a Hub model repository (downloaded, or from the cache)."""
    hub = hub_module()
    rid = repo_id(ref)
    try:
        return Path(hub.snapshot_download(rid, allow_patterns=DOWNLOADED))
    except Exception as e:  # noqa: BLE001 -- offline, unknown repo, refused: one line either way
        raise VaekitError(f"hf://{rid}: could not download ({reason(e)})") from None


