"""Memory when the data does not fit: training reads a memory-mapped cache batch by batch, and
its peak memory stays flat however large the cache grows.

A folder of N images (64x64 RGB PNGs made from the ORL faces) is decoded once into vaekit's
cache; then `vaekit train` runs 2 epochs of the MLP VAE on it twice: with the data held in RAM
(the default when it fits) and with ``VAEKIT_RAM_BUDGET=1`` (the path a data set larger than RAM
takes). Peak resident memory is each process's maximum (``wait4``), for several N.

    python benchmarks/memory.py                      # N = 2,500, 10,000, 40,000
    python benchmarks/memory.py --sizes 1000,4000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from _results import machine, peak_rss, publish
from PIL import Image

BIN = Path(sys.executable).parent
SETTINGS = ["--image-size", "64", "--image-channels", "3", "--hidden", "256", "--latent-dim", "16",
            "--batch-size", "128", "--epochs", "2", "--no-progress"]


def build_folder(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` 64x64 RGB PNGs: ORL faces, each tinted and shifted at random."""
    from vaekit.datasets import load

    faces = np.asarray(load("orl-faces").train.images)[:, 0]  # (400, 112, 92)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        face = np.asarray(Image.fromarray(faces[i % len(faces)]).resize((64, 64)), np.float32)
        face = np.roll(face, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
        rgb = np.clip(face[..., None] * rng.uniform(0.6, 1.0, 3), 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{i:06d}.png", compress_level=1)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2500,10000,40000")
    ap.add_argument("--no-publish", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"VAEKIT_DATA": str(Path(tmp) / "cache")}
        for n in (int(s) for s in args.sizes.split(",")):
            folder = build_folder(Path(tmp) / f"faces-{n}", n)
            train = [str(BIN / "vaekit"), "train", "--data", str(folder), *SETTINGS]
            peak_rss(train + ["--epochs", "1", "--out", str(Path(tmp) / f"decode-{n}")], env)  # the cache
            cache = next((m.parent / "images.npy").stat().st_size
                         for m in (Path(tmp) / "cache" / "folders").glob("*/meta.json")
                         if json.loads(m.read_text())["root"] == str(folder.resolve()))
            ram = peak_rss(train + ["--out", str(Path(tmp) / f"ram-{n}")], env)
            mapped = peak_rss(train + ["--out", str(Path(tmp) / f"mapped-{n}")],
                              {**env, "VAEKIT_RAM_BUDGET": "1"})
            rows.append({"images": n, "cache_bytes": cache, "peak_in_ram": ram, "peak_mapped": mapped})
            print(rows[-1], flush=True)
    mib = 2**20
    lines = ["Peak memory of `vaekit train` (MLP VAE, 64x64 RGB, 2 epochs) as the decoded cache grows: data "
             "held in RAM, and read from the memory-mapped cache (`VAEKIT_RAM_BUDGET=1`, the path a data set "
             f"larger than RAM takes). `python benchmarks/memory.py` on {machine()}.", "",
             "| images | cache | peak, data in RAM | peak, memory-mapped |", "| ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['images']:,} | {r['cache_bytes'] / mib:.0f} MiB | "
                     f"{r['peak_in_ram'] / mib:.0f} MiB | {r['peak_mapped'] / mib:.0f} MiB |")
    table = "\n".join(lines)
    print(table)
    if not args.no_publish:
        publish("memory", "## Memory: data larger than RAM\n\n" + table, {"rows": rows, "machine": machine()})


if __name__ == "__main__":
    main()
