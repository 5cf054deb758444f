"""PyOD's AutoEncoder on the one-class tasks that benchmarks/anomaly.py prepares.

Runs in the benchmark's own environment (benchmarks/.venv-pyod: torch + pyod), reading the tasks
from an .npz (flattened uint8 images, scaled to [0, 1] here exactly as vaekit does) and writing
ROC-AUC and seconds per task as JSON. PyOD's own defaults throughout, as a user would run it.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from pyod.models.auto_encoder import AutoEncoder
from sklearn.metrics import roc_auc_score


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", required=True, help=".npz written by benchmarks/anomaly.py")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    bundle = np.load(args.tasks)
    names = json.loads(str(bundle["names"]))
    results = {}
    for i, name in enumerate(names):
        train = bundle[f"train_{i}"].astype(np.float32) / 255.0
        test = bundle[f"test_{i}"].astype(np.float32) / 255.0
        is_anomaly = bundle[f"label_{i}"]
        t0 = time.perf_counter()
        det = AutoEncoder(random_state=args.seed, verbose=0)
        det.fit(train)
        fit_seconds = time.perf_counter() - t0
        scores = det.decision_function(test)
        results[name] = {"auc": float(roc_auc_score(is_anomaly, scores)), "fit_seconds": fit_seconds,
                         "train": len(train), "test": len(test)}
        print(f"pyod {name}: AUC {results[name]['auc']:.4f} ({fit_seconds:.1f} s)", flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
