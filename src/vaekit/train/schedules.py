"""Learning-rate schedules, stepped once per optimizer update."""

from __future__ import annotations

import bisect

import torch

IWAE_STAGES = 8  # i = 0..7
MIN_ONECYCLE_STEPS = 8


def iwae_factor(total_steps: int):
    """The IWAE paper's schedule as a function step -> lr multiplier.

    Burda et al. train stage i = 0..7 for 3^i epochs at lr 1e-3 * 10^(-i/7): 3,280 epochs in
    all. Stage lengths here are the same shares of ``total_steps``, so a run of 3,280 epochs gets
    the paper's schedule exactly and a shorter run the same shape compressed.
    """
    weights = [3**i for i in range(IWAE_STAGES)]
    ends, acc = [], 0
    for w in weights:
        acc += w
        ends.append(round(total_steps * acc / sum(weights)))

    def factor(step: int) -> float:
        stage = min(bisect.bisect_right(ends, step), IWAE_STAGES - 1)
        return 10.0 ** (-stage / 7)

    return factor


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, peak_lr: float, total_steps: int):
    """The scheduler for ``kind``: onecycle, constant or iwae (see ``TrainConfig.lr_schedule``)."""
    if kind == "onecycle":
        # fastai's fit_one_cycle: warm up for a quarter of training, then cosine down;
        # Adam's beta1 cycles 0.95 -> 0.85 -> 0.95 against the learning rate. Each phase needs a
        # step of its own (PyTorch divides by the phase length), so a run of a handful of updates
        # (a few images) follows the first steps of an 8-step cycle.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peak_lr, total_steps=max(total_steps, MIN_ONECYCLE_STEPS), pct_start=0.25,
            div_factor=25.0,
            final_div_factor=1e5)
    if kind == "iwae":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, iwae_factor(total_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
