"""Speed on the disentanglement literature's network: vaekit's training step against a plain
PyTorch loop of the same VAE, side by side in alternating rounds on one machine.

The network (disentanglement_lib's convolutional VAE): four 4x4 stride-2 convolutions of 32, 32,
64, 64 channels with ReLU, 256 units, 10 latents, a decoder of two dense layers and four 4x4
stride-2 transposed convolutions; Bernoulli likelihood (BCE summed over pixels) + KL, Adam at
1e-4, batch 64, on 64x64 images of the dsprites-like grid (``--images`` of them, drawn at random).

  loop 32          the plain loop: NCHW, float32
  loop bf16        the same under bf16 autocast
  loop bf16 NHWC   the same with model and batches in channels_last
  vaekit 32        `vaekit train --backbone dlib --channels 32,32,64,64 ...` with --precision 32
  vaekit           the same at vaekit's default precision (auto: bf16 where the CPU computes it
                   natively)

Each system runs in a process of its own (one at a time, in turn, ``--rounds`` times). A loop's
step time is the median over blocks of 10 steps after 20 warm-up steps; vaekit's is its steady
epoch (the median of every epoch after the first, validation included) over its steps, in a
process set up as the `vaekit` command sets up its own (the C allocator keeps freed blocks).

    python benchmarks/speed_dlib.py                       # 3 rounds
    python benchmarks/speed_dlib.py --rounds 1 --images 3200
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _results import machine, publish
from torch import nn

SYSTEMS = ("loop 32", "loop bf16", "loop bf16 NHWC", "vaekit 32", "vaekit")
BATCH, LATENT = 64, 10


def images(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` random images of the 64x64 dsprites-like grid: (n, 1, 64, 64) uint8, 0 or 255."""
    from vaekit.datasets.factors import FACTOR_SETS

    grid = FACTOR_SETS["dsprites-like"]
    return torch.from_numpy(grid.images(grid.sample_factors(n, np.random.default_rng(seed))))


class LoopVAE(nn.Module):
    """The network as a user writes it from the paper, in plain layers."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 2 * LATENT))
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(), nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


def loop(system: str, data: torch.Tensor, steps: int) -> float:
    """The plain loop's milliseconds per step."""
    torch.manual_seed(0)
    model = LoopVAE()
    nhwc = system.endswith("NHWC")
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    bf16 = "bf16" in system
    order = torch.randperm(len(data))
    times = []
    for step in range(20 + steps):
        if step >= 20 and step % 10 == 0:
            times.append(time.perf_counter())
        i = order[(step * BATCH) % (len(data) - BATCH):][:BATCH]
        x = data[i].float() / 255
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, mu, logvar = model(x)
        recon = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / BATCH
        kl = 0.5 * (mu.float() ** 2 + logvar.float().exp() - logvar.float() - 1).sum() / BATCH
        loss = recon + kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    times.append(time.perf_counter())
    return 1000 * statistics.median(b - a for a, b in zip(times, times[1:], strict=False)) / 10


def vaekit(system: str, data: torch.Tensor, epochs: int) -> float:
    """vaekit's milliseconds per step: its steady epoch over the epoch's steps."""
    from vaekit.datasets import Dataset, ImageSet
    from vaekit.run import Run
    from vaekit.run.data import ARRAY_DATA
    from vaekit.train.device import keep_freed_memory
    from vaekit.train.loop import fit

    # as the `vaekit` command sets up its process (cli/commands.py main), which this in-memory
    # data set cannot go through: freed blocks kept for reuse rather than unmapped
    keep_freed_memory()

    sprites = Dataset("dsprites-like-sample", ImageSet(data), ImageSet(data[:BATCH]))
    with tempfile.TemporaryDirectory() as tmp:
        run = fit(dataset=sprites, data=ARRAY_DATA, backbone="dlib", channels=[32, 32, 64, 64],
                  latent_dim=LATENT, loss="bce", lr=1e-4, lr_schedule="constant", batch_size=BATCH,
                  epochs=epochs, val_fraction=0.01, seed=0, progress=False, out=str(Path(tmp) / "run"),
                  precision="32" if system == "vaekit 32" else "auto")
        run = Run(run)
        metrics = run.metrics
        seconds = [row[metrics["columns"].index("epoch_seconds")] for row in metrics["rows"]]
        steps = math.ceil(run.config["data"]["train"] / BATCH)
    return 1000 * statistics.median(seconds[1:]) / steps


def one(system: str, n: int, steps: int) -> float:
    torch.set_num_threads(2)
    data = images(n)
    if system.startswith("loop"):
        return loop(system, data, steps)
    return vaekit(system, data, epochs=max(3, math.ceil(3 * steps * BATCH / n)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=6400, help="training images (vaekit: 1%% held out)")
    ap.add_argument("--steps", type=int, default=100, help="timed steps of a loop")
    ap.add_argument("--one", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps({"ms": one(args.one, args.images, args.steps)}))
        return
    ms: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    for r in range(args.rounds):
        for s in SYSTEMS:
            out = subprocess.run([sys.executable, __file__, "--one", s, "--images", str(args.images),
                                  "--steps", str(args.steps)], check=True, capture_output=True, text=True)
            ms[s].append(json.loads(out.stdout.strip().splitlines()[-1])["ms"])
            print(f"round {r + 1}: {s}: {ms[s][-1]:.1f} ms a step", flush=True)
    publish("speed_dlib", render(ms, args), {"ms_per_step": ms, "images": args.images, "rounds": args.rounds,
                                             "machine": machine()})


def render(ms: dict[str, list[float]], args) -> str:
    med = {s: statistics.median(v) for s, v in ms.items()}
    lines = ["## Training speed on the disentanglement literature's network", "",
             f"disentanglement_lib's convolutional VAE (4x4 stride-2 convolutions of 32, 32, 64, 64, 256 "
             f"units, 10 latents, transposed-convolution decoder), Bernoulli + KL, Adam 1e-4, batch 64, "
             f"on {args.images:,} 64x64 dsprites-like images; {args.rounds} alternating rounds, each "
             f"system in a process of its own. `python benchmarks/speed_dlib.py` on {machine()}.", "",
             "| system | ms a step, median (range) | vaekit (default precision) is faster by | "
             "by the fastest rounds |",
             "| --- | --- | --- | --- |"]
    for s in SYSTEMS:
        lines.append(f"| {s} | {med[s]:.1f} ({min(ms[s]):.1f}-{max(ms[s]):.1f}) | "
                     f"{med[s] / med['vaekit']:.2f}x | {min(ms[s]) / min(ms['vaekit']):.2f}x |")
    lines += ["", "A process on a shared machine can run all its steps slower than its neighbours (a "
              "busy host); the fastest rounds compare the systems where none was slowed."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
