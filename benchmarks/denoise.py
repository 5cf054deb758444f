"""Denoising quality: PSNR and SSIM before and after, for each corruption, on MNIST and Fashion-MNIST.

For each data set and corruption: ``vaekit train --model ae --denoise SPEC`` (``--backbone``: conv
by default, or MLP 512; 32-d code; ``--epochs``), then ``vaekit evaluate RUN --denoise SPEC`` on
the whole official test split (each test image corrupted once, seed 0). The before/after grids
(clean / corrupted / denoised) are copied to benchmarks/figures/. Writes the `denoise` section of
RESULTS.md and denoise.json.

    python benchmarks/denoise.py
    python benchmarks/denoise.py --data mnist --corruptions gaussian:0.5 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import HERE, machine, publish

BIN = Path(sys.executable).parent
CORRUPTIONS = ["gaussian:0.5", "saltpepper:0.2", "erase:0.25", "watermark"]
FIGURES = HERE / "figures"


def run_one(data: str, spec: str, epochs: int, seed: int, backbone: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run([str(BIN / "vaekit"), "train", "--data", data, "--model", "ae", "--backbone", backbone,
                        "--hidden", "512", "--latent-dim", "32", "--denoise", spec, "--epochs", str(epochs),
                        "--seed", str(seed), "--out", str(run), "--no-progress"],
                       check=True, capture_output=True)
        subprocess.run([str(BIN / "vaekit"), "evaluate", str(run), "--denoise", spec, "--seed", str(seed)],
                       check=True, capture_output=True)
        result = json.loads((run / "eval.json").read_text())
        summary = json.loads((run / "summary.json").read_text())
        d = result["denoise"]
        grid = FIGURES / f"denoise_{data}_{spec.split(':')[0]}.png"
        FIGURES.mkdir(exist_ok=True)
        shutil.copy(d["grid"], grid)
    print(f"{data} {spec}: PSNR {d['noisy']['psnr']:.2f} -> {d['denoised']['psnr']:.2f} dB", flush=True)
    return {"noisy": d["noisy"], "denoised": d["denoised"], "gain_db": d["gain_db"],
            "clean_reconstruction": result["reconstruction"], "train_seconds": summary["train_seconds"],
            "grid": str(grid.relative_to(HERE)), "images": result["images"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--corruptions", nargs="+", default=CORRUPTIONS)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--backbone", default="conv", choices=["conv", "mlp"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = {"machine": machine(), "epochs": args.epochs, "seed": args.seed, "backbone": args.backbone,
               "data": {}}
    for data in args.data:
        results["data"][data] = {s: run_one(data, s, args.epochs, args.seed, args.backbone)
                                 for s in args.corruptions}
    publish("denoise", render(results), results)
    print((HERE / "RESULTS.md").read_text())


def render(results: dict) -> str:
    lines = [
        "## Denoising: PSNR / SSIM against the clean test images",
        "",
        f"`python benchmarks/denoise.py` on {results['machine']}. One AE per data set and corruption "
        f"({_net(results['backbone'])}, 32-d code, {results['epochs']} epochs, "
        f"`vaekit train --model ae --backbone {results['backbone']} --denoise SPEC`); "
        "`vaekit evaluate RUN --denoise SPEC` on the full official test split, each image corrupted "
        "once (seed 0). PSNR is per image, averaged. \"clean in\" is the same model's reconstruction "
        "of uncorrupted images: the ceiling a denoiser of this size reaches.",
        "",
        "| data | corruption | corrupted PSNR | denoised PSNR | gain | corrupted SSIM | denoised SSIM | "
        "clean in: PSNR | train s | grid |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for data, rows in results["data"].items():
        for spec, r in rows.items():
            lines.append(
                f"| {data} | `{spec}` | {r['noisy']['psnr']:.2f} | {r['denoised']['psnr']:.2f} | "
                f"{r['gain_db']:+.2f} dB | {r['noisy']['ssim']:.3f} | {r['denoised']['ssim']:.3f} | "
                f"{r['clean_reconstruction']['psnr']:.2f} | {r['train_seconds']:.0f} | [png]({r['grid']}) |")
    return "\n".join(lines)


def _net(backbone: str) -> str:
    return "conv blocks 32,64,64,64" if backbone == "conv" else "MLP 512"


if __name__ == "__main__":
    main()
