"""Sharp faces without downloaded weights, measured: the sharp objective (L1, the focal frequency
loss, MS-SSIM, an adaptive PatchGAN term) against plain MSE, same network, same epochs, seeds.

Two data sets: ORL's 400 grey faces at 64x64, and the 128x128 RGB folder the face-VAE tutorial
asks for, built from ORL (resized, tinted, shifted, one sub-folder per person so that identities
are labels). For each run, on the held-out test faces: PSNR, SSIM, the high-frequency share of
the reconstructions' spectrum beside the originals' (vaekit.objectives.detail); and a Fréchet
distance of 400 prior samples, and of every face's reconstruction, to the 400 real faces in the
128 features of a classifier trained on the identities (vaekit's reference classifier: an
identity-feature Fréchet distance, not FID, which needs Inception weights). Results accumulate
in faces.json (a run already there is not repeated); the figure shows originals, both
reconstructions and both models' samples.

    python benchmarks/faces.py                        # orl-64, 3 seeds; then rgb-128, 1 seed
    python benchmarks/faces.py --data orl-64 --seeds 0
    python benchmarks/faces.py --render               # table and figure from the JSON
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _results import HERE, machine, publish
from PIL import Image
from speed_conv import celeba_like

from vaekit.datasets import to_float

BIN = Path(sys.executable).parent
RESULTS = HERE / "faces.json"
FIGURE = HERE / "figures" / "faces.png"
# N(0, I) draws; draws from a 10-component Gaussian mixture fitted to the training codes
# (`vaekit sample --sampler gmm`; Ghosh et al. 2020), which a sharp decoder with a loose posterior
# needs; and from a second VAE fitted to them (`--sampler two-stage`; Dai & Wipf 2019)
SAMPLERS = ("prior", "gmm", "two-stage")
KEPT = HERE / ".faces-runs"  # the trained runs, for the figure (not committed)
# "sharp" is the objective's defaults, which `make demo-faces` trains; "sharp+gan" adds the PatchGAN
SETTINGS = {
    "mse": ["--loss", "mse"],
    "sharp": ["--objective", "sharp", "--loss", "l1", "--frequency-weight", "1", "--spectrum-weight", "40",
              "--ssim-weight", "0.84"],
    "sharp+gan": ["--objective", "sharp", "--loss", "l1", "--frequency-weight", "1",
                  "--spectrum-weight", "40", "--ssim-weight", "0.84", "--adversarial-weight", "0.1",
                  "--adversarial-start", "0.5", "--patch-width", "32"],
}
DATA = {
    "orl-64": {"args": ["--data", "orl-faces", "--image-size", "64", "--backbone", "conv",
                        "--latent-dim", "64"], "epochs": 60},
    # the seeds' face VAE: 3x128x128, latent 500, one-cycle (vaekit's default schedule)
    "rgb-128": {"args": ["--image-size", "128", "--image-channels", "3", "--backbone", "conv",
                         "--latent-dim", "500", "--batch-size", "32"], "epochs": 30},
}


def build_rgb_faces(folder: Path, seed: int = 0) -> Path:
    """The 400 ORL faces as CelebA-size (178x218) RGB JPEGs, resized by a random scale, tinted,
    shifted by up to 12 pixels, in one sub-folder per person (its label)."""
    from vaekit.datasets import load

    data = load("orl-faces")  # all 400 in its training set: ORL has no official test split
    faces, people = np.asarray(data.train.images)[:, 0], data.train.all_labels().numpy()
    rng = np.random.default_rng(seed)
    for i, (grey, person) in enumerate(zip(faces, people, strict=True)):
        (folder / f"p{person:02d}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(celeba_like(grey, rng)).save(folder / f"p{person:02d}" / f"{i:03d}.jpg", quality=90)
    return folder


def measure(path: Path, seed: int) -> dict:
    """Fidelity on the run's test faces and identity-feature Fréchet distances (see the module)."""
    from vaekit.models.inference import reconstruct
    from vaekit.objectives.detail import high_frequency_share, ssim
    from vaekit.run import Run
    from vaekit.tasks.classifier import reference_classifier
    from vaekit.tasks.metrics import psnr

    run = Run.open(path)
    splits = run.splits
    test = to_float(splits.test.take(torch.arange(len(splits.test))))
    every = torch.cat([to_float(s.take(torch.arange(len(s))))
                       for s in (splits.train, splits.val, splits.test)])
    recon_test = reconstruct(run.model, test)
    clf = reference_classifier(run.data, splits.train, splits.test, seed=0, log=lambda m: None)
    reference = clf.reference(every)
    return {"psnr": float(psnr(recon_test, test).mean()), "ssim": float(ssim(recon_test, test).mean()),
            "hf_share": high_frequency_share(recon_test), "hf_share_originals": high_frequency_share(test),
            **{f"frechet_{sampler}": clf.judge(reference, run.sample(len(every), sampler, seed))["frechet"]
               for sampler in SAMPLERS},
            "frechet_recon": clf.judge(reference, reconstruct(run.model, every))["frechet"],
            "classifier_accuracy": clf.test_accuracy, "test_faces": len(test)}


