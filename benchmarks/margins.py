"""The margins of the suite's learned-outcome tests, over seeds and both numeric paths.

A test that asserts what training learned must hold on every CPU: bf16 autocast where the CPU
multiplies bfloat16 natively, float32 where it does not (AVX2 only, or ``VAEKIT_FLOAT32=1``).
This script reruns the budget of every ``@pytest.mark.learned`` test at several seeds, on both
paths, each in a fresh process, and prints each asserted statistic with its threshold, so the
margin written beside each threshold is a measured range, not one lucky run.

    python benchmarks/margins.py                          # every case, 5 seeds x {auto, float32}
    python benchmarks/margins.py --cases vamp pixelcnn --seeds 0 1 --paths float32

Each case names the test whose budget it repeats (``CASES``); a case rerun replaces its own rows
in margins.json and RESULTS.md and keeps the others'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import HERE, publish  # noqa: E402

from vaekit.train.device import FLOAT32_ENV  # noqa: E402

PATHS = {"auto": {}, "float32": {FLOAT32_ENV: "1"}}


def far_points(ae_codes: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` points of a grid over the prior's 2-sigma disc farthest from every AE code
    (the points the browser test puts the pointer on)."""
    axis = np.linspace(-2, 2, 41)
    grid = np.array([(x, y) for x in axis for y in axis if x * x + y * y <= 4])
    gap = np.sqrt(((grid[:, None] - ae_codes[None]) ** 2).sum(-1)).min(1)
    return grid[np.argsort(-gap)[:n]]


def lesson(folder: Path) -> dict:
    """What the page shows far from the AE's codes: the share of decodes the reference
    classifier reads as one digit (>= 95% sure), for the 16 and the 64 farthest points, and the
    classifier's mean top probability there."""
    from vaekit.models.inference import encode_spread
    from vaekit.run import Run
    from vaekit.tasks.classifier import reference_classifier

    runs = {name: Run.open(folder / name) for name in ("ae", "vae")}
    test = runs["ae"].splits.test
    codes, _ = encode_spread(runs["ae"].model.eval(), test)
    keep = torch.randperm(len(codes), generator=torch.Generator().manual_seed(0))[:2000]  # the page's scatter
    clf = reference_classifier(runs["vae"].data, runs["vae"].splits.train, runs["vae"].splits.test)
    out = {}
    for n in (16, 64):
        z = torch.from_numpy(far_points(codes[keep].numpy(), n)).float()
        for name, run in runs.items():
            with torch.inference_mode():
                img = run.model.eval().decode(z).clamp(0, 1).mul(255).round().div(255)  # as the PNG holds it
            top = clf.probabilities(img).max(1).values
            out[f"{name}_sure_{n}"] = float((top >= 0.95).float().mean())
            out[f"{name}_top_{n}"] = float(top.mean())
    return out


VAEKIT = str(Path(sys.executable).with_name("vaekit"))


