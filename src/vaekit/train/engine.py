"""What a training run steps through: Lightning Fabric, or the same contract in one process.

Runs on several processes or machines, and on GPUs, go through Lightning Fabric (DDP, device
placement, mixed precision with its gradient scaler). A run in one process on the CPU uses none
of that, and importing Lightning Fabric is about 1 s of its start on the project's 2-core machine
(a cached restart to the first step measured 3.80 s with it, 2.94 s without;
``benchmarks/restart.py``). Such a run steps through ``OneProcess`` instead: the part of
Fabric's interface the trainer uses, with Fabric's numerics for 32 and bf16 (floating inputs
cast to bfloat16, the forward under ``torch.autocast``, floating outputs cast back to float32).
``tests/test_engine.py`` checks that both give bit-identical weights.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from lightning_utilities.core.apply_func import apply_to_collection

from vaekit.train.device import fabric_precision, resolve_accelerator, resolve_precision


def make_engine(config) -> Any:
    """``OneProcess`` for a one-process CPU run in float32 or bf16; Lightning Fabric otherwise.
    ``config``: a TrainConfig (accelerator, devices, num_nodes, precision)."""
    world = config.devices * config.num_nodes
    precision = resolve_precision(config.precision, config.accelerator)
    if world == 1 and resolve_accelerator(config.accelerator) == "cpu" and precision in ("32", "bf16"):
        return OneProcess(precision)
    from lightning_fabric import Fabric

    return Fabric(accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes,
                  strategy="ddp" if world > 1 else "auto",
                  precision=fabric_precision(config.precision, config.accelerator))


class OneProcess:
    """Fabric's single-device contract on the CPU: ``setup``, ``backward``, ``autocast``,
    ``all_reduce``, ``barrier``, ``launch``, ``device``, ranks. precision: "32" or "bf16" (mixed)."""

    global_rank = 0
    world_size = 1
    is_global_zero = True

    def __init__(self, precision: str):
        self.device = torch.device("cpu")
        self.dtype = torch.bfloat16 if precision == "bf16" else None

    def launch(self) -> None:
        """Nothing to start: this process is the only one."""

    def setup(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer):
        return _Module(module, self.dtype), _Optimizer(optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def autocast(self):
        """The context the model's forward runs in, as Fabric's ``autocast``."""
        return torch.autocast("cpu", dtype=self.dtype) if self.dtype is not None else nullcontext()

    def all_reduce(self, data: torch.Tensor, reduce_op: str = "sum") -> torch.Tensor:
        return data  # one process: its sums are the total

    def barrier(self) -> None:
        """Nobody to wait for."""


def _cast(dtype: torch.dtype):
    return lambda t: t.to(dtype) if torch.is_floating_point(t) else t


class _Module:
    """The model as the training loop calls it: under bf16 autocast, inputs cast to bfloat16 and
    floating outputs back to float32 (as Fabric's ``bf16-mixed``); any other attribute is the
    model's own, so ``model.prior`` or ``model.encode`` run as written, outside autocast."""

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype | None):
        self.__dict__["module"], self.__dict__["dtype"] = module, dtype

    def __call__(self, *args, **kwargs):
        if self.dtype is None:
            return self.module(*args, **kwargs)
        args, kwargs = apply_to_collection((args, kwargs), torch.Tensor, _cast(self.dtype))
        with torch.autocast("cpu", dtype=self.dtype):
            out = self.module(*args, **kwargs)
        return apply_to_collection(out, torch.Tensor, _cast(torch.get_default_dtype()))

    def __getattr__(self, name: str):
        return getattr(self.module, name)


class _Optimizer:
    """The optimizer, reachable as ``.optimizer`` as Fabric's wrapper has it."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    def __getattr__(self, name: str):
        return getattr(self.optimizer, name)