def train(data: str, setting: str, seed: int, folder: Path | None) -> tuple[Path, float]:
    spec = DATA[data]
    out = KEPT / f"{data}-{setting}-{seed}"
    args = [str(BIN / "vaekit"), "train", *spec["args"], *SETTINGS[setting], "--epochs", str(spec["epochs"]),
            "--seed", str(seed), "--out", str(out), "--no-progress"]
    if folder is not None:
        args[2:2] = ["--data", str(folder)]
    shutil.rmtree(out, ignore_errors=True)  # a run cut short before it was measured
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return out, time.perf_counter() - t0


def figure(results: dict, data: str) -> Path | None:
    """Originals, both reconstructions and both models' samples, from the first seed's runs."""
    from vaekit.models.inference import reconstruct
    from vaekit.report.plots import labelled_strips
    from vaekit.run import Run

    runs = {s: KEPT / f"{data}-{s}-0" for s in SETTINGS}
    if not all((p / "model.safetensors").is_file() for p in runs.values()):
        return None
    opened = {s: Run.open(p) for s, p in runs.items()}
    test = opened["mse"].splits.test
    real = to_float(test.take(torch.arange(8)))
    rows = [real] + [reconstruct(r.model, real) for r in opened.values()] + \
        [r.sample(8, sampler, 0) for sampler in SAMPLERS for r in opened.values()]
    labels = ["original"] + [f"{s} recon" for s in opened] + [f"{s} {sampler}" for sampler in SAMPLERS
                                                               for s in opened]
    path = HERE / "figures" / f"faces-{data}.png"
    path.parent.mkdir(exist_ok=True)
    return labelled_strips(torch.cat(rows), 8, labels, path, f"{data}: held-out faces, reconstructions, "
                           "prior, gmm and two-stage samples (seed 0)")


def render(results: dict) -> None:
    keys = ("psnr", "ssim", "hf_share", *(f"frechet_{s}" for s in SAMPLERS), "frechet_recon", "minutes")
    lines = [f"Measured on {results.get('machine', '?')}.", "",
             "Median over seeds (range). HF share: the share of spectral power above half the Nyquist "
             "frequency in the test reconstructions, the originals' beside it. Fréchet: in the features "
             "of a classifier of the 40 identities (lower is better), of 400 N(0, I) draws (prior), 400 "
             "draws of a 10-component Gaussian mixture fitted to the training codes (gmm), 400 of a "
             "second VAE fitted to them (two-stage), and the 400 faces' reconstructions (recon), each "
             "against the 400 real faces.", "",
             "| data | setting | seeds | PSNR dB | SSIM | HF share (originals) | "
             + "".join(f"Fréchet {s} | " for s in SAMPLERS) + "Fréchet recon | minutes |",
             "|" + " --- |" * (8 + len(SAMPLERS))]
    checks, figures = [], []
    for data in DATA:
        rows = {s: [r for r in results["runs"] if r["data"] == data and r["setting"] == s] for s in SETTINGS}
        for setting, rs in rows.items():
            if not rs:
                continue
            cell = {k: _cell([r[k] for r in rs], ".1f" if k == "minutes" else None) for k in keys}
            originals = statistics.median(r["hf_share_originals"] for r in rs)
            frechets = "".join(f"{cell[f'frechet_{s}']} | " for s in SAMPLERS)
            lines.append(f"| {data} | {setting} | {len(rs)} | {cell['psnr']} | {cell['ssim']} | "
                         f"{cell['hf_share']} ({originals:.4f}) | {frechets}{cell['frechet_recon']} | "
                         f"{cell['minutes']} |")
        med = {s: {k: statistics.median(r[k] for r in rs) for k in (*keys, "hf_share_originals")}
               for s, rs in rows.items() if rs}
        checks += [_check(data, s, med["mse"], med[s]) for s in med if s != "mse" and "mse" in med]
        fig = figure(results, data)
        if fig is not None:
            figures.append(f"![{data}](figures/{fig.name})")
    lines += ["", *checks, "", *figures, "", "Settings: " + "; ".join(f"`{k}`: `{' '.join(v)}`"
                                                      for k, v in SETTINGS.items())]
    publish("faces", "## Sharp faces: the sharp objective against MSE\n\n" + "\n".join(lines), results)


