"""The training loop's optimizer: torch's Adam, with its fused CPU kernel called directly.

``torch.optim.Adam(fused=True)`` updates every parameter in one kernel, but around that kernel
torch 2.13 spends Python on each step (grouping tensors by device and dtype, checks, graph-break
markers for torch.compile), and its first call imports ``torch._dynamo``. For the MLP VAE on
the project's 2-core CPU that Python was about 0.15-0.2 ms of a 2.2 ms step, and the import
1.3-1.7 s of every training process's start (``benchmarks/restart.py``).

``Adam`` is torch's class -- the same state, ``state_dict``, param groups and LR schedulers --
whose ``step`` calls the same kernel, ``torch._fused_adam_``, with the same arguments when the
case is the plain one: every parameter a dense float32 CPU tensor, fused, without amsgrad,
maximize, capturable, differentiable, a closure or a gradient scaler. Anything else goes to
torch's own ``step``. ``tests/test_adam.py`` checks that both give bit-identical parameters
and state. The other methods torch wraps with ``torch._disable_dynamo`` (which only matters to
code compiled by torch.compile, and the loop's optimizer never is) are taken unwrapped, so a
run that steps on the CPU does not import torch._dynamo at all.

``torch._fused_adam_`` is private: the fast path is taken only once a probe has shown that the op
exists, takes the arguments given here and computes Adam's known first step
(``fused_adam_works``); anywhere else (another torch release, a build without it) every step is
torch's own. pyproject pins the torch releases this is tested with.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

_PLAIN = {"fused": True, "amsgrad": False, "maximize": False, "capturable": False,
          "differentiable": False, "decoupled_weight_decay": False}


_PROBED: dict[str, bool] = {}


def _fused_step(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, weight_decay, eps) -> None:
    torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=lr, beta1=beta1,
                       beta2=beta2, weight_decay=weight_decay, eps=eps, maximize=False, grad_scale=None,
                       found_inf=None)


def fused_adam_works() -> bool:
    """Whether ``torch._fused_adam_`` exists, accepts this module's call and gives Adam's first
    step on a known case (a parameter of 1 with gradient 0.5 and lr 0.1 moves to 0.9); probed
    once per process, on scratch tensors."""
    if "ok" not in _PROBED:
        try:
            p, g = torch.ones(4), torch.full((4,), 0.5)
            m, v, step = torch.zeros(4), torch.zeros(4), torch.ones(())
            _fused_step([p], [g], [m], [v], [step], 0.1, 0.9, 0.999, 0.0, 1e-8)
            _PROBED["ok"] = bool(torch.allclose(p, torch.full((4,), 0.9), atol=1e-6))
        except Exception:  # noqa: BLE001 -- missing op, another signature: torch's own step instead
            _PROBED["ok"] = False
    return _PROBED["ok"]


def _unwrapped(method):
    """The method without torch's ``_disable_dynamo`` wrapper (itself where it has none)."""
    return getattr(method, "__wrapped__", method)


class Adam(torch.optim.Adam):
    """``torch.optim.Adam`` whose plain fused CPU step skips torch's Python (see the module)."""

    add_param_group = _unwrapped(Optimizer.add_param_group)
    zero_grad = _unwrapped(Optimizer.zero_grad)
    state_dict = _unwrapped(Optimizer.state_dict)
    load_state_dict = _unwrapped(Optimizer.load_state_dict)

    def step(self, closure=None):
        if closure is not None or getattr(self, "grad_scale", None) is not None \
                or getattr(self, "found_inf", None) is not None or not fused_adam_works():
            return super().step(closure)
        groups = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(group.get(k, v) != v for k, v in _PLAIN.items()) or torch.is_tensor(group["lr"]) \
                    or not all(_plain(p) for p in params):
                return super().step(closure)
            groups.append((group, params))
        with torch.no_grad():
            for group, params in groups:
                states = [self._state(p) for p in params]
                steps = [s["step"] for s in states]
                torch._foreach_add_(steps, 1)
                beta1, beta2 = group["betas"]
                _fused_step(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                            [s["exp_avg_sq"] for s in states], steps, group["lr"], float(beta1),
                            float(beta2), group["weight_decay"], group["eps"])
        return None

    def _state(self, p: torch.Tensor) -> dict:
        """The parameter's Adam state, made on its first step as torch makes it."""
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state


def _plain(p: torch.Tensor) -> bool:
    """A float32 CPU parameter with a dense float32 gradient."""
    g = p.grad
    return (p.device.type == "cpu" and p.dtype == torch.float32 and g.dtype == torch.float32
            and g.layout == torch.strided)
