"""One-class anomaly detection: vaekit's AnomalyDetector and PyOD's AutoEncoder, same data, same run.

Protocol (the usual one for MNIST-like data): for each class c, train on the official training
images of class c only; score every official test image; ROC-AUC with class c as normal and the
other nine as anomalies. Faces vs non-faces (lfw-faces): train on a seeded 70% of the 100 faces,
score the other 30 faces and the 100 non-face crops.

vaekit: ``AnomalyDetector()`` with its defaults (VAE, MLP 400, 64-d latent, the "combined" score:
log reconstruction MSE plus the log distance of the code to its 5th-nearest training code in the
training codes' Mahalanobis metric, each standardised on the training images; epochs sized to
2000 updates).
PyOD: ``AutoEncoder()`` with its defaults, in its own environment (benchmarks/.venv-pyod, made
on first use). Writes the `anomaly` section of RESULTS.md and anomaly.json.

    python benchmarks/anomaly.py                         # MNIST, Fashion-MNIST, lfw-faces
    python benchmarks/anomaly.py --data mnist --classes 0 1
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
from sklearn.metrics import roc_auc_score

from vaekit import datasets
from vaekit.tasks.anomaly import AnomalyDetector

ROOT = HERE.parent
PYOD_ENV = HERE / ".venv-pyod"
PYOD_VERSION = "3.6.7"


def pyod_python() -> Path:
    """The benchmark's own environment with PyOD and the pinned CPU torch (made on first use)."""
    py = PYOD_ENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYOD_ENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                        "torch==2.13.0", f"pyod=={PYOD_VERSION}", "tqdm", "scikit-learn"], check=True)
    return py


def one_class_tasks(name: str, classes: list[int]) -> dict[str, tuple]:
    """{task: (train (N, C, H, W) uint8, test uint8, is_anomaly (M,) 0/1)} for one data set."""
    data = datasets.load(name)
    tasks = {}
    if name == "lfw-faces":
        x, y = data.train.all_images(), data.train.all_labels()
        face = data.class_names.index("face")
        faces = (y == face).nonzero().flatten()
        perm = faces[torch.randperm(len(faces), generator=torch.Generator().manual_seed(0))]
        n_train = round(0.7 * len(faces))
        held = torch.cat([perm[n_train:], (y != face).nonzero().flatten()])
        tasks["lfw-faces: face"] = (x[perm[:n_train]], x[held], (y[held] != face).int().numpy())
        return tasks
    train_x, train_y = data.train.all_images(), data.train.all_labels()
    test_x, test_y = data.test.all_images(), data.test.all_labels()
    for c in classes:
        label = f"{name}: {c} ({data.class_names[c]})"
        tasks[label] = (train_x[train_y == c], test_x, (test_y != c).int().numpy())
    return tasks


def run_vaekit(tasks: dict, seed: int) -> dict:
    out = {}
    for name, (train, test, is_anomaly) in tasks.items():
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            det = AnomalyDetector(seed=seed).fit(train, out=Path(tmp) / "run")
            fit_seconds = time.perf_counter() - t0
            scores = det.decision_function(test)
        out[name] = {"auc": float(roc_auc_score(is_anomaly, scores)), "fit_seconds": fit_seconds,
                     "train": len(train), "test": len(test)}
        print(f"vaekit {name}: AUC {out[name]['auc']:.4f} ({fit_seconds:.1f} s)", flush=True)
    return out


def run_pyod(tasks: dict, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        bundle, result = Path(tmp) / "tasks.npz", Path(tmp) / "pyod.json"
        arrays = {"names": json.dumps(list(tasks))}
        for i, (train, test, is_anomaly) in enumerate(tasks.values()):
            arrays |= {f"train_{i}": train.flatten(1).numpy(), f"test_{i}": test.flatten(1).numpy(),
                       f"label_{i}": is_anomaly}
        np.savez(bundle, **arrays)
        subprocess.run([str(pyod_python()), str(HERE / "pyod_oneclass.py"), "--tasks", str(bundle),
                        "--seed", str(seed), "--out", str(result)], check=True)
        return json.loads(result.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist", "lfw-faces"])
    ap.add_argument("--classes", nargs="+", type=int, default=list(range(10)))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = {"machine": machine(), "seed": args.seed, "data": {}}
    for name in args.data:
        datasets.fetch_builtin(name)
        tasks = one_class_tasks(name, args.classes)
        results["data"][name] = {"vaekit": run_vaekit(tasks, args.seed), "pyod": run_pyod(tasks, args.seed)}
    publish("anomaly", render(results, args), results)
    print((HERE / "RESULTS.md").read_text())


def render(results: dict, args) -> str:
    lines = [
        "## Anomaly detection: one class as normal, ROC-AUC",
        "",
        f"`python benchmarks/anomaly.py` on {results['machine']}, seed {results['seed']}. Train on one "
        "class's official training images, score the whole official test set, ROC-AUC with that "
        "class as normal. lfw-faces: train on 70 of the 100 faces, score the other 30 and the 100 "
        "non-face crops. vaekit `AnomalyDetector()` defaults (VAE, MLP 400, latent 64, score = "
        "\"combined\": standardised log MSE + the standardised log distance of the code to its "
        "5th-nearest training code, in the training codes' Mahalanobis metric) against "
        "PyOD's `AutoEncoder()` defaults on the same "
        "flattened pixels in [0, 1]. Seconds: training time per detector.",
        "",
        "| data | normal class | vaekit AUC | PyOD AUC | vaekit s | PyOD s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results["data"].items():
        v, p = r["vaekit"], r["pyod"]
        for task in v:
            lines.append(f"| {name} | {task.split(': ', 1)[1]} | {v[task]['auc']:.4f} | "
                         f"{p[task]['auc']:.4f} | {v[task]['fit_seconds']:.1f} | "
                         f"{p[task]['fit_seconds']:.1f} |")
        if len(v) > 1:
            mean = lambda d, k: statistics.mean(t[k] for t in d.values())  # noqa: E731
            lines.append(f"| {name} | **mean** | **{mean(v, 'auc'):.4f}** | **{mean(p, 'auc'):.4f}** | "
                         f"{mean(v, 'fit_seconds'):.1f} | {mean(p, 'fit_seconds'):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
