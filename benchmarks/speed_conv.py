"""Speed at the founding documents' own scale: the face VAE on 3x128x128 RGB images, vaekit
against the tutorial loop, side by side in alternating rounds on one machine.

  tutorial   benchmarks/tutorial_face_vae.py: per-item Dataset + DataLoader, NCHW, float32
  vaekit 32  `vaekit train --backbone conv ... --precision 32`: the same layers, loss (MSE sum +
             KL), optimizer (Adam, one-cycle to 1e-3), batch 64 and 5% validation
  vaekit     the same command with vaekit's default precision (auto: bf16 where the CPU
             computes it natively)

The data: a folder of CelebA-size (178x218) face-like JPEGs made from the ORL faces (resized,
tinted, shifted), ``--images`` of them. Each round runs the three in turn for ``--epochs``
epochs; the steady epoch is the median of every epoch after each run's first. Peak memory is
each process's maximum resident set (``wait4``). The floor: FLOPs of one training step
(``torch.utils.flop_counter``) x steps per epoch / the conv rate measured here (a 64->64 3x3
convolution at 32x32, forward + backward, channels_last).

    python benchmarks/speed_conv.py                    # 1,764 images, 3 rounds of 3 epochs
    python benchmarks/speed_conv.py --rounds 1 --epochs 2 --images 600
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import HERE, machine, peak_rss, publish
from PIL import Image

BIN = Path(sys.executable).parent
SETTINGS = ["--backbone", "conv", "--image-size", "128", "--image-channels", "3", "--latent-dim", "500",
            "--channels", "32,64,64,64", "--batch-size", "64", "--lr", "1e-3", "--lr-schedule",
            "onecycle", "--loss", "mse", "--val-fraction", "0.05", "--test-fraction", "0.002",
            "--no-progress"]


def build_faces(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` CelebA-size (178 wide, 218 tall) RGB JPEGs made from the 400 ORL faces: each resized
    with a random scale, tinted by a random colour, shifted by up to 12 pixels."""
    from vaekit.datasets import load

    faces = load("orl-faces").train.images  # (400, 1, 112, 92) uint8
    faces = np.asarray(faces)[:, 0]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(celeba_like(faces[i % len(faces)], rng)).save(folder / f"{i:06d}.jpg", quality=90)
    return folder


