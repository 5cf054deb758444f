"""The margins of the suite's learned-outcome tests, over seeds and both numeric paths.

A test that asserts what training learned must hold on every CPU: bf16 autocast where the CPU
multiplies bfloat16 natively, float32 where it does not (AVX2 only, or ``VAEKIT_FLOAT32=1``).
This script reruns the budgets of those tests at several seeds, on both paths, and prints each
asserted statistic with its threshold, so the margin written beside each threshold is a measured
range, not one lucky run.

    python benchmarks/margins.py                  # 5 seeds x {auto, float32}: about 10 minutes
    python benchmarks/margins.py --seeds 0 1 --paths float32

Measured cases (``tests/`` name the same budgets):
- ``pair``: `vaekit compare --data mnist --latent-dim 2 --epochs 6` (conftest's ``mnist_pair``):
  the statistics of test_compare's 6-epoch lesson and test_serve_browser's far-from-the-AE check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import publish  # noqa: E402

from vaekit.device import FLOAT32_ENV  # noqa: E402

PATHS = {"auto": {}, "float32": {FLOAT32_ENV: "1"}}


def far_points(ae_codes: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` points of a grid over the prior's 2-sigma disc farthest from every AE code
    (the points the browser test puts the pointer on)."""
    axis = np.linspace(-2, 2, 41)
    grid = np.array([(x, y) for x in axis for y in axis if x * x + y * y <= 4])
    gap = np.sqrt(((grid[:, None] - ae_codes[None]) ** 2).sum(-1)).min(1)
    return grid[np.argsort(-gap)[:n]]


def lesson(folder: Path) -> dict:
    """What the page shows far from the AE's codes: the share of decodes the reference
    classifier reads as one digit (>= 95% sure), for the 16 and the 64 farthest points, and the
    classifier's mean top probability there."""
    from vaekit.classifier import reference_classifier
    from vaekit.inference import encode_spread
    from vaekit.run import Run

    runs = {name: Run.open(folder / name) for name in ("ae", "vae")}
    test = runs["ae"].splits.test
    codes, _ = encode_spread(runs["ae"].model.eval(), test)
    keep = torch.randperm(len(codes), generator=torch.Generator().manual_seed(0))[:2000]  # the page's scatter
    clf = reference_classifier(runs["vae"].data, runs["vae"].splits.train, runs["vae"].splits.test)
    out = {}
    for n in (16, 64):
        z = torch.from_numpy(far_points(codes[keep].numpy(), n)).float()
        for name, run in runs.items():
            with torch.inference_mode():
                img = run.model.eval().decode(z).clamp(0, 1).mul(255).round().div(255)  # as the PNG holds it
            top = clf.probabilities(img).max(1).values
            out[f"{name}_sure_{n}"] = float((top >= 0.95).float().mean())
            out[f"{name}_top_{n}"] = float(top.mean())
    return out


def pair(seed: int, env: dict, work: Path) -> dict:
    out = work / f"pair-{seed}-{'f32' if env else 'auto'}"
    subprocess.run(["vaekit", "compare", "--data", "mnist", "--latent-dim", "2", "--epochs", "6",
                    "--seed", str(seed), "--out", str(out), "--no-progress"], check=True,
                   env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = json.loads((out / "compare.json").read_text())
    ae, vae = result["models"]["AE"], result["models"]["VAE"]
    saved = os.environ.get(FLOAT32_ENV)
    os.environ.update(env)
    try:
        shown = lesson(out)
    finally:
        os.environ.pop(FLOAT32_ENV, None)
        if saved is not None:
            os.environ[FLOAT32_ENV] = saved
    return {"classifier_accuracy": result["classifier"]["test_accuracy"],
            "frechet_ratio": vae["frechet_prior"] / ae["frechet_prior"],
            "effective_classes": [vae["effective_classes_prior"], ae["effective_classes_prior"]],
            "within_3sigma": [vae["latent"]["within_3sigma"], ae["latent"]["within_3sigma"]],
            "max_abs_ratio": ae["latent"]["max_abs"] / vae["latent"]["max_abs"], **shown}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    ap.add_argument("--no-publish", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--rows", type=Path, help="publish the JSON lines an earlier --no-publish run printed")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.rows.read_text().splitlines()] if args.rows else []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds if not args.rows else []:
            for path in args.paths:
                row = {"case": "pair", "seed": seed, "path": path, **pair(seed, PATHS[path], Path(tmp))}
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.no_publish:
        return
    from vaekit.device import cpu_info

    lines = ["| path | seed | Fréchet VAE/AE | within 3σ VAE / AE | max ratio | far-16 sure VAE / AE "
             "| far-64 sure VAE / AE | far-64 top-p VAE / AE |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['path']} | {r['seed']} | {r['frechet_ratio']:.2f} | "
                     f"{r['within_3sigma'][0]:.2f} / "
                     f"{r['within_3sigma'][1]:.2f} | {r['max_abs_ratio']:.1f} | {r['vae_sure_16']:.2f} / "
                     f"{r['ae_sure_16']:.2f} | {r['vae_sure_64']:.2f} / {r['ae_sure_64']:.2f} | "
                     f"{r['vae_top_64']:.2f} / {r['ae_top_64']:.2f} |")
    cpu = cpu_info()
    publish("margins", f"`python benchmarks/margins.py` on {cpu['model']} ({', '.join(cpu['flags'])}); "
            "the 6-epoch MNIST AE/VAE pair of the suite, per seed and numeric path\n\n" + "\n".join(lines),
            {"rows": rows})


if __name__ == "__main__":
    main()
