"""Training on real data: outputs of a run, exact resume after SIGKILL and Ctrl-C, the NaN guard."""

import csv
import dataclasses
import json
import os
import random
import signal
import subprocess
import time

import pytest
import torch
from conftest import vaekit_cmd
from safetensors import safe_open

import vaekit
from vaekit.errors import VaekitError
from vaekit.objectives import OBJECTIVES

# A short real-data run: MNIST, 4 epochs of 20% of the training images would not test the loader's
# full path, so it uses all of them at a batch size that keeps an epoch near 2 s on 2 cores.
ARGS = ["--data", "mnist", "--epochs", "4", "--batch-size", "128", "--lr", "2e-3",
        "--lr-schedule", "onecycle", "--latent-dim", "8", "--seed", "3", "--no-progress", "--threads", "1"]


def checkpoint_epoch(run) -> tuple[int, int]:
    path = run / "checkpoint.safetensors"
    if not path.exists():
        return -1, 0
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads(f.metadata()["vaekit"])
    except Exception:  # noqa: BLE001 -- being replaced at this moment
        return -1, 0
    return header["epoch"], header["step"]


def wait_for(proc, run, epoch: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while checkpoint_epoch(run)[0] < epoch:
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "training did not reach the expected epoch"
        time.sleep(0.05)


def metrics(run) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The uninterrupted run every interrupted one must match."""
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(vaekit_cmd() + ["train", *ARGS, "--out", str(out)], check=True,
                   capture_output=True, timeout=600)
    return out


@pytest.mark.learned
def test_run_folder_contents(reference_run):
    run = reference_run
    summary = json.loads((run / "summary.json").read_text())
    for key in ("test_loss", "test_recon", "test_kl", "train_seconds", "epochs"):
        assert key in summary
    assert summary["epochs"] == 4
    assert abs(summary["test_loss"] - summary["test_recon"] - summary["test_kl"]) < 1e-6
    # a 4-epoch MNIST VAE, far below the untrained ~543: 118.5-119.7, validation loss down 14-15.4
    # (seeds 0-4 x {bf16, float32}, benchmarks/margins.py, Intel Xeon with AMX)
    assert 60 < summary["test_loss"] < 140
    rows = metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert len(list((run / "grids").glob("samples_epoch*.png"))) == 4
    assert len(list((run / "grids").glob("recon_epoch*.png"))) == 4
    model = vaekit.load(run)
    assert model.sample(2).shape == (2, 1, 28, 28)
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["test_protocol"].startswith("official mnist test split")


def _kill_when(proc, condition, timeout: float = 120) -> bool:
    """SIGKILL ``proc`` as soon as ``condition()`` holds (polled every millisecond); False when
    the process ended first."""
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            return False
        assert time.time() < deadline, "the moment to kill never came"
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


# serial: the random moment is placed from the reference run's epoch times, which a test running
# beside it on the other CPU would make unlike the chain's own
@pytest.mark.serial
def test_ctrl_c_and_sigkill_at_random_moments_and_mid_checkpoint_then_resume_matches(reference_run, tmp_path):
    """One run interrupted four times, each time restarted the way a user would (the same command
    while no checkpoint exists yet, ``--resume`` after): killed the instant its first checkpoint
    write begins; stopped by Ctrl-C in its second epoch, which saves a mid-epoch checkpoint and
    names the command that resumes; killed at a random moment of its third epoch; killed inside a
    later checkpoint's safetensors write. The run ends bit-identical to the uninterrupted one. The
    seed of the random moment is in the failure message (VAEKIT_KILL_SEED replays it). One chain
    rather than a run per way of stopping: each uninterrupted 4-epoch run costs about 10 s."""
    seed = int(os.environ.get("VAEKIT_KILL_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    out = tmp_path / "killed"
    ckpt = out / "checkpoint.safetensors"
    fresh = ["train", *ARGS, "--out", str(out)]
    writing = lambda: any(out.glob(".checkpoint.safetensors.*.tmp"))  # noqa: E731
    inside = lambda: any(out.glob(".tmp??????"))  # noqa: E731 -- safetensors' own temporary, mid-write
    # the random moment falls inside the third epoch, with the fourth left for the last kill, on
    # any machine: within 0.8 of the uninterrupted run's fastest epoch after the second one ends
    with open(reference_run / "metrics.csv") as f:
        epoch_seconds = min(float(row["epoch_seconds"]) for row in csv.DictReader(f))
    log = []
    for how in ("mid-checkpoint", "ctrl-c", "random", "inside save_file"):
        proc = subprocess.Popen(vaekit_cmd() + (["train", "--resume", str(out)] if ckpt.exists() else fresh),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if how == "ctrl-c":  # 0.7 s into the second epoch
            wait_for(proc, out, 1)
            time.sleep(0.7)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err
            assert "vaekit train --resume" in err
            assert checkpoint_epoch(out)[1] > 0, "the checkpoint was taken mid-epoch"
            log.append((how, True, checkpoint_epoch(out)))
            continue
        if how == "random":
            wait_for(proc, out, 2)
            moment = time.time() + rng.uniform(0.0, 0.8 * epoch_seconds)
            killed = _kill_when(proc, lambda m=moment: time.time() > m)
        else:
            killed = _kill_when(proc, writing if how == "mid-checkpoint" else inside)
        proc.stderr.close()
        log.append((how, killed, checkpoint_epoch(out)))
        assert killed and not (out / "summary.json").exists(), (seed, log)
        assert not ckpt.exists() or checkpoint_epoch(out)[0] >= 1, (seed, log)  # the old file, whole
    subprocess.run(vaekit_cmd() + ["train", "--resume", str(out)], check=True, capture_output=True, timeout=600)
    assert not list(out.glob(".*")) and not list(out.glob("*/.*")), (seed, log)  # no temporary survives
    assert_same_result(reference_run, out)


def assert_same_result(a, b):
    ra, rb = metrics(a), metrics(b)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb, strict=True):
        for k in x:
            assert abs(x[k] - y[k]) <= 1e-4 * max(1.0, abs(x[k])), (k, x[k], y[k])
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    for k in ("test_loss", "test_recon", "test_kl"):
        assert abs(sa[k] - sb[k]) <= 1e-4, (k, sa[k], sb[k])


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = OBJECTIVES["elbo"]
    steps_per_epoch = 4  # 200 images, 10% test, 2% val -> 176 train, batch 48

    def poisoned(model, batch, s):
        terms = real.fn(model, batch, s)
        if model.training:
            calls["n"] += 1
            if calls["n"] > steps_per_epoch + 1:  # the second epoch goes bad
                return {k: v * float("nan") for k, v in terms.items()}
        return terms

    monkeypatch.setitem(OBJECTIVES, "elbo", dataclasses.replace(real, fn=poisoned))
    out = tmp_path / "nan"
    with pytest.raises(VaekitError, match="non-finite in epoch 2") as err:
        vaekit.fit(data="lfw-faces", epochs=3, batch_size=48, out=str(out), progress=False)
    assert "Last good checkpoint: epoch 1" in str(err.value)
    assert checkpoint_epoch(out) == (1, 0)
    model = vaekit.load(out)
    assert all(torch.isfinite(p).all() for p in model.parameters())
