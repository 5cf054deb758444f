"""The model zoo leaderboard: every vaekit model beside pythae 0.1.2's implementation of it.

Same networks for both (MLP 784-400-16, ReLU, latent size 16), same budget (Adam, learning rate
1e-3 constant, batch 128, --epochs passes over the training images), same data (the official
train / test split; vaekit holds 2% of the training images out for validation). Both sides are
scored here, by one function, with vaekit's reference classifier for the data set:

- test reconstruction MSE (per pixel) and PSNR (per image, averaged), on the 10,000 test images;
- Fréchet distance of 10,000 prior samples and of 10,000 samples from a 10-component Gaussian
  mixture fitted to the training codes, in the classifier's 128-d features, against the test
  images (prior: N(0, I); VampPrior: its mixture; VQ-VAE: its PixelCNN, fitted for --epochs);
- IS-NLL: -log p(x) by importance sampling with k = 1000 on the first --nll-images test images,
  for the models with a likelihood (grey pixels under the Bernoulli decoder, as both libraries
  compute it);
- active units (Cov_x E[z|x] > 0.01) and seconds per training epoch (pythae: its trainer's epoch;
  vaekit: the epoch's training steps, as metrics.csv records them).

pythae runs in its own environment (benchmarks/.venv-pythae, made on first use; see speed.py)
through zoo_pythae.py. Results accumulate in zoo.json: a (data, model, system, seed) already
there is not run again, so more seeds can be added later.

    python benchmarks/zoo.py                       # every model, MNIST and Fashion-MNIST, seed 0
    python benchmarks/zoo.py --seeds 1 2 --models vae vamp --data mnist
    python benchmarks/zoo.py --render              # rewrite the table from zoo.json
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import HERE, machine, publish
from speed import pythae_python

import vaekit
from vaekit.datasets import fetch_builtin, to_float
from vaekit.models.inference import encode, reconstruct
from vaekit.run import Run
from vaekit.tasks.classifier import reference_classifier
from vaekit.tasks.likelihood import log_likelihood
from vaekit.tasks.metrics import psnr
from vaekit.tasks.train_prior import train_prior

SAMPLES = 10_000
# name -> (vaekit settings, in pythae, what it is)
MODELS: dict[str, tuple[dict, bool, str]] = {
    "vae": ({}, True, "VAE, ELBO"),
    "beta-vae": ({"beta": 4.0}, True, "β-VAE, β = 4"),
    "iwae": ({"objective": "iwae", "k": 5}, True, "IWAE bound, k = 5"),
    "two-layer": (
        {"prior": "two-layer", "objective": "iwae", "k": 5},
        False,
        "two stochastic layers (16 + 8), IWAE k = 5",
    ),
    "tcvae": ({"objective": "tcvae"}, True, "β-TCVAE, TC weight 6"),
    "mmd-vae": ({"objective": "mmd", "beta": 0.0}, True, "MMD-VAE (InfoVAE), IMQ kernel, weight 1000"),
    "vamp": ({"prior": "vamp"}, True, "VampPrior, 500 pseudo-inputs"),
    "ae": ({"model": "ae", "loss": "mse"}, True, "AE, squared error"),
    "wae": ({"model": "ae", "objective": "mmd", "loss": "mse"}, True, "WAE-MMD, IMQ kernel, weight 1000"),
    "rae": ({"model": "ae", "objective": "rae", "loss": "mse"}, True, "RAE-L2, GMM sampler"),
    "vqvae": ({"model": "vqvae", "loss": "mse"}, True, "VQ-VAE, 16 codes of 512, PixelCNN prior"),
}


def score(
    clf,
    reference,
    test: torch.Tensor,
    recon: torch.Tensor,
    prior: torch.Tensor | None,
    gmm: torch.Tensor,
    means: torch.Tensor,
    nll: float | None,
    epoch_seconds: list[float],
    extra: dict,
) -> dict:
    """The leaderboard's columns from what a system produced. Images (N, 1, 28, 28) in [0, 1]."""
    out = {
        "mse": float((recon.double() - test.double()).pow(2).mean()),
        "psnr": float(psnr(recon, test, min_mse=1e-10).mean()),
        "active_units": int((means.double().var(0) > 0.01).sum()),
        "s_per_epoch": statistics.mean(epoch_seconds),
        "nll": nll,
        **extra,
    }
    for name, images in (("prior", prior), ("gmm", gmm)):
        if images is not None:
            judged = clf.judge(reference, images.float().clamp(0, 1))
            out[f"fd_{name}"], out[f"confidence_{name}"] = judged["frechet"], judged["confidence"]
    return out


