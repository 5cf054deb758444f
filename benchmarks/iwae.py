"""The likelihood ladder on MNIST: the IWAE paper's one-stochastic-layer model (784-200-200-50,
tanh, Bernoulli decoder, dynamic binarization) trained as a VAE (k = 1) and as an IWAE (k = 50),
then scored by the IWAE bound with k = 5000 on the 10,000 test images, against Burda et al.
(2016), Table 1: 86.76 and 84.78 nats.

The paper's schedule is 3,280 epochs at batch 20; this machine cannot run that (see RESULTS.md
for the arithmetic), so each model trains on the same schedule shape (``--lr-schedule iwae``:
lr 1e-3 * 10^(-i/7) over stages in proportion 3^i) compressed into a fixed number of epochs at
batch 100, keeping its weights every few epochs. Every kept snapshot is scored (k = 1000) to
draw NLL against training time; the final weights are scored with k = 5000, in float32 and in
bfloat16 on a subset to show their agreement, and by pythae's ``get_nll`` (its own environment,
``benchmarks/.venv-pythae``) on a subset for time and agreement.

    python benchmarks/iwae.py                 # train both (about 45 min on 2 cores), then score
    python benchmarks/iwae.py --skip-train    # score runs already trained
"""

from __future__ import annotations

import argparse
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

from vaekit.datasets import to_float
from vaekit.run import Run
from vaekit.run.checkpoint import load
from vaekit.settings import TrainConfig
from vaekit.tasks.likelihood import log_likelihood
from vaekit.train.loop import fit

PAPER = {"vae": 86.76, "iwae": 84.78}
MODELS = {
    # name: (objective, k, epochs, keep_every, precision)
    "vae": ("elbo", 1, 500, 50, "32"),
    "iwae": ("iwae", 50, 80, 10, "bf16"),
}
PYTHAE = HERE / ".venv-pythae" / "bin" / "python"


def train(root: Path, name: str) -> None:
    objective, k, epochs, keep, precision = MODELS[name]
    cfg = TrainConfig.from_preset("iwae", objective=objective, k=k, epochs=epochs, batch_size=100,
                                  keep_every=keep, precision=precision, out=str(root / name))
    fit(cfg)


def evaluate_cli(run: Path, k: int) -> dict:
    """``vaekit evaluate RUN --k K`` as a user runs it: its eval.json and the command's wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "vaekit"), "evaluate", str(run), "--k", str(k),
                        "--no-progress", "--out", tmp], check=True)
        wall = time.perf_counter() - t0
        return json.loads((Path(tmp) / "eval.json").read_text()) | {"wall_seconds": wall}


def paper_epoch_seconds(name: str) -> float:
    """Seconds of one epoch at the paper's batch size 20, to price its 3,280-epoch schedule here."""
    objective, k, _, _, precision = MODELS[name]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig.from_preset("iwae", objective=objective, k=k, epochs=1, precision=precision,
                                      progress=False, out=str(Path(tmp) / "run"))
        run = fit(cfg)
        return json.loads((run / "summary.json").read_text())["train_seconds"]


def score(model, images: torch.Tensor, k: int, precision: str = "auto") -> tuple[float, float]:
    """Mean -L_k over ``images`` and the seconds it took."""
    t0 = time.perf_counter()
    log_px = log_likelihood(model, images, k, precision=precision, progress=False)
    return float(-log_px.mean()), time.perf_counter() - t0


def curve(run: Path, images: torch.Tensor, k: int) -> list[dict]:
    """NLL (k importance samples) of every kept snapshot against its training time, counted as
    epochs x the median epoch time (robust to epochs slowed by other work on the machine)."""
    per_epoch = statistics.median(_epoch_seconds(run))
    points = []
    for snap in sorted((run / "snapshots").glob("epoch-*.safetensors")):
        epoch = int(snap.stem.split("-")[1])
        nll, _ = score(load(run, snapshot=epoch), images, k)
        points.append({"epoch": epoch, "train_minutes": epoch * per_epoch / 60, "nll": nll})
        print(f"  {run.name} epoch {epoch}: {nll:.2f} nats", file=sys.stderr)
    return points


def _epoch_seconds(run: Path) -> list[float]:
    lines = (run / "metrics.csv").read_text().splitlines()
    col = lines[0].split(",").index("epoch_seconds")
    return [float(line.split(",")[col]) for line in lines[1:]]


