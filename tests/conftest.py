"""Shared test helpers: tiny image folders made in tmp_path, and the installed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def _pin_worker() -> None:
    """Under `pytest -n N` (pytest-xdist, `make test`), give each worker one CPU of its own.

    A worker's runs then take one thread (vaekit counts the CPUs in its affinity mask, and so do
    OpenMP and OpenBLAS when they start, which is why this runs before numpy or torch is
    imported), so the workers never share a core: two processes of two threads each on two cores
    were measured 2-30x slower. The commands a test starts inherit the mask."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > len(cpus):
        return  # more workers than CPUs: pinning would stack them; leave the scheduler to it
    os.sched_setaffinity(0, {cpus[int(worker[2:])]})  # gw0, gw1, ...: at most one worker per CPU


_pin_worker()

import numpy as np  # noqa: E402 -- after the pinning above
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--float32", action="store_true",
                     help="run 'auto' precision in float32 everywhere, as a CPU without native bfloat16 does "
                          "(sets VAEKIT_FLOAT32=1 for this process and every command it starts)")


def pytest_configure(config):
    if config.getoption("--float32"):
        os.environ["VAEKIT_FLOAT32"] = "1"


def vaekit_cmd() -> list[str]:
    """The installed console script (next to this interpreter), as a user would run it."""
    exe = shutil.which("vaekit", path=str(Path(sys.executable).parent)) or shutil.which("vaekit")
    assert exe, "the vaekit console script is not installed (run `make test`)"
    return [exe]


def run_cli(*args: str, check: bool = True, env: dict | None = None, timeout: int = 600, cwd=None):
    """Run ``vaekit ARGS``; returns the CompletedProcess (text output)."""
    proc = subprocess.run(vaekit_cmd() + list(args), capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"vaekit {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def make_image_folder(root: Path, classes: int = 2, per_class: int = 12, size=(40, 30),
                      mode: str = "RGB") -> Path:
    """Write ``classes`` sub-folders of JPEG/PNG images with class-dependent brightness."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = 60 + 120 * c
            arr = np.clip(base + rng.normal(0, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
            img = Image.fromarray(arr).convert(mode)
            ext = "jpg" if i % 2 == 0 else "png"
            img.save(d / f"img_{i}.{ext}")
    return root


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """A private $VAEKIT_DATA so folder caches made by a test stay in tmp_path."""
    home = tmp_path / "vaekit-data"
    monkeypatch.setenv("VAEKIT_DATA", str(home))
    return home


# Tiny settings every in-process training test shares: 8x8 grey images, small networks, float32
# and one thread (bit-exact resumes and comparisons, whatever else the machine is doing: the
# thread count chosen from the free CPUs changes the last bits of sums), a few steps per epoch.
TINY = dict(latent_dim=3, hidden=[16], channels=[4, 8], image_size=8, image_channels=1, epochs=2,
            batch_size=16, lr=3e-3, precision="32", progress=False, seed=0, threads=1)


@pytest.fixture(scope="session")
def _tiny_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return make_image_folder(root / "images", classes=2, per_class=40, size=(12, 12)), root / "cache"


@pytest.fixture(scope="session")
def tiny_run(_tiny_folder, tmp_path_factory):
    """A finished 2-epoch run on the tiny folder, for tests that read or damage a copy of it:
    (run folder, the $VAEKIT_DATA it was trained under)."""
    folder, cache = _tiny_folder
    run = tmp_path_factory.mktemp("good") / "run"
    run_here("train", "--data", str(folder), "--image-size", "8", "--image-channels", "1", "--latent-dim", "3",
            "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--precision", "32", "--no-progress",
            "--out", str(run), env={"VAEKIT_DATA": str(cache)})
    return run, cache


@pytest.fixture
def tiny_data(_tiny_folder, monkeypatch):
    """A labelled folder of 2 x 40 small images; $VAEKIT_DATA points at a cache kept for the
    session (so it is decoded once) for this test only -- the built-in data sets stay where they are."""
    folder, cache = _tiny_folder
    monkeypatch.setenv("VAEKIT_DATA", str(cache))
    return folder


@pytest.fixture(scope="session")
def mnist_pair(tmp_path_factory):
    """`vaekit compare` on MNIST with 2-D codes, 6 epochs each (about 25 s), shared by the tests
    of the lesson it shows: (its folder with ae/ and vae/, compare.json as a dict)."""
    import json

    out = tmp_path_factory.mktemp("mnist") / "mnist"
    run_here("compare", "--data", "mnist", "--latent-dim", "2", "--epochs", "6", "--out", str(out), "--no-progress")
    return out, json.loads((out / "compare.json").read_text())


@pytest.fixture(scope="session")
def face_run(tmp_path_factory):
    """A small conv VAE on the built-in ORL faces at 32x32 (3 epochs), with the attribute
    directions of the labels shipped beside the data (`vaekit attributes`): its run folder."""
    run = tmp_path_factory.mktemp("faces") / "faces"
    run_here("train", "--data", "orl-faces", "--backbone", "conv", "--image-size", "32", "--channels", "32,64,64",
             "--latent-dim", "16", "--epochs", "3", "--batch-size", "32", "--precision", "32", "--out", str(run),
             "--no-progress")
    run_here("attributes", str(run))
    return run


def run_main(*args: str, env: dict | None = None, cwd=None) -> tuple[int, str, str]:
    """``vaekit ARGS`` through the console entry point in this process (no interpreter start-up,
    the same code path, error handling included): (exit status, stdout, stderr). For the long
    tables of bad inputs; the installed command itself is run by the other CLI tests."""
    import contextlib
    import io

    from vaekit.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    os.environ.update(env or {})
    sys.argv = ["vaekit", *args]
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return code, out.getvalue(), err.getvalue()


def run_here(*args: str, check: bool = True, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """``run_cli`` without the interpreter start-up (about 2 s a call): the console entry point in
    this process, its result shaped like ``run_cli``'s. Tests of what a command does use it;
    test_cli.py, test_ecosystem.py and test_train.py run the installed command itself."""
    code, out, err = run_main(*args, env=env, cwd=cwd)
    if check and code != 0:
        raise AssertionError(f"vaekit {' '.join(args)} failed ({code}):\n{err[-3000:]}")
    return subprocess.CompletedProcess(["vaekit", *args], code, out, err)


def layer_pass(module, x, bf16: bool) -> list:
    """Output, input gradient, weight gradient and bias gradient (zeros(1) where there is no bias)
    of one forward and backward of a layer, under bf16 autocast or not, with a loss whose gradient
    varies over every output pixel (positive, so that no sum cancels)."""
    import torch

    module.zero_grad()
    x = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = module(x)
    (y.float() * torch.linspace(0.1, 1, y.numel()).view(y.shape)).sum().backward()
    return [y, x.grad, module.weight.grad, module.bias.grad if module.bias is not None else torch.zeros(1)]