def run_vaekit(
    data: str, name: str, seed: int, epochs: int, nll_images: int, tmp: Path, clf_box: dict
) -> dict:
    settings, _, _ = MODELS[name]
    out = tmp / f"vaekit-{name}"
    run = Run.open(
        vaekit.fit(
            data=data,
            out=str(out),
            seed=seed,
            epochs=epochs,
            latent_dim=16,
            hidden=[400],
            batch_size=128,
            lr=1e-3,
            lr_schedule="constant",
            progress=False,
            **settings,
        )
    )
    extra = {}
    if name == "vqvae":
        started = time.perf_counter()
        extra["prior_bits"] = train_prior(run, epochs=epochs, seed=seed, progress=False)[
            "test_bits_per_image"
        ]
        extra["prior_fit_seconds"] = time.perf_counter() - started
        run = Run.open(run.path)  # the weights now hold the fitted PixelCNN
    model = run.model
    test = clf_box["test"]
    assert torch.equal(test, to_float(run.splits.test.all_images()))  # the same images for both
    with open(run.path / "metrics.csv") as f:
        seconds = [float(r["epoch_seconds"]) for r in csv.DictReader(f)]
    nll = None
    if model.variational:
        nll = float(-log_likelihood(model, test[:nll_images], k=1000, seed=seed, progress=False).mean())
    return score(
        clf_box["clf"],
        clf_box["reference"],
        test,
        reconstruct(model, test),
        run.sample(SAMPLES, "prior", seed),
        run.sample(SAMPLES, "gmm", seed, components=10),
        encode(model, test)[0],
        nll,
        seconds,
        extra,
    )