def _check(data: str, name: str, m: dict, s: dict) -> str:
    """One line on the issue's checks: setting ``name``'s medians ``s`` against MSE's ``m``."""
    def lower(key):
        change = 100 * (1 - s[key] / m[key])
        return f"{change:.0f}% lower" if change >= 0 else f"{-change:.0f}% higher"

    def share(r):
        return f"{100 * r['hf_share'] / r['hf_share_originals']:.0f}%"

    samples = ", ".join(f"of {s} samples {lower(f'frechet_{s}')}" for s in SAMPLERS)
    return (f"- {data}: {name} against MSE, medians: Fréchet {samples}, "
            f"of reconstructions {lower('frechet_recon')}; "
            f"HF share {share(s)} of the originals' (MSE {share(m)}); "
            f"PSNR {s['psnr'] - m['psnr']:+.2f} dB.")


def _cell(values: list[float], fmt: str | None = None) -> str:
    med = statistics.median(values)
    fmt = fmt or (".2f" if abs(med) >= 1 else ".4f")
    return f"{med:{fmt}}" + (f" ({min(values):{fmt}}-{max(values):{fmt}})" if len(values) > 1 else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=list(DATA), nargs="*", default=list(DATA))
    p.add_argument("--seeds", type=int, nargs="*", default=None,
                   help="default: 0 1 2 on orl-64, 0 on rgb-128")
    p.add_argument("--render", action="store_true")
    a = p.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    if not a.render:
        results["machine"] = machine()
        for data in a.data:
            folder = None
            if data == "rgb-128":  # kept: the runs read their data from it again for the figure
                folder = KEPT / "rgb-faces"
                if not folder.is_dir():  # built beside, then renamed: never a half-built folder
                    shutil.rmtree(KEPT / "rgb-faces.part", ignore_errors=True)
                    build_rgb_faces(KEPT / "rgb-faces.part").rename(folder)
            for seed in a.seeds if a.seeds is not None else ([0, 1, 2] if data == "orl-64" else [0]):
                for setting in SETTINGS:
                    if any(r["data"] == data and r["setting"] == setting and r["seed"] == seed
                           for r in results["runs"]):
                        continue
                    path, seconds = train(data, setting, seed, folder)
                    row = {"data": data, "setting": setting, "seed": seed, "minutes": seconds / 60,
                           **measure(path, seed)}
                    print(json.dumps(row), flush=True)
                    results["runs"].append(row)
                    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        for row in results["runs"]:  # a sampler added since a run was measured: measured if it is kept
            path = KEPT / f"{row['data']}-{row['setting']}-{row['seed']}"
            if any(f"frechet_{s}" not in row for s in SAMPLERS) and (path / "model.safetensors").is_file():
                row.update({k: v for k, v in measure(path, row["seed"]).items() if k not in row})
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    render(results)


if __name__ == "__main__":
    main()