def celeba_like(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One ORL face (112, 92) uint8 as a CelebA-size RGB picture (218, 178, 3): resized by a random
    scale, tinted by a random skin-like colour, shifted by up to 12 pixels on a plain background."""
    scale = rng.uniform(1.9, 2.3)
    size = (int(92 * scale), int(112 * scale))
    big = np.asarray(Image.fromarray(grey).resize(size, Image.Resampling.BILINEAR), np.float32)
    tint = rng.uniform(0.6, 1.0, 3) * np.array([1.0, 0.85, 0.75])  # skin-like, varied
    rgb = np.clip(big[..., None] * tint + rng.uniform(-15, 15), 0, 255).astype(np.uint8)
    canvas = np.full((218, 178, 3), rng.integers(40, 200, 3), np.uint8)
    h, w = min(218, rgb.shape[0]), min(178, rgb.shape[1])
    dy = int(np.clip((218 - h) // 2 + rng.integers(-12, 13), 0, 218 - h))
    dx = int(np.clip((178 - w) // 2 + rng.integers(-12, 13), 0, 178 - w))
    canvas[dy : dy + h, dx : dx + w] = rgb[:h, :w]
    return canvas


def run_tutorial(folder: Path, epochs: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        peak = peak_rss([sys.executable, str(HERE / "tutorial_face_vae.py"), "--folder", str(folder),
                         "--epochs", str(epochs), "--seed", str(seed), "--out", str(out)])
        r = json.loads(out.read_text())
    return {"epoch_seconds": r["epoch_seconds"], "val_loss": r["val_loss"][-1], "peak_rss": peak}


def run_vaekit(folder: Path, epochs: int, seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        peak = peak_rss([str(BIN / "vaekit"), "train", "--data", str(folder), *SETTINGS,
                         "--epochs", str(epochs), "--seed", str(seed), "--out", str(run), *extra])
        with open(run / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        summary = json.loads((run / "summary.json").read_text())
    return {"epoch_seconds": [float(r["epoch_seconds"]) for r in rows],
            "val_loss": float(rows[-1]["val_loss"]), "peak_rss": peak, "precision": summary["precision"]}


def floor(train_images: int) -> dict:
    """FLOPs of a training step of the face VAE, and the seconds per epoch at the conv rate
    measured here, in float32 and bfloat16."""
    from torch.utils.flop_counter import FlopCounterMode

    from vaekit.models import build_model

    model = build_model(model="vae", backbone="conv", image_shape=(3, 128, 128), latent_dim=500,
                        channels=[32, 64, 64, 64])
    x = torch.rand(64, 3, 128, 128)
    with FlopCounterMode(display=False) as counter:
        logits, _, _ = model(x)  # logits (1, B, C, H, W): one code per image
        torch.nn.functional.mse_loss(torch.sigmoid(logits[0]), x, reduction="sum").backward()
    step_flops = counter.get_total_flops()
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    inp = torch.rand(64, 64, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
    with FlopCounterMode(display=False) as counter:
        conv(inp).sum().backward()
    conv_flops = counter.get_total_flops()
    rates = {}
    for name, dtype in (("32", torch.float32), ("bf16", torch.bfloat16)):  # native, no casts
        layer, data = conv.to(dtype), inp.detach().to(dtype).requires_grad_()
        for _ in range(3):
            layer(data).sum().backward()
        t0, n = time.perf_counter(), 10
        for _ in range(n):
            layer(data).sum().backward()
        rates[name] = conv_flops * n / (time.perf_counter() - t0)
    steps = -(-train_images // 64)
    return {"step_gflops": step_flops / 1e9, "conv_gflops_per_s": {k: v / 1e9 for k, v in rates.items()},
            "floor_s_per_epoch": {k: steps * step_flops / v for k, v in rates.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1764)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--no-publish", action="store_true", help="print the table only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_faces(Path(tmp) / "faces", args.images)
        # the folder's decoded cache is made once, outside the timed runs
        run_vaekit(folder, 1, 0, ["--precision", "32"])
        results: dict[str, list[dict]] = {"tutorial": [], "vaekit 32": [], "vaekit": []}
        for r in range(args.rounds):
            for name in results:  # alternating: one of each per round
                if name == "tutorial":
                    results[name].append(run_tutorial(folder, args.epochs, r))
                else:
                    extra = ["--precision", "32"] if name == "vaekit 32" else []
                    results[name].append(run_vaekit(folder, args.epochs, r, extra))
                last = results[name][-1]
                print(f"round {r + 1} {name}: {[round(s, 2) for s in last['epoch_seconds']]} s/epoch, "
                      f"peak {last['peak_rss'] / 2**30:.2f} GiB", flush=True)
    n_val = round(0.05 * args.images)
    fl = floor(args.images - n_val)
    rows = {}
    for name, runs in results.items():
        # steady epochs: each run's after its first (all of them when runs have one epoch)
        steady = [s for r in runs for s in r["epoch_seconds"][1:]]
        steady = steady or [s for r in runs for s in r["epoch_seconds"]]
        rows[name] = {"s_per_epoch": statistics.median(steady),
                      "peak_rss_gib": max(r["peak_rss"] for r in runs) / 2**30,
                      "val_loss": statistics.mean(r["val_loss"] for r in runs), "runs": runs}
    base = rows["tutorial"]["s_per_epoch"]
    lines = [f"Face VAE at the seeds' scale: 3x128x128 RGB, conv 32-64-64-64, latent 500, batch 64, "
             f"{args.images:,} CelebA-size JPEGs made from the ORL faces; {args.rounds} alternating rounds "
             f"of "
             f"{args.epochs} epochs; steady epoch = median of every epoch after each run's first. "
             f"`python benchmarks/speed_conv.py` on {machine()}.", "",
             "| | s/epoch | vs tutorial | peak RSS | val loss (per image) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['s_per_epoch']:.2f} | {base / row['s_per_epoch']:.2f}x | "
                     f"{row['peak_rss_gib']:.2f} GiB | {row['val_loss']:.1f} |")
    lines += ["", f"Floor: a training step is {fl['step_gflops']:.1f} GFLOP; the conv rate measured here is "
              f"{fl['conv_gflops_per_s']['32']:.0f} GFLOP/s in float32 and "
              f"{fl['conv_gflops_per_s']['bf16']:.0f} in bfloat16, so an epoch cannot take less than "
              f"{fl['floor_s_per_epoch']['32']:.1f} s (float32) / "
              f"{fl['floor_s_per_epoch']['bf16']:.1f} s (bf16)."]
    table = "\n".join(lines)
    print(table)
    if not args.no_publish:
        publish("speed_conv", "## Training speed at 128x128: the face VAE\n\n" + table,
                {"args": vars(args), "rows": rows, "floor": fl, "machine": machine()})


if __name__ == "__main__":
    main()