def run_pythae(
    data: str, name: str, seed: int, epochs: int, nll_images: int, tmp: Path, clf_box: dict
) -> dict:
    npz = tmp / f"pythae-{name}.npz"
    proc = subprocess.run(
        [
            str(pythae_python()),
            str(HERE / "zoo_pythae.py"),
            "--data-dir",
            str(fetch_builtin(data)),
            "--model",
            name,
            "--epochs",
            str(epochs),
            "--prior-epochs",
            str(epochs),
            "--seed",
            str(seed),
            "--nll-images",
            str(nll_images),
            "--out",
            str(npz),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pythae {name} failed:\n{proc.stderr[-3000:]}")
    z = np.load(npz)

    def images(key):
        return torch.from_numpy(z[key]).float().view(-1, 1, 28, 28)

    test = clf_box["test"]
    extra = {k: float(z[k]) for k in ("prior_fit_seconds",) if k in z.files}
    return score(
        clf_box["clf"],
        clf_box["reference"],
        test,
        images("recon"),
        images("prior"),
        images("gmm"),
        torch.from_numpy(z["means"]),
        float(-z["nll"][0]) if "nll" in z.files else None,
        z["epoch_seconds"].tolist(),
        extra,
    )


def _mean_sd(values: list[float], digits: int | None = None) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.mean(values)
    if digits is None:
        digits = 4 if abs(m) < 0.1 else (2 if abs(m) < 10 else 1)
    text = f"{m:.{digits}f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.{digits}f}"
    return text


def figure(results: dict, path: Path) -> None:
    """Fréchet distance of prior and mixture samples, both libraries, one panel per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results["data"])
    fig, axes = plt.subplots(len(sets), 1, figsize=(10, 3.6 * len(sets)), squeeze=False)
    for ax, data in zip(axes[:, 0], sets, strict=True):
        models = [m for m in MODELS if m in results["data"][data]]
        width = 0.2
        for i, (system, sampler, color) in enumerate(
            (
                ("vaekit", "prior", "tab:blue"),
                ("pythae", "prior", "tab:orange"),
                ("vaekit", "gmm", "lightsteelblue"),
                ("pythae", "gmm", "navajowhite"),
            )
        ):
            means, errs = [], []
            for m in models:
                xs = [
                    r[f"fd_{sampler}"]
                    for r in results["data"][data][m].get(system, {}).values()
                    if f"fd_{sampler}" in r
                ]
                means.append(statistics.mean(xs) if xs else float("nan"))
                errs.append(statistics.stdev(xs) if len(xs) > 1 else 0.0)
            ax.bar(
                [j + (i - 1.5) * width for j in range(len(models))],
                means,
                width,
                yerr=errs,
                color=color,
                label=f"{system}, {sampler} samples",
            )
        ax.set_xticks(range(len(models)), models)
        ax.set_yscale("log")
        ax.set_ylabel("Fréchet distance (log scale)")
        ax.set_title(f"{data}: samples against the test images, lower is better")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncol=4)
    path.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(results: dict) -> str:
    lines = [
        "## The model zoo beside pythae (`benchmarks/zoo.py`)",
        "",
        f"Machine: {results['machine']}. Every model with the same MLP (784-400-16, ReLU), latent size 16, "
        f"{results['epochs']} epochs of Adam at 1e-3 (constant), batch 128, in both libraries; vaekit at its "
        "default precision (bfloat16 products where the CPU has them), pythae in float32. FD: Fréchet "
        "distance of 10,000 samples to the test images in the reference classifier's features (lower is "
        "better); prior: the model's own sampler (N(0, I); the VampPrior's mixture; the VQ-VAE's PixelCNN, "
        f"fitted for {results['epochs']} epochs); GMM: a 10-component mixture fitted to the training codes. "
        f"IS-NLL: k = 1000, nats, on the first {results['nll_images']} test images for vaekit and the first "
        f"{results.get('pythae_nll_images', 1000)} for pythae (so it compares the libraries only roughly). "
        "Values: mean ± sd over "
        "the seeds run (n in the last column).",
        "",
        "![Fréchet distance of prior and mixture samples per model, vaekit beside pythae](figures/zoo.png)",
    ]
    for data, models in results["data"].items():
        lines += [
            "",
            f"### {data}",
            "",
            "| model | library | MSE | PSNR (dB) | FD prior | FD GMM | IS-NLL | active units"
            " | s / epoch | n |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name in MODELS:
            if name not in models:
                continue
            for system in ("vaekit", "pythae"):
                rows = list(models[name].get(system, {}).values())
                if not rows:
                    continue
                cols = [
                    _mean_sd([r.get(k) for r in rows], 0 if k == "active_units" else None)
                    for k in ("mse", "psnr", "fd_prior", "fd_gmm", "nll", "active_units", "s_per_epoch")
                ]
                label = f"{name} ({MODELS[name][2]})" if system == "vaekit" else ""
                lines.append(f"| {label} | {system} | " + " | ".join(cols) + f" | {len(rows)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--systems", nargs="+", default=["vaekit", "pythae"], choices=["vaekit", "pythae"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--nll-images", type=int, default=500)
    # pythae's get_nll loops over images one by one: about a minute per 1,000 at k = 1000
    ap.add_argument("--pythae-nll-images", type=int, default=1000)
    ap.add_argument("--render", action="store_true", help="only rewrite the table from zoo.json")
    args = ap.parse_args()
    path = HERE / "zoo.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if (
        results.get("epochs", args.epochs) != args.epochs
        or results.get("nll_images", args.nll_images) != args.nll_images
    ):
        sys.exit(f"zoo.json holds a {results['epochs']}-epoch run; use that budget or move it away")
    results |= {
        "machine": machine(),
        "epochs": args.epochs,
        "nll_images": args.nll_images,
        "pythae_nll_images": args.pythae_nll_images,
    }
    results.setdefault("data", {})
    if not args.render:
        for data in args.data:
            clf_box: dict = {}
            run_vaekit_setup(data, clf_box)
            for seed in args.seeds:
                for name in args.models:
                    for system in args.systems:
                        if system == "pythae" and not MODELS[name][1]:
                            continue
                        slot = (
                            results["data"].setdefault(data, {}).setdefault(name, {}).setdefault(system, {})
                        )
                        if str(seed) in slot:
                            continue
                        print(f"[{data} seed {seed}] {name}: {system}", flush=True)
                        started = time.perf_counter()
                        with tempfile.TemporaryDirectory() as tmp:
                            if system == "pythae":
                                row = run_pythae(
                                    data, name, seed, args.epochs, args.pythae_nll_images, Path(tmp), clf_box
                                )
                            else:
                                row = run_vaekit(
                                    data, name, seed, args.epochs, args.nll_images, Path(tmp), clf_box
                                )
                        row["wall_seconds"] = time.perf_counter() - started
                        slot[str(seed)] = row
                        print(
                            "   ",
                            json.dumps(
                                {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                            ),
                            flush=True,
                        )
                        path.write_text(json.dumps(results, indent=2) + "\n")
    figure(results, HERE / "figures" / "zoo.png")
    publish("zoo", render(results), results)


def run_vaekit_setup(data: str, clf_box: dict) -> None:
    """The reference classifier and the test images both systems are scored on."""
    from vaekit.datasets import load
    from vaekit.run.data import split_data
    from vaekit.settings import TrainConfig

    dataset = load(data)
    _, splits = split_data(dataset, TrainConfig(data=data))
    clf_box["clf"] = reference_classifier(dataset, splits.train, splits.test)
    clf_box["test"] = to_float(splits.test.all_images())
    clf_box["reference"] = clf_box["clf"].reference(clf_box["test"])


if __name__ == "__main__":
    main()
