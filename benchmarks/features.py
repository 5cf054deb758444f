"""Clustering and linear probes on VAE features vs PCA with as many dimensions (`vaekit cluster`).

For each data set and latent size D: `vaekit train --data DATA --latent-dim D` (vaekit's default
VAE, MLP 400, 10 epochs), then `vaekit cluster RUN --k 10`: k-means on the official test split's
posterior means vs on PCA coefficients (fitted on 20,000 training images), NMI and ARI against the
labels, and a logistic-regression probe's test accuracy. Writes the `features` section of
RESULTS.md and features.json.

    python benchmarks/features.py
    python benchmarks/features.py --data mnist --dims 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import HERE, machine, publish

BIN = Path(sys.executable).parent


def study(data: str, dim: int, epochs: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run([str(BIN / "vaekit"), "train", "--data", data, "--latent-dim", str(dim), "--epochs",
                        str(epochs), "--seed", str(seed), "--out", str(run), "--no-progress"],
                       check=True, capture_output=True)
        subprocess.run([str(BIN / "vaekit"), "cluster", str(run), "--k", "10", "--seed", str(seed)],
                       check=True, capture_output=True)
        result = json.loads((run / "cluster.json").read_text())
    print(data, dim, result, flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--dims", nargs="+", type=int, default=[2, 10, 20])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = {"machine": machine(), "epochs": args.epochs, "seed": args.seed, "data": {}}
    for data in args.data:
        results["data"][data] = {str(k): study(data, k, args.epochs, args.seed) for k in args.dims}
    publish("features", render(results), results)
    print((HERE / "RESULTS.md").read_text())


def render(results: dict) -> str:
    lines = [
        "## Features: k-means and a linear probe, VAE posterior means vs PCA",
        "",
        f"`python benchmarks/features.py` on {results['machine']}. vaekit's default VAE (MLP 400, "
        f"{results['epochs']} epochs, seed {results['seed']}) with latent size D; `vaekit cluster RUN "
        "--k 10`: k-means (10 restarts) on the official test split, NMI/ARI against the labels; probe = "
        "logistic regression on standardised features of 20,000 training images, test accuracy. PCA "
        "with D components fitted on the same training images.",
        "",
        "| data | D | VAE NMI | PCA NMI | NMI gain | VAE ARI | PCA ARI | VAE probe | PCA probe |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for data, rows in results["data"].items():
        for dim, r in rows.items():
            v, p = r["vae"], r["pca"]
            lines.append(f"| {data} | {dim} | {v['nmi']:.3f} | {p['nmi']:.3f} | {v['nmi'] - p['nmi']:+.3f} | "
                         f"{v['ari']:.3f} | {p['ari']:.3f} | {v['probe_accuracy']:.3f} | "
                         f"{p['probe_accuracy']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
