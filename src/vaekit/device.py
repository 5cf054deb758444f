"""Choosing where and in what precision to train."""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed")


def resolve_accelerator(accelerator: str) -> str:
    """'auto' -> 'cuda' if a GPU is visible, else 'mps' on Apple silicon, else 'cpu'."""
    if accelerator != "auto":
        return accelerator
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX)."""
    cpu = torch.cpu
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(bool(c()) for c in checks if c is not None)


def resolve_precision(precision: str, accelerator: str) -> str:
    """'auto' -> 'bf16-mixed' where the hardware computes bfloat16 natively (recent CPUs, GPUs
    from Ampere on), where it roughly halves the time of the matrix products at no measured cost
    in final loss; '32-true' everywhere else. Other values pass through.
    """
    if precision != "auto":
        return precision
    device = resolve_accelerator(accelerator)
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    if device == "cpu" and cpu_has_native_bf16():
        return "bf16-mixed"
    return "32-true"
