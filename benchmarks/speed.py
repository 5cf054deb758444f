"""Speed and quality of one VAE recipe, side by side in one run on one machine:

  tutorial   the pytorch/examples loop (benchmarks/tutorial_vae.py): per-item Dataset + DataLoader
  pythae     pythae 0.1.2's VAE and trainer with the same layers (in its own environment)
  vaekit     `vaekit train` with identical math: batch 128, Adam 1e-3 constant, BCE-sum + KL,
             784-400-20, --precision 32
  check      the same command without --precision (vaekit's default `auto`: bf16 on CPUs
             and GPUs that compute bfloat16 natively, float32 elsewhere)
  defaults   `vaekit train` with vaekit's own defaults (batch 256, one-cycle, precision auto)

Each runs ``--runs`` times with seeds 0, 1, 2, ...; seconds per epoch are the median over every
epoch of every run, test losses the mean over runs. Writes the `speed` section of RESULTS.md and
speed.json.

    python benchmarks/speed.py                       # MNIST and Fashion-MNIST, 3 runs each
    python benchmarks/speed.py --data mnist --runs 1
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import HERE, machine, publish

from vaekit.datasets import fetch_builtin

ROOT = HERE.parent
PYTHAE_ENV = HERE / ".venv-pythae"
BIN = Path(sys.executable).parent


def pythae_python() -> Path:
    """The benchmark's own environment with pythae 0.1.2 (made on first use)."""
    py = PYTHAE_ENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYTHAE_ENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                        "torch==2.13.0", "pythae==0.1.2"], check=True)
    return py


def run_script(python: Path, script: str, data_dir: Path, epochs: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        subprocess.run([str(python), str(HERE / script), "--data-dir", str(data_dir),
                        "--epochs", str(epochs), "--seed", str(seed), "--out", str(out)],
                       check=True, capture_output=True)
        r = json.loads(out.read_text())
    return {"epoch_seconds": r["epoch_seconds"], "test_loss": r["test_loss"][-1],
            "train_seconds": sum(r["epoch_seconds"])}


def run_vaekit(data: str, seed: int, args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run([str(BIN / "vaekit"), "train", "--data", data, "--seed", str(seed),
                        "--no-progress", "--out", str(run), *args], check=True, capture_output=True)
        with open(run / "metrics.csv") as f:
            seconds = [float(r["epoch_seconds"]) for r in csv.DictReader(f)]
        s = json.loads((run / "summary.json").read_text())
    return {"epoch_seconds": seconds, "test_loss": s["test_loss"],
            "train_seconds": s["train_seconds"], "precision": s["precision"]}


def summarize(runs: list[dict]) -> dict:
    epochs = [t for r in runs for t in r["epoch_seconds"]]
    losses = [r["test_loss"] for r in runs]
    return {"s_per_epoch": statistics.median(epochs),
            "train_seconds": statistics.median(r["train_seconds"] for r in runs),
            "test_loss": statistics.mean(losses),
            "test_loss_sd": statistics.stdev(losses) if len(losses) > 1 else 0.0,
            "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--default-epochs", type=int, default=8,
                    help="epochs for the vaekit-defaults row (its one-cycle schedule fits them)")
    args = ap.parse_args()
    same = ["--batch-size", "128", "--lr", "1e-3", "--lr-schedule", "constant", "--loss", "bce",
            "--latent-dim", "20", "--hidden", "400", "--epochs", str(args.epochs)]
    results = {"machine": machine(), "epochs": args.epochs, "data": {}}
    for data in args.data:
        data_dir = fetch_builtin(data)
        rows = {"tutorial": [], "pythae": [], "vaekit": [], "check": [], "defaults": []}
        for seed in range(args.runs):
            print(f"[{data} seed {seed}] tutorial, pythae, vaekit x2, vaekit defaults", flush=True)
            rows["tutorial"].append(run_script(Path(sys.executable), "tutorial_vae.py", data_dir,
                                               args.epochs, seed))
            rows["pythae"].append(run_script(pythae_python(), "pythae_vae.py", data_dir,
                                             args.epochs, seed))
            rows["vaekit"].append(run_vaekit(data, seed, same + ["--precision", "32"]))
            rows["check"].append(run_vaekit(data, seed, same))
            rows["defaults"].append(run_vaekit(data, seed, ["--epochs", str(args.default_epochs)]))
        results["data"][data] = {k: summarize(v) for k, v in rows.items()}
    publish("speed", render(results, args), results)
    print((HERE / "RESULTS.md").read_text())


def render(results: dict, args) -> str:
    lines = [
        "## Training speed: one VAE recipe, four ways",
        "",
        f"`python benchmarks/speed.py --runs {args.runs}` on {results['machine']}. "
        f"784-400-20 MLP VAE, BCE-sum + KL, {args.epochs} epochs; seconds per epoch are the median "
        f"over all epochs of {args.runs} runs (seeds 0..{args.runs - 1}); test loss is the negative "
        "ELBO per image on the official test split (one z sample per image), mean ± sd over runs.",
        "",
        "Speed-up: the system's s/epoch over vaekit's (float32 / precision auto).",
        "",
        "| data | system | s/epoch | vaekit speed-up | test loss |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for data, r in results["data"].items():
        v = r["vaekit"]["s_per_epoch"]
        c = r["check"]["s_per_epoch"]
        prec = r["check"]["runs"][0]["precision"]
        for key, label in [("tutorial", "pytorch/examples loop"), ("pythae", "pythae 0.1.2"),
                           ("vaekit", "vaekit, float32"),
                           ("check", f"vaekit, precision auto ({prec})")]:
            x = r[key]
            ratio = (f"{x['s_per_epoch'] / v:.2f}x / {x['s_per_epoch'] / c:.2f}x"
                     if key in ("tutorial", "pythae") else "-")
            lines.append(f"| {data} | {label} | {x['s_per_epoch']:.2f} | {ratio} | "
                         f"{x['test_loss']:.2f} ± {x['test_loss_sd']:.2f} |")
    lines += ["", "Time to the tutorial's quality with vaekit's defaults "
              f"(batch 256, one-cycle peak 6e-3 → `--default-epochs {args.default_epochs}`, "
              "precision auto):", "",
              "| data | tutorial: 10 epochs | vaekit defaults | share of tutorial time | "
              "tutorial test loss | vaekit test loss |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for data, r in results["data"].items():
        t, d = r["tutorial"], r["defaults"]
        prec = d["runs"][0]["precision"]
        lines.append(f"| {data} | {t['train_seconds']:.1f} s | {d['train_seconds']:.1f} s ({prec}) | "
                     f"{d['train_seconds'] / t['train_seconds']:.2f} | {t['test_loss']:.2f} | "
                     f"{d['test_loss']:.2f} ± {d['test_loss_sd']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
