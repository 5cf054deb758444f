"""Generation for other uses: CVAE class fidelity, the GMM sampler's effect, and augmentation.

1. CVAE: `vaekit train --data mnist --model cvae --latent-dim 4 --epochs 20`; 1,000 samples per class
   (`vaekit sample --class C`); the share the reference classifier assigns to the asked class.
2. GMM sampler: for a VAE (latent 2 and 20, 10 epochs) the Fréchet distance of 10,000 prior samples
   and of 10,000 samples from a 10-component mixture fitted to the training codes
   (`vaekit sample --sampler gmm`), from `vaekit evaluate`.
3. Augmentation, a low-data task: 100 real training images per class (seeded); a CVAE trained on
   those 1,000 images only; a small CNN (the reference classifier's architecture, 1,500 Adam steps
   of 64) trained on the real images alone and on real + N generated per class; test accuracy on
   the official test split, mean ± sd over seeds.

Writes the `generate` section of RESULTS.md and generate.json.

    python benchmarks/augment.py
    python benchmarks/augment.py --seeds 0 --per-class 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from _results import HERE, machine, publish

from vaekit import datasets, load
from vaekit.datasets import Dataset, ImageSet, make_splits, to_float
from vaekit.run.data import ARRAY_DATA
from vaekit.tasks.augment import class_samples
from vaekit.tasks.classifier import ReferenceNet, reference_classifier
from vaekit.train.loop import fit

BIN = Path(sys.executable).parent
STEPS, BATCH = 1500, 64


def vaekit(*args: str) -> None:
    subprocess.run([str(BIN / "vaekit"), *args], check=True, capture_output=True)


def cvae_fidelity(seed: int) -> dict:
    data = datasets.load("mnist")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "cvae"
        vaekit("train", "--data", "mnist", "--model", "cvae", "--latent-dim", "4", "--epochs", "20",
               "--seed", str(seed), "--out", str(run), "--no-progress")
        model = load(run)
        splits = make_splits(data, 0.02, 0.1, seed)
        clf = reference_classifier(data, splits.train, splits.test)
        x, y = class_samples(model, 1000, seed)
        pred = clf.probabilities(x).argmax(1)
    per_class = [float((pred[y == c] == c).double().mean()) for c in range(10)]
    print("cvae", per_class, flush=True)
    return {"per_class": per_class, "overall": float((pred == y).double().mean())}


def gmm_effect(seed: int) -> dict:
    out = {}
    for dim in (2, 20):
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "vae"
            vaekit("train", "--data", "mnist", "--latent-dim", str(dim), "--epochs", "10",
                   "--seed", str(seed), "--out", str(run), "--no-progress")
            vaekit("evaluate", str(run), "--seed", str(seed))
            s = json.loads((run / "eval.json").read_text())["samples"]
        keys = ("frechet_prior", "frechet_gmm", "confidence_prior", "confidence_gmm")
        out[str(dim)] = {k: s[k] for k in keys}
        print("gmm", dim, out[str(dim)], flush=True)
    return out


def train_classifier(x: torch.Tensor, y: torch.Tensor, seed: int) -> ReferenceNet:
    """The small CNN, STEPS Adam steps of BATCH images drawn from (x, y) (float, labels)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ReferenceNet(tuple(x.shape[1:]), 10)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(STEPS):
            idx = torch.randint(len(x), (BATCH,), generator=gen)
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: ReferenceNet, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([net(x[s : s + 2000]).argmax(1) for s in range(0, len(x), 2000)])
    return float((pred == y).double().mean())


def augmentation(seeds: list[int], per_class: list[int]) -> dict:
    data = datasets.load("mnist")
    train_x, train_y = data.train.all_images(), data.train.all_labels()
    test_x, test_y = to_float(data.test.all_images()), data.test.all_labels()
    rows: dict[str, list[float]] = {"real only": []} | {f"real + {n} generated": [] for n in per_class}
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        pick = torch.cat([(train_y == c).nonzero().flatten()[torch.randperm(int((train_y == c).sum()),
                                                                             generator=gen)[:100]]
                          for c in range(10)])
        x, y = train_x[pick], train_y[pick]
        # the official test split stays out of the CVAE's training; one image satisfies the run
        small = Dataset("mnist-100-per-class", ImageSet(x, y), ImageSet(data.test.take(torch.arange(1)),
                                                                          test_y[:1]), data.class_names)
        with tempfile.TemporaryDirectory() as tmp:
            run = fit(dataset=small, data=ARRAY_DATA, model="cvae", latent_dim=4, seed=seed,
                      out=str(Path(tmp) / "cvae"), progress=False)
            model = load(run)
        real_x = to_float(x)
        rows["real only"].append(accuracy(train_classifier(real_x, y, seed), test_x, test_y))
        for n in per_class:
            gx, gy = class_samples(model, n, seed)
            net = train_classifier(torch.cat([real_x, gx]), torch.cat([y, gy]), seed)
            rows[f"real + {n} generated"].append(accuracy(net, test_x, test_y))
        print("augment", seed, {k: v[-1] for k, v in rows.items()}, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--per-class", nargs="+", type=int, default=[100, 500])
    args = ap.parse_args()
    datasets.fetch_builtin("mnist")
    results = {"machine": machine(), "seeds": args.seeds, "cvae": cvae_fidelity(args.seeds[0]),
               "gmm": gmm_effect(args.seeds[0]), "augment": augmentation(args.seeds, args.per_class)}
    publish("generate", render(results), results)
    print((HERE / "RESULTS.md").read_text())


def render(results: dict) -> str:
    c = results["cvae"]
    lines = [
        "## Generating for other uses: CVAE classes, the GMM sampler, augmentation (MNIST)",
        "",
        f"`python benchmarks/augment.py` on {results['machine']}.",
        "",
        "**CVAE** (`--model cvae --latent-dim 4 --epochs 20`): share of 1,000 samples per class that the "
        f"reference classifier assigns to the asked class: overall {c['overall']:.3f}; per class "
        + ", ".join(f"{k}: {v:.3f}" for k, v in enumerate(c["per_class"])) + ".",
        "",
        "**GMM sampler** (VAE, 10 epochs; 10,000 samples vs the 10,000 test images; lower is closer):",
        "",
        "| latent | Fréchet, z ~ N(0, I) | Fréchet, z ~ GMM(10) | confidence N(0, I) | confidence GMM |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for dim, g in results["gmm"].items():
        lines.append(f"| {dim} | {g['frechet_prior']:.1f} | {g['frechet_gmm']:.1f} | "
                     f"{g['confidence_prior']:.3f} | {g['confidence_gmm']:.3f} |")
    seeds = results["seeds"]
    lines += ["", f"**Augmentation**: 100 real images per class, CVAE trained on those only; small CNN, "
              f"{STEPS} steps of {BATCH}; test accuracy on the 10,000 official test images over seeds "
              f"{', '.join(map(str, seeds))}.", "",
              "| training set | test accuracy (mean ± sd) | per seed |", "| --- | ---: | --- |"]
    base = statistics.mean(results["augment"]["real only"])
    for name, accs in results["augment"].items():
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        gain = "" if name == "real only" else f" ({statistics.mean(accs) - base:+.3f})"
        lines.append(f"| {name} | {statistics.mean(accs):.4f} ± {sd:.4f}{gain} | "
                     + ", ".join(f"{a:.4f}" for a in accs) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
