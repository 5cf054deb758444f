"""The disentanglement leaderboard: VAE, beta-VAE, beta-TCVAE, FactorVAE, DIP-VAE and the
capacity-annealed VAE on a factor grid, every metric of `vaekit evaluate --disentanglement`, over
seeds, beside the published dSprites figures.

Every model gets the same network (disentanglement_lib's, vaekit's dlib backbone: four 4x4
stride-2 convolutions of 32, 32, 64, 64 channels, a 256-unit layer, 10 latents, a
transposed-convolution Bernoulli decoder) and the same budget, stated as training images seen
(--images; the CPU minutes it took are reported beside each row). Results accumulate in
disentangle.json: a (grid, backbone, model, seed, budget) already there is not run again.

    python benchmarks/disentangle.py                               # dsprites-like-32, 3 seeds
    python benchmarks/disentangle.py --images 300000 --seeds 0     # a quick look
    python benchmarks/disentangle.py --grid dsprites-like --images 19200000 --metrics dlib
                                                                   # dlib's budget (300,000 steps
                                                                   # of 64): the recipe for a GPU
    python benchmarks/disentangle.py --render                      # the table from the JSON

benchmarks/disentangle_disent.py adds disent's objectives on the same network and budget as rows
of their own (an "implementation" field), beside vaekit's.
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

from _results import HERE, machine, publish

from vaekit.datasets.factors import FACTOR_SETS
from vaekit.run import Run

# name -> settings; the weights are the usual ones of each paper / of disentanglement_lib's study
MODELS = {
    "vae": [],
    "beta-vae": ["--beta", "4"],
    "beta-tcvae": ["--objective", "tcvae", "--tc-weight", "6"],
    "factor-vae": ["--objective", "factor", "--factor-gamma", "35"],
    "dip-vae-ii": ["--objective", "dip", "--dip-type", "ii", "--dip-od", "10"],
    "annealed-vae": ["--beta", "1000", "--capacity", "25"],  # Burgess et al.: gamma 1000, C -> 25 nats
    # gamma 1000 is for 64x64 images; on the 32x32 grid's quarter of the pixels the reconstruction's
    # gradient is lost beside it and the model stays at the mean image (README), where 100 learns
    "annealed-vae-g100": ["--beta", "100", "--capacity", "25"],
}
BACKBONE = "dlib"  # rows before it existed used the conv backbone (3x3 Conv-BN, upsampling decoder)
NETWORK = ["--backbone", BACKBONE, "--channels", "32,32,64,64", "--latent-dim", "10", "--loss", "bce",
           "--lr", "1e-4", "--lr-schedule", "constant", "--batch-size", "64"]
# InfoGAN-CR (ICML 2020), Table 1: dSprites, collected from the original papers
PUBLISHED = {"vae": {"mig": 0.10, "factor_vae": 0.63}, "beta-vae": {"mig": 0.21, "factor_vae": 0.63},
             "factor-vae": {"mig": "0.40-0.43", "factor_vae": "0.82-0.83"}}
SCORES = ("mig", "factor_vae", "beta_vae", "sap", "dci_disentanglement", "dci_completeness")
BUDGET = 3_000_000  # training images per model on the reduced grid: the leaderboard's budget
RESULTS = HERE / "disentangle.json"
FIGURE = HERE / "figures" / "disentangle.png"


def run_one(grid: str, model: str, seed: int, images: int, fast: bool, root: Path) -> dict:
    """Train one model for ``images`` training images and score it; the row for the JSON."""
    out = root / f"{model}-s{seed}"
    steps = max(1, images // 64)
    train = [sys.executable, "-m", "vaekit", "train", "--data", grid, *NETWORK, *MODELS[model],
             "--seed", str(seed), "--out", str(out), "--no-progress", "--val-fraction", "0.01"]
    # epochs from the budget: whole passes over the training split, at least one
    n_train = grid_size(grid) * 0.89
    epochs = max(1, round(steps * 64 / n_train))
    t0 = time.perf_counter()
    subprocess.run([*train, "--epochs", str(epochs)], check=True)
    minutes = (time.perf_counter() - t0) / 60
    return {"grid": grid, "backbone": BACKBONE, "model": model, "seed": seed,
            "images": epochs * round(n_train), "epochs": epochs, "train_minutes": minutes,
            "machine": machine(), **score(out, fast)}


def score(run: Path, fast: bool) -> dict:
    """`vaekit evaluate --disentanglement` on a saved run: the row's scores, protocol, commit, and
    which factor each dimension carries (to read a score by)."""
    evaluate = [sys.executable, "-m", "vaekit", "evaluate", str(run), "--disentanglement", "--k", "0",
                "-n", "1000", "--no-progress", *(["--fast"] if fast else [])]
    subprocess.run(evaluate, check=True, stdout=subprocess.DEVNULL)
    scores = Run(run).eval["disentanglement"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    return {"commit": commit, "fast_metrics": fast, **{k: scores[k] for k in SCORES},
            "protocol": scores["protocol"], "captures": scores["captures"],
            "mutual_information": scores["mutual_information"]}


def grid_size(grid: str) -> int:
    """Images in a factor grid (184,320 for dsprites-like-32, 737,280 for dsprites-like)."""
    return math.prod(FACTOR_SETS[grid].sizes)


def same_budget(images: int, budget: int, grid: str) -> bool:
    """Whether a row's training images on ``grid`` are ``budget``, up to the whole passes of that
    grid it was rounded to."""
    return abs(images - budget) < 0.6 * grid_size(grid)


def render(rows: list[dict]) -> str:
    """The table: each model's median over seeds (and range) per metric, beside the published."""
    machines = sorted({r["machine"] for r in rows})
    lines = ["Measured on " + "; and on ".join(machines) + " (the CPU column says which).", "",
             "| grid | backbone | model | CPU | seeds | images | minutes | " + " | ".join(SCORES)
             + " | published MIG / FactorVAE |",
             "| --- | --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in SCORES) + " | --- |"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        model = r["model"] + (f" ({r['implementation']})" if "implementation" in r else "")
        key = (r["grid"], r.get("backbone", "conv"), model, r["machine"].split(" (")[0], r["images"],
               r["fast_metrics"])
        groups.setdefault(key, []).append(r)
    for (grid, backbone, model, cpu, images, fast), rs in sorted(groups.items()):
        def cell(k, rs=rs):
            vals = [r[k] for r in rs]
            med = statistics.median(vals)
            return f"{med:.2f}" if len(vals) == 1 else f"{med:.2f} ({min(vals):.2f}-{max(vals):.2f})"
        pub = PUBLISHED.get(model, {}) if model in MODELS else {}
        lines.append(f"| {grid}{' (--fast metrics)' if fast else ''} | {backbone} | {model} | {cpu} | "
                     f"{len(rs)} | {images:,} | "
                     f"{statistics.median(r['train_minutes'] for r in rs):.1f} | "
                     + " | ".join(cell(k) for k in SCORES)
                     + f" | {pub.get('mig', '-')} / {pub.get('factor_vae', '-')} |")
    lines += ["", "Median over seeds (range). Published: dSprites 64x64 at disentanglement_lib's budget "
              "(300,000 steps), from InfoGAN-CR's Table 1; the grid here is vaekit's own rendering."]
    if any(len(rs) < 3 for rs in groups.values()):
        lines.append("Rows with fewer than 3 seeds are a first look at a small budget, not the leaderboard.")
    if figure(rows, FIGURE):
        lines += ["", f"![MIG and FactorVAE score per model on the dlib backbone](figures/{FIGURE.name})"]
    return "\n".join(lines)


def published(model: str, metric: str) -> tuple[float, float] | None:
    """The published (low, high) of ``model``'s ``metric``, or None."""
    value = PUBLISHED.get(model, {}).get(metric)
    if value is None:
        return None
    low, _, high = str(value).partition("-")
    return float(low), float(high or low)


def figure(rows: list[dict], path: Path) -> bool:
    """MIG and the FactorVAE score per model on the dlib backbone, the reduced grid and the
    leaderboard's budget: a bar at the median over seeds, a dot per seed, the published dSprites
    range as a black mark, disent's rows in orange beside vaekit's. False when no row is there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("backbone") == BACKBONE and r["grid"] == "dsprites-like-32"
            and same_budget(r["images"], BUDGET, r["grid"])]
    # (model, implementation) in MODELS' order, each disent row beside vaekit's of the same model
    impls = sorted({r.get("implementation", "") for r in rows}, key=bool)  # vaekit's ("") first
    bars = [(m, impl) for m in MODELS for impl in impls
            if any(r["model"] == m and r.get("implementation", "") == impl for r in rows)]
    if not bars:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, metric, title in ((axes[0], "mig", "MIG"), (axes[1], "factor_vae", "FactorVAE score")):
        for i, (m, impl) in enumerate(bars):
            vals = [r[metric] for r in rows if r["model"] == m and r.get("implementation", "") == impl]
            colour = "tab:orange" if impl else "tab:blue"
            ax.bar(i, statistics.median(vals), 0.6, color=colour, alpha=0.55)
            ax.plot([i] * len(vals), vals, "o", color=colour, ms=4)
            pub = published(m, metric) if not impl else None
            if pub:
                ax.plot([i - 0.35, i + 0.35], [pub[0]] * 2, "k-", lw=2)
                if pub[1] != pub[0]:
                    ax.plot([i - 0.35, i + 0.35], [pub[1]] * 2, "k-", lw=2)
        ax.set_xticks(range(len(bars)), [m + (f"\n({impl})" if impl else "") for m, impl in bars],
                      rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.7, max(len(bars), len(MODELS)) - 0.3)
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}: bar = median, dot = a seed, black = published (dSprites); "
                     "orange = disent's objective", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    path.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def load_rows() -> list[dict]:
    """The rows measured so far, each with the machine line it was measured on (rows from before
    that was kept per row take the file's)."""
    if not RESULTS.exists():
        return []
    data = json.loads(RESULTS.read_text())
    cpu = data.get("cpu")
    legacy = (f"{cpu['model']} ({', '.join(f for f in cpu['flags'] if 'bf16' in f or 'amx' in f)}; "
              f"auto = {'bf16' if cpu['native_bf16'] else 'float32'}); {cpu['threads']} threads; "
              f"torch {cpu['torch']}") if cpu else machine()
    return [{"machine": legacy, **r} for r in data["rows"]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="dsprites-like-32", choices=sorted(FACTOR_SETS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--images", type=int, default=BUDGET, help="training images seen per model")
    p.add_argument("--metrics", choices=["fast", "dlib"], default="fast")
    p.add_argument("--render", action="store_true", help="only rewrite the table from the JSON")
    a = p.parse_args()
    rows = load_rows()
    if not a.render:
        with tempfile.TemporaryDirectory() as tmp:
            for model in a.models:
                for seed in a.seeds:
                    done = any(r["grid"] == a.grid and r.get("backbone", "conv") == BACKBONE
                               and "implementation" not in r  # rows of disentangle_disent.py
                               and r["model"] == model and r["seed"] == seed
                               and r["fast_metrics"] == (a.metrics == "fast")
                               and same_budget(r["images"], a.images, a.grid) for r in rows)
                    if done:
                        continue
                    rows.append(run_one(a.grid, model, seed, a.images, a.metrics == "fast", Path(tmp)))
                    publish("disentangle", render(rows), {"rows": rows})
        return
    # a render measures nothing: the file keeps the CPU header of its last measurement (each row
    # names its own machine)
    header = json.loads(RESULTS.read_text()).get("cpu") if RESULTS.exists() else None
    publish("disentangle", render(rows), {"rows": rows, **({"cpu": header} if header else {})})


if __name__ == "__main__":
    main()
