"""Restarts: how long a user waits for `vaekit --help`, and from Enter to the first training step
on a folder of 20,000 images that vaekit has already decoded into its cache.

The folder holds CelebA-size (178x218) JPEGs made from the ORL faces (as speed_conv.py builds
them); it is decoded into the cache once, before anything is timed. Each measurement is a fresh
process, timed from launch to exit, in alternating rounds; first_step.py ends the process the
moment the first optimizer step returns. Measured:

- `python -c pass`, `python -c "import torch"` and `python -c "import torch._dynamo"`: the
  interpreter's and PyTorch's own floor (torch 2.13's optimizers import torch._dynamo on their
  first step, so every training process pays the third);
- `vaekit --help`;
- a new run on the cached folder, to its first step: the default MLP VAE at 64x64, and the
  seeds' face VAE (conv 32-64-64-64, latent 500, 128x128, batch 64);
- `vaekit train --resume RUN` of a face VAE run stopped by Ctrl-C, to its first step.

    python benchmarks/restart.py                  # 20,000 images, 5 rounds
    python benchmarks/restart.py --images 2000 --rounds 2
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import HERE, machine, publish
from speed_conv import SETTINGS as FACE  # the face VAE, as the conv benchmark trains it
from speed_conv import build_faces

from vaekit.datasets.folder import load_folder
from vaekit.run.layout import CHECKPOINT

BIN = Path(sys.executable).parent


def wall(cmd: list[str]) -> float:
    """Seconds from launching ``cmd`` to its exit; RuntimeError with its stderr if it fails."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{proc.stderr[-2000:]}")
    return seconds


def interrupted_run(folder: Path, run: Path) -> Path:
    """A face VAE run stopped by Ctrl-C in its first epoch: it saves a checkpoint mid-epoch and
    exits, as a user's Ctrl-C does."""
    log = run.with_suffix(".log")
    with open(log, "w") as err:
        with_bar = [a for a in FACE if a != "--no-progress"]
        proc = subprocess.Popen([str(BIN / "vaekit"), "train", "--data", str(folder), *with_bar,
                                 "--epochs", "3", "--out", str(run)], stdout=subprocess.DEVNULL, stderr=err)
        while "epoch 1/3" not in log.read_text():  # the progress bar: training has started
            if proc.poll() is not None:
                raise RuntimeError(f"the face VAE run ended before training:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        proc.wait()
    if not (run / CHECKPOINT).exists():
        raise RuntimeError(f"Ctrl-C did not leave a checkpoint to resume:\n{log.read_text()[-2000:]}")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--folder", type=Path, default=Path.home() / ".cache" / "vaekit-bench" / "faces-20000")
    args = ap.parse_args()
    folder = args.folder
    if len(list(folder.glob("*.jpg"))) != args.images:
        build_faces(folder, args.images)
    for size in (64, 128):  # decoded once: what follows is a cached restart
        load_folder(folder, image_size=size, channels=3)

    py, vaekit, probe = sys.executable, str(BIN / "vaekit"), str(HERE / "first_step.py")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        resumable = interrupted_run(folder, tmp / "stopped")
        cases = {
            "python -c pass": lambda i: [py, "-c", "pass"],
            "python -c 'import torch'": lambda i: [py, "-c", "import torch"],
            "python -c 'import torch._dynamo'": lambda i: [py, "-c", "import torch._dynamo"],
            "vaekit --help": lambda i: [vaekit, "--help"],
            "new run, MLP VAE 64x64": lambda i: [py, probe, "train", "--data", str(folder),
                                                 "--image-size", "64", "--image-channels", "3",
                                                 "--no-progress", "--out", str(tmp / f"mlp{i}")],
            "new run, face VAE 128x128": lambda i: [py, probe, "train", "--data", str(folder), *FACE,
                                                    "--out", str(tmp / f"face{i}")],
            "resume, face VAE 128x128": lambda i: [py, probe, "train", "--resume", str(resumable)],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(args.rounds):
            for name, cmd in cases.items():
                times[name].append(wall(cmd(i)))
                print(f"round {i + 1}: {name}: {times[name][-1]:.2f} s", file=sys.stderr)

    rows = [f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} |" for name, t in times.items()]
    md = "\n".join([
        "## Restarts: `--help` and a cached folder to the first step",
        "",
        f"`python benchmarks/restart.py --images {args.images} --rounds {args.rounds}` on {machine()}. "
        f"A folder of {args.images:,} CelebA-size JPEGs already decoded into vaekit's cache; every "
        "figure is a fresh process from launch to exit (to the moment the first optimizer step "
        "returns, for training), median and best of the alternating rounds.",
        "",
        "| command | median s | best s |",
        "| --- | ---: | ---: |",
        *rows,
    ])
    publish("restart", md, {"machine": machine(), "images": args.images, "rounds": args.rounds,
                            "seconds": times})
    print(md)


if __name__ == "__main__":
    main()