def _cli(*args: str, progress: bool = False) -> None:
    """The installed command, in this process's environment (so under its numeric path)."""
    proc = subprocess.run(
        [VAEKIT, *args, *([] if progress else ["--no-progress"])], capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"vaekit {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def pair(seed: int, work: Path) -> dict:
    """test_compare's 6-epoch lesson and test_serve_browser's far-from-the-AE check."""
    out = work / "pair"
    _cli(
        "compare",
        "--data",
        "mnist",
        "--latent-dim",
        "2",
        "--epochs",
        "6",
        "--seed",
        str(seed),
        "--out",
        str(out),
    )
    result = json.loads((out / "compare.json").read_text())
    ae, vae = result["models"]["AE"], result["models"]["VAE"]
    return {
        "classifier_accuracy": result["classifier"]["test_accuracy"],
        "frechet_ratio": vae["frechet_prior"] / ae["frechet_prior"],
        "vae_effective_classes": vae["effective_classes_prior"],
        "ae_effective_classes": ae["effective_classes_prior"],
        "vae_within_3sigma": vae["latent"]["within_3sigma"],
        "ae_within_3sigma": ae["latent"]["within_3sigma"],
        "max_abs_ratio": ae["latent"]["max_abs"] / vae["latent"]["max_abs"],
        **lesson(out),
    }


def reference(seed: int, work: Path) -> dict:
    """test_train's 4-epoch MNIST run (its ARGS, at ``seed``)."""
    import csv

    out = work / "run"
    _cli(
        "train",
        "--data",
        "mnist",
        "--epochs",
        "4",
        "--batch-size",
        "128",
        "--lr",
        "2e-3",
        "--lr-schedule",
        "onecycle",
        "--latent-dim",
        "8",
        "--seed",
        str(seed),
        "--threads",
        "1",
        "--out",
        str(out),
    )
    with open(out / "metrics.csv") as f:
        val = [float(r["val_loss"]) for r in csv.DictReader(f)]
    return {
        "test_loss": json.loads((out / "summary.json").read_text())["test_loss"],
        "val_drop": val[0] - val[-1],
    }


def sklearn_pipeline(seed: int, work: Path) -> dict:
    """test_ecosystem's AutoencoderTransformer + LogisticRegression on 10,000 MNIST images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import vaekit
    from vaekit.sklearn import AutoencoderTransformer

    data = vaekit.datasets.load("mnist")
    x_train = data.train.images[:10000].reshape(10000, -1).numpy()
    pipe = make_pipeline(
        AutoencoderTransformer(latent_dim=16, epochs=15, seed=seed), LogisticRegression(max_iter=1000)
    )
    pipe.fit(x_train, data.train.labels[:10000].numpy())
    return {"accuracy": pipe.score(data.test.images.reshape(10000, -1).numpy(), data.test.labels.numpy())}


def anomaly(seed: int, work: Path) -> dict:
    """test_anomaly's ``fitted`` detector (40 epochs on 320 bar images): ROC-AUC per score kind."""
    from sklearn.metrics import roc_auc_score
    from test_anomaly import bars

    from vaekit.tasks.anomaly import AnomalyDetector

    det = AnomalyDetector(latent_dim=4, hidden=(64,), epochs=40, batch_size=32, contamination=0.05, seed=seed)
    det.fit(bars(320, vertical=False, seed=10 * seed), out=work / "det")
    x = np.concatenate([bars(100, False, seed=10 * seed + 1), bars(100, True, seed=10 * seed + 2)])
    out = {"auc_combined": roc_auc_score([0] * 100 + [1] * 100, det.decision_function(x))}
    x = np.concatenate([bars(50, False, seed=10 * seed + 3), bars(50, True, seed=10 * seed + 4)])
    for kind in ("mse", "bce", "elbo"):
        det.score = kind
        out[f"auc_{kind}"] = roc_auc_score([0] * 50 + [1] * 50, det.decision_function(x))
    return out


def anomaly_cli(seed: int, work: Path) -> dict:
    """test_anomaly's `vaekit anomaly fit` on a folder: class 1's share of the 16 top scores."""
    from conftest import make_image_folder

    folder = make_image_folder(work / "imgs", classes=2, per_class=16, size=(16, 16), mode="L")
    os.environ["VAEKIT_DATA"] = str(work / "data")
    _cli(
        "anomaly",
        "fit",
        "--data",
        str(folder),
        "--classes",
        "0",
        "--out",
        str(work / "det"),
        "--latent-dim",
        "4",
        "--epochs",
        "20",
        "--seed",
        str(seed),
    )
    _cli("anomaly", "score", str(work / "det"), str(folder), "-o", str(work / "s.csv"), progress=True)
    rows = (work / "s.csv").read_text().splitlines()[1:17]
    return {"class_1_in_top_16": sum("class_1" in r for r in rows)}


def vamp(seed: int, work: Path) -> dict:
    """test_vamp: 30 Adam steps under each objective, final loss over first."""
    from test_vamp import _vamp

    from vaekit.objectives import OBJECTIVES, Batch
    from vaekit.settings import TrainConfig

    out = {}
    for objective in ("elbo", "iwae", "tcvae"):
        torch.manual_seed(seed)
        net = _vamp()
        x = (torch.rand(4, 1, 8, 8) > 0.5).float().repeat(4, 1, 1, 1)
        s = TrainConfig(objective=objective, k=2 if objective == "iwae" else 1, prior="vamp")
        fn = OBJECTIVES[objective].fn
        first = float(fn(net, Batch(x, x), s)["loss"].detach())
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(30):
            loss = fn(net, Batch(x, x), s)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[f"{objective}_ratio"] = float(fn(net, Batch(x, x), s)["loss"].detach()) / first
    return out


def pixelcnn(seed: int, work: Path) -> dict:
    """test_vq's PixelCNN on copied 3x3 grids: final NLL and the share of copied positions drawn."""
    import math

    from vaekit.models.pixelcnn import GatedPixelCNN

    torch.manual_seed(seed)
    net = GatedPixelCNN(6, channels=16, layers=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    grids = torch.randint(6, (256,))[:, None, None].expand(256, 3, 3).contiguous()
    for _ in range(150):
        loss = -net.log_prob(grids).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    drawn = net.eval().sample(50, (3, 3), torch.Generator().manual_seed(seed))
    return {
        "nll_over_first_entropy": float(-net.log_prob(grids).mean()) - math.log(6),
        "copied": float((drawn == drawn[:, :1, :1]).float().mean()),
    }


def vq_prior(seed: int, work: Path) -> dict:
    """test_vq's 1-epoch VQ-VAE on MNIST ones and its 1-epoch PixelCNN prior: bits saved."""
    run = work / "vq"
    _cli(
        "train",
        "--data",
        "mnist",
        "--classes",
        "1",
        "--model",
        "vqvae",
        "--latent-dim",
        "8",
        "--codebook-size",
        "64",
        "--epochs",
        "1",
        "--seed",
        str(seed),
        "--out",
        str(run),
    )
    _cli("train-prior", str(run), "--epochs", "1", "--batch-size", "64")
    fit = json.loads((run / "prior.json").read_text())
    return {"bits_saved": fit["uniform_bits_per_image"] - fit["val_bits_per_image"]}


def likelihood(seed: int, work: Path) -> dict:
    """test_likelihood's untrained 6x6 model: bf16 against float32 at k=200, L_1 against the ELBO."""
    from vaekit.models import build_model
    from vaekit.tasks.likelihood import bernoulli_log_lik, log_likelihood

    torch.manual_seed(seed)
    model = build_model(
        model="vae", image_shape=(1, 6, 6), latent_dim=3, hidden=[32, 32], activation="tanh"
    ).eval()
    x = (torch.rand(40, 1, 6, 6) > 0.6).float()
    est = {
        (k, p): log_likelihood(model, x, k, batch_size=16, seed=0, precision=p, progress=False)
        for k, p in ((1, "32"), (200, "32"), (200, "bf16"))
    }
    with torch.no_grad():
        q = model.encode(x)
        elbo = (
            bernoulli_log_lik(model.decode_samples(q.sample(n=400)).flatten(2), x.flatten(1)).mean(0) - q.kl()
        )
    l1, l200, bf16 = est[1, "32"], est[200, "32"], est[200, "bf16"]
    return {
        "k200_gain": float(l200.mean() - l1.mean()),
        "bf16_gap": float((bf16 - l200).abs().max()),
        "elbo_gap": abs(float(elbo.mean()) - float(l1.mean())),
    }


def iwae(seed: int, work: Path) -> dict:
    """test_likelihood's 1-epoch `--preset iwae` run: NLL bound at k=50 and Fashion-MNIST's gap."""
    run = work / "iwae"
    _cli(
        "train",
        "--preset",
        "iwae",
        "--epochs",
        "1",
        "--batch-size",
        "500",
        "--objective",
        "iwae",
        "--k",
        "3",
        "--precision",
        "32",
        "--seed",
        str(seed),
        "--out",
        str(run),
    )
    _cli("evaluate", str(run), "--k", "50", "-n", "300")
    _cli("evaluate", str(run), "--data", "fashion-mnist", "--k", "5", "-n", "100", "--out", str(work / "ood"))
    result = json.loads((run / "eval.json").read_text())
    nll = result["likelihood"]["nll"]
    return {
        "nll": nll,
        "elbo_minus_nll": result["elbo"]["neg_elbo"] - nll,
        "ood_gap": json.loads((work / "ood" / "eval.json").read_text())["likelihood"]["nll"] - nll,
    }


# case -> (what it measures, the test whose budget it repeats, the thresholds that test asserts:
# (statistic, ">" or "<", value)). Statistics without a threshold are shown, not asserted.
CASES = {
    "pair": (
        pair,
        "test_compare::test_mnist_2d_vae_generates..., test_serve_browser::test_far_from_the_aes_codes...",
        [
            ("classifier_accuracy", ">", 0.97),
            ("frechet_ratio", "<", 0.9),
            ("vae_effective_classes", ">", 8.0),
            ("vae_within_3sigma", ">", 0.93),
            ("ae_within_3sigma", "<", 0.8),
            ("max_abs_ratio", ">", 2),
        ],
    ),
    "reference": (
        reference,
        "test_train::test_run_folder_contents",
        [("test_loss", ">", 60), ("test_loss", "<", 140), ("val_drop", ">", 0)],
    ),
    "sklearn": (
        sklearn_pipeline,
        "test_ecosystem::test_transformer_in_a_pipeline_on_mnist",
        [("accuracy", ">", 0.85)],
    ),
    "anomaly": (
        anomaly,
        "test_anomaly::test_predict_agrees..., test_every_score_kind_ranks_anomalies_higher",
        [("auc_combined", ">", 0.95), ("auc_mse", ">", 0.9), ("auc_bce", ">", 0.9), ("auc_elbo", ">", 0.9)],
    ),
    "anomaly_cli": (
        anomaly_cli,
        "test_anomaly::test_cli_fit_and_score_a_folder",
        [("class_1_in_top_16", ">", 11.5)],
    ),
    "vamp": (
        vamp,
        "test_vamp::test_a_vae_with_the_vamp_prior_trains_under_every_objective",
        [("elbo_ratio", "<", 0.8), ("iwae_ratio", "<", 0.8), ("tcvae_ratio", "<", 0.8)],
    ),
    "pixelcnn": (
        pixelcnn,
        "test_vq::test_the_pixelcnn_learns_a_grid_distribution",
        [("nll_over_first_entropy", "<", 1.0), ("copied", ">", 0.9)],
    ),
    "vq_prior": (
        vq_prior,
        "test_vq::test_train_prior_then_sample_from_the_command_line",
        [("bits_saved", ">", 10)],
    ),
    "likelihood": (
        likelihood,
        "test_likelihood::test_model_estimate_is_above_the_elbo_and_bf16_agrees_with_float32",
        [("k200_gain", ">", 0), ("bf16_gap", "<", 0.05), ("elbo_gap", "<", 0.3)],
    ),
    "iwae": (
        iwae,
        "test_likelihood::test_iwae_preset_trains_and_evaluate_reports_the_k_sample_bound",
        [("nll", ">", 60), ("elbo_minus_nll", ">", 0), ("ood_gap", ">", 100)],
    ),
}


def measure(case: str, seed: int, path: str) -> dict:
    """One case at one seed on one numeric path, in a fresh process (the path is read at start)."""
    env = {
        **os.environ,
        **PATHS[path],
        "PYTHONPATH": os.pathsep.join([str(HERE.parent / "tests"), str(HERE)]),
    }
    env.pop(FLOAT32_ENV, None) if path == "auto" else None
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", case, str(seed)], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"{case} seed {seed} {path} failed:\n{proc.stderr[-3000:]}")
    return {"case": case, "seed": seed, "path": path, **json.loads(proc.stdout.strip().splitlines()[-1])}


def _fmt(v: float) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def table(case: str, rows: list[dict]) -> str:
    """A case's rows (path x seed) and, under them, each threshold beside the range measured."""
    fn, test, checks = CASES[case]
    stats = [k for k in rows[0] if k not in ("case", "seed", "path")]
    lines = [
        f"**{case}** — {fn.__doc__.strip()} (`{test}`)",
        "",
        "| path | seed | " + " | ".join(stats) + " |",
        "|---|---:|" + "---:|" * len(stats),
    ]
    lines += [f"| {r['path']} | {r['seed']} | " + " | ".join(_fmt(r[k]) for k in stats) + " |" for r in rows]
    held = []
    for stat, op, value in checks:
        vals = [r[stat] for r in rows]
        ok = all(v > value if op == ">" else v < value for v in vals)
        held.append(
            f"{stat} {op} {value}: {_fmt(min(vals))}–{_fmt(max(vals))} "
            f"({'held in all' if ok else 'FAILED in some'} {len(vals)})"
        )
    return "\n".join(lines + ["", "Thresholds: " + "; ".join(held) + "."])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    ap.add_argument("--no-publish", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--rows", type=Path, help="publish the JSON lines an earlier run printed (its --cases)")
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(CASES[args.worker[0]][0](int(args.worker[1]), Path(tmp))))
        return
    lines = args.rows.read_text().splitlines() if args.rows else []
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    for case in [] if args.rows else args.cases:
        for seed in args.seeds:
            for path in args.paths:
                rows.append(measure(case, seed, path))
                print(json.dumps(rows[-1]), flush=True)
    if args.no_publish:
        return
    from vaekit.train.device import cpu_info

    saved = HERE / "margins.json"
    kept = [
        r
        for r in (json.loads(saved.read_text())["rows"] if saved.exists() else [])
        if r["case"] not in {n["case"] for n in rows}
    ]
    rows = [r for r in kept + rows if r["case"] in CASES]
    cpu = cpu_info()
    parts = [
        table(case, [r for r in rows if r["case"] == case])
        for case in CASES
        if any(r["case"] == case for r in rows)
    ]
    publish(
        "margins",
        f"`python benchmarks/margins.py` on {cpu['model']} ({', '.join(cpu['flags'])}): each "
        "learned-outcome test's budget per seed and numeric path (auto = bf16 autocast here; float32 = "
        "`VAEKIT_FLOAT32=1`, what a CPU without native bf16 runs)\n\n" + "\n\n".join(parts),
        {"rows": rows},
    )


if __name__ == "__main__":
    main()
