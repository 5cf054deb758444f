"""Threads from the CPUs other work leaves free: chosen when a run starts, stored with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY, run_cli

import vaekit
from vaekit.train.device import CpuLoad, choose_threads, usable_cpus

# these runs read how busy the machine is and how many CPUs they may use: `make test` runs them
# alone, not beside another worker on a CPU of its own
pytestmark = pytest.mark.serial


def _stat(busy: int, idle: int) -> str:
    # /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
    return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n"


def test_the_free_cpus_are_the_usable_ones_less_what_others_keep_busy(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    monkeypatch.setattr(CpuLoad, "STAT", stat)
    monkeypatch.setattr(vaekit.train.device, "usable_cpus", lambda: 4)
    ticks = os.sysconf("SC_CLK_TCK")
    # values clear of a rounding edge: this process's own CPU time, read in 10 ms ticks, moves the
    # measured figure by up to ~0.2 over the wait
    for others, threads in ((0.0, 4), (1.0, 3), (2.8, 1), (3.4, 1), (4.0, 1)):
        stat.write_text(_stat(1000, 1000))
        load = CpuLoad()
        t0 = time.perf_counter()
        time.sleep(0.2)
        seconds = time.perf_counter() - t0
        # in those seconds, `others` CPUs busy and the rest idle (this process's own time is ~0)
        stat.write_text(_stat(1000 + round(others * seconds * ticks), 1000 + round((4 - others) * seconds * ticks)))
        assert choose_threads(load) == threads, others
    assert choose_threads(processes=3) == 1 and choose_threads(processes=2) == 2  # --devices split evenly
    monkeypatch.setattr(CpuLoad, "STAT", tmp_path / "missing")
    assert choose_threads() == 4  # no /proc/stat (macOS, Windows): every usable CPU


def test_a_run_beside_a_busy_process_takes_one_thread_fewer_and_its_resume_the_same(tiny_data, tmp_path):
    # the real measure: another process spinning on one core while `vaekit train` starts
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        run_cli("train", "--data", str(tiny_data), "--latent-dim", "3", "--hidden", "16", "--image-size", "8",
                "--image-channels", "1", "--epochs", "2", "--batch-size", "16", "--no-progress",
                "--out", str(tmp_path / "run"), env={"OMP_NUM_THREADS": ""})
    finally:
        spinner.kill()
        spinner.wait()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]["threads"]
    assert saved == max(1, usable_cpus() - 1)
    # a resume (here of the finished run: it rewrites the weights) keeps the stored count even idle
    proc = run_cli("train", "--resume", str(tmp_path / "run"), env={"OMP_NUM_THREADS": ""})
    assert proc.returncode == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["threads"] == saved


def test_omp_num_threads_and_the_flag_are_honoured(tiny_data, tmp_path):
    flags = ["--data", str(tiny_data), "--latent-dim", "3", "--hidden", "16", "--image-size", "8",
             "--image-channels", "1", "--epochs", "1", "--batch-size", "16", "--no-progress"]
    run_cli("train", *flags, "--out", str(tmp_path / "env"), env={"OMP_NUM_THREADS": "1"})
    run_cli("train", *flags, "--threads", "3", "--out", str(tmp_path / "flag"))
    read = lambda name: json.loads((tmp_path / name / "config.json").read_text())["train"]["threads"]  # noqa: E731
    assert (read("env"), read("flag")) == (1, 3)
    bad = run_cli("train", *flags, "--threads", "0", "--out", str(tmp_path / "bad"), check=False)
    assert bad.returncode == 2 and "--threads" in bad.stderr and "integer >= 1" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_a_library_fit_gives_the_callers_thread_count_back(tiny_data, tmp_path):
    before = torch.get_num_threads()
    vaekit.fit(data=str(tiny_data), out=str(tmp_path / "run"), **dict(TINY, threads=None, epochs=1))
    assert torch.get_num_threads() == before


def _survivors(x: torch.Tensor) -> int:
    """How many of ``x``'s denormal entries an elementwise product keeps (split over the threads)."""
    return int((x * 1.0 != 0).sum())


def test_denormals_are_flushed_on_every_thread_of_the_team_and_restored():
    # the flags belong to each thread: set on the caller only, the other thread's half of a
    # parallel product keeps its denormals. scikit-learn's own libgomp, loaded first, must not
    # be taken for the runtime torch's kernels run on.
    import numpy as np
    from sklearn.cluster import KMeans

    from vaekit.train.device import flush_denormals

    KMeans(2, n_init=1, random_state=0).fit(np.random.default_rng(0).random((2000, 4)))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    x = torch.full((1 << 20,), 1e-40)  # denormal in float32; one product splits over both threads
    try:
        assert _survivors(x) == x.numel()  # the team exists and computes denormals
        if not flush_denormals(True):  # a CPU without the flags keeps denormals (not x86)
            assert _survivors(x) == x.numel()
            return
        assert _survivors(x) == 0
    finally:
        flush_denormals(False)
        torch.set_num_threads(threads)
    assert _survivors(x) == x.numel()