def pythae_nll(run: Path, model, images: torch.Tensor, k: int) -> dict:
    """pythae's get_nll of the same weights on ``images`` (run in pythae's environment)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "x.npy", images.flatten(1).numpy())
        torch.save(model.state_dict(), tmp / "w.pt")
        (tmp / "model.json").write_text(json.dumps(model.config.to_dict()))
        subprocess.run([str(PYTHAE), str(HERE / "pythae_nll.py"), str(tmp / "w.pt"), str(tmp / "model.json"),
                        str(tmp / "x.npy"), "--k", str(k), "--out", str(tmp / "out.json")], check=True)
        return json.loads((tmp / "out.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=HERE / "out" / "iwae")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--curve-k", type=int, default=1000)
    ap.add_argument("--subset", type=int, default=1000, help="test images for the float32 check")
    ap.add_argument("--pythae-images", type=int, default=20)
    args = ap.parse_args()
    results: dict = {"machine": machine(), "paper": PAPER, "models": {}}
    for name in MODELS:
        run = args.root / name
        if not args.skip_train:
            t0 = time.perf_counter()
            train(args.root, name)
            print(f"{name}: trained in {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)
        splits = Run.open(run).splits
        test = to_float(splits.test.all_images())  # (10000, 1, 28, 28), binarized once, seed 1
        model = load(run)
        summary = json.loads((run / "summary.json").read_text())
        cli = evaluate_cli(run, args.k)
        nll, secs = cli["likelihood"]["nll"], cli["likelihood"]["seconds"]
        sub = test[: args.subset]
        nll_bf16, _ = score(model, sub, args.k, "auto")
        nll_fp32, secs_fp32 = score(model, sub, args.k, "32")
        entry = {
            "objective": MODELS[name][0], "train_k": MODELS[name][1], "epochs": MODELS[name][2],
            "train_minutes": summary["train_seconds"] / 60,
            "median_epoch_seconds": statistics.median(_epoch_seconds(run)), "nll": nll,
            "eval_seconds": secs, "evaluate_command_seconds": cli["wall_seconds"], "k": args.k,
            "neg_elbo": cli["elbo"]["neg_elbo"], "active_units": cli["latent"]["active_units"],
            "subset": {"images": args.subset, "nll_bf16": nll_bf16, "nll_fp32": nll_fp32,
                       "fp32_seconds": secs_fp32},
            "curve": curve(run, test, args.curve_k),
        }
        if PYTHAE.exists():
            entry["pythae"] = pythae_nll(run, model, test[: args.pythae_images], args.k)
            mine, mine_secs = score(model, test[: args.pythae_images], args.k, "32")
            entry["pythae"] |= {"vaekit_nll": mine, "vaekit_seconds": mine_secs}
        entry["paper_epoch_seconds"] = paper_epoch_seconds(name)
        results["models"][name] = entry
        print(f"{name}: NLL {nll:.2f} (k={args.k}, {secs:.0f} s)", file=sys.stderr)
    _figure(results, HERE / "figures" / "iwae_curve.png")
    publish("iwae", _markdown(results, args), results)


def _figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (name, entry), color in zip(results["models"].items(), ("tab:blue", "tab:orange"), strict=False):
        pts = entry["curve"]
        ax.plot([p["train_minutes"] for p in pts], [p["nll"] for p in pts], "o-", color=color,
                label=f"{name} (k={entry['train_k']})")
        ax.axhline(results["paper"][name], color=color, ls="--", lw=1,
                   label=f"paper {name}: {results['paper'][name]} (3,280 epochs)")
    ax.set_xlabel("training time on 2 CPU cores (minutes)")
    ax.set_ylabel("test NLL, nats (IWAE bound, k=1000)")
    ax.set_title("Dynamically binarized MNIST, 784-200-200-50 tanh")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _markdown(results: dict, args) -> str:
    rows = ["| model | epochs (batch 100) | train time (median epoch x epochs) | test -ELBO "
            "| test NLL, k=5000 | paper (3,280 epochs) | `vaekit evaluate --k 5000` (NLL part) "
            "| paper's schedule here |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, e in results["models"].items():
        full = e["paper_epoch_seconds"] * 3280 / 3600
        clean = e["median_epoch_seconds"] * e["epochs"] / 60
        rows.append(f"| {name} (train k={e['train_k']}) | {e['epochs']} | {clean:.1f} min "
                    f"({e['median_epoch_seconds']:.1f} s) | {e['neg_elbo']:.2f} | "
                    f"{e['nll']:.2f} | {results['paper'][name]} | {e['evaluate_command_seconds']:.0f} s "
                    f"({e['eval_seconds']:.0f} s) | "
                    f"{full:.0f} h ({e['paper_epoch_seconds']:.1f} s per batch-20 epoch) |")
    checks = ["| model | bf16 decoder | float32 | difference |", "| --- | ---: | ---: | ---: |"]
    for name, e in results["models"].items():
        s = e["subset"]
        diff = s["nll_bf16"] - s["nll_fp32"]
        checks.append(f"| {name} | {s['nll_bf16']:.3f} | {s['nll_fp32']:.3f} | {diff:+.3f} |")
    pyt = ["| model | pythae get_nll | time | vaekit (float32) | time |",
           "| --- | ---: | ---: | ---: | ---: |"]
    for name, e in results["models"].items():
        if "pythae" in e:
            p = e["pythae"]
            pyt.append(f"| {name} | {p['nll']:.2f} | {p['seconds']:.1f} s | {p['vaekit_nll']:.2f} | "
                       f"{p['vaekit_seconds']:.1f} s |")
    return "\n".join([
        "## Likelihood: the IWAE paper's MNIST model",
        "",
        f"`python benchmarks/iwae.py` on {results['machine']}. Dynamically binarized MNIST (training images "
        "drawn afresh each time, the 10,000 test images drawn once, seed 1), 784-200-200-50 tanh, Bernoulli "
        "decoder, the paper's schedule shape compressed into the epochs shown (`--preset iwae --batch-size "
        "100 --epochs N`). NLL is the negative IWAE bound with k = 5000 (`vaekit evaluate RUN --k 5000`).",
        "",
        *rows,
        "",
        "![NLL against training time](figures/iwae_curve.png)",
        "",
        f"Decoder precision on the first {args.subset} test images, k = {args.k} (nats):",
        "",
        *checks,
        "",
        f"pythae 0.1.2 `get_nll` on the same weights, first {args.pythae_images} test images, k = {args.k} "
        "(pythae loops over images one at a time):",
        "",
        *pyt,
    ])


if __name__ == "__main__":
    main()
