"""Choosing where and in what precision to work.

One precision vocabulary everywhere (training, evaluation, the CLI and config.json):
``auto`` (bfloat16 where the hardware computes it natively, else float32), ``32``, ``bf16``
and ``16`` (float16 mixed precision, for GPUs).
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

import torch

from vaekit.config import LEGACY_PRECISIONS, PRECISIONS

__all__ = ["FLOAT32_ENV", "LEGACY_PRECISIONS", "PRECISIONS", "check_accelerator", "cpu_has_native_bf16",
           "cpu_info", "fabric_precision", "keep_freed_memory", "resolve_accelerator", "resolve_precision"]
# Set to 1, "auto" runs float32 everywhere (training, evaluation, likelihoods, priors), as it does
# on a CPU without native bfloat16 (AVX2 only): a developer on one kind of CPU checks the other
# numeric path with it (`make test-float32`). An explicit "bf16" is still honoured.
FLOAT32_ENV = "VAEKIT_FLOAT32"
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
    """True when this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), unless
    $VAEKIT_FLOAT32 is 1 (see FLOAT32_ENV)."""
    if os.environ.get(FLOAT32_ENV, "") not in ("", "0"):
        return False
    cpu = torch.cpu
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(bool(c()) for c in checks if c is not None)


_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "neon", "asimd")


def cpu_info() -> dict:
    """The CPU figures were measured on: model name, logical CPUs, the instruction-set flags that
    decide vaekit's kernels (bfloat16 and AMX above all), whether "auto" means bf16 here, and the
    torch build. Benchmarks write it into their JSON; bf16 results differ between CPU kinds."""
    model, flags = platform.processor() or platform.machine() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.processor(), platform.machine()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the model name platform gives, no flags
        pass
    forced = os.environ.get(FLOAT32_ENV, "") not in ("", "0")
    return {"model": model, "cpus": os.cpu_count(), "flags": [f for f in _FLAGS if f in flags],
            "native_bf16": cpu_has_native_bf16(), "float32_forced": forced,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Have the C allocator keep freed blocks of up to 256 MiB for reuse (Linux with glibc).

    A training step frees and reallocates the same tensors every time: gradients, activations,
    the bfloat16 copies of the weights. glibc serves large blocks with mmap (above a threshold
    it adapts at run time, 128 KiB and up) and unmaps them when freed, so the next step touches
    fresh pages and pays a page fault for every 4 KiB. Measured on the project's 2-core CPU,
    alternating processes: the face VAE (128x128, batch 64) ran its epochs in 6.0-6.3 s with
    glibc's defaults, 5.4-6.0 s with a 32 MiB threshold and 4.7-5.0 s with this one, its page
    faults falling from 2.8-3.3 million to 0.2-0.3 million over 2 epochs, for 0-170 MiB more
    peak memory; the MLP VAE's median step was lower in 6 of 6 process pairs. Freed memory at
    the top of the heap is given back to the system beyond 1 GiB. The setting lasts for the
    process. Returns False where the C library has no ``mallopt`` (macOS, Windows) or ignores it."""
    try:  # the C library's symbols, as the running program sees them
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    # a glibc that caps the threshold at 32 MiB refuses the larger one
    kept = mallopt(_M_MMAP_THRESHOLD, 256 << 20) or mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    return bool(kept) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
