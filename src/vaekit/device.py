"""Choosing where and in what precision to work.

One precision vocabulary everywhere (training, evaluation, the CLI and config.json):
``auto`` (bfloat16 where the hardware computes it natively, else float32), ``32``, ``bf16``
and ``16`` (float16 mixed precision, for GPUs).
"""

from __future__ import annotations

import torch

from vaekit.config import LEGACY_PRECISIONS, PRECISIONS

__all__ = ["LEGACY_PRECISIONS", "PRECISIONS", "check_accelerator", "cpu_has_native_bf16", "fabric_precision",
           "resolve_accelerator", "resolve_precision"]
_FABRIC = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}


def resolve_accelerator(accelerator: str) -> str:
    """'auto' -> 'cuda' if a GPU is visible, else 'mps' on Apple silicon, else 'cpu'."""
    if accelerator != "auto":
        return accelerator
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def check_accelerator(accelerator: str) -> None:
    """SettingError when ``accelerator`` names a device this machine does not have, before any
    folder is written (Fabric would only fail later, with a traceback)."""
    from vaekit.errors import SettingError

    present = {"cpu": True, "auto": True, "cuda": torch.cuda.is_available(),
               "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not present.get(accelerator, True):
        have = ", ".join(name for name in ("cpu", "cuda", "mps") if present[name])
        raise SettingError("accelerator", f"a device this machine has ({have}, or auto)", accelerator)


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX)."""
    cpu = torch.cpu
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(bool(c()) for c in checks if c is not None)


def resolve_precision(precision: str, accelerator: str) -> str:
    """'auto' -> 'bf16' where the hardware computes bfloat16 natively (recent CPUs, GPUs from
    Ampere on), where it roughly halves the time of the matrix products at no measured cost in
    final loss; '32' everywhere else. Other values pass through."""
    precision = LEGACY_PRECISIONS.get(precision, precision)
    if precision != "auto":
        return precision
    device = resolve_accelerator(accelerator)
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "32"


def fabric_precision(precision: str, accelerator: str) -> str:
    """The name Lightning Fabric gives the resolved precision (``bf16`` -> ``bf16-mixed``)."""
    return _FABRIC[resolve_precision(precision, accelerator)]
