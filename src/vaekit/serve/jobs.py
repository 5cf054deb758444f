"""Training runs started from the page: each one is ``vaekit train`` in its own process.

The page's form is checked here as the command line would check it (the same settings
dataclass), then handed to the installed command, so a run trained from the page is exactly one
trained in a terminal. Stopping sends Ctrl-C (the trainer saves a checkpoint and exits); resuming
runs ``vaekit train --resume``. Training processes run at a lower priority than the server, so
the page stays responsive while they use the cores.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from vaekit.errors import VaekitError, flag
from vaekit.run import Run
from vaekit.settings import PAGE_DEFAULTS, TrainConfig, parse_ints, schema

# The settings the form may set (everything else keeps its default); each becomes its flag.
# The settings the page decides itself (where the run goes, how its process runs and reports);
# every other setting of the schema, every registry entry's own included, is on the form.
NOT_ON_PAGE = ("out", "progress", "accelerator", "devices", "num_nodes", "logger")


def form_settings() -> list[dict]:
    """The schema's rows the page's train form offers (see ``vaekit.settings.schema``), with the
    page's own defaults where they differ (``PAGE_DEFAULTS``)."""
    return [{**row, "default": PAGE_DEFAULTS.get(row["name"], row["default"])}
            for row in schema() if row["name"] not in NOT_ON_PAGE]
MOST_JOBS = 4      # trainings at once; more would only share the same cores
# Lower priority than the server, so the page answers while a training uses the cores -- but
# only a little: beside two other busy processes on 2 cores (Intel Xeon), a page training's MNIST
# epoch took 26 s at niceness 10 (a 10th of the CPU share of a normal process) and 4.3 s at 3,
# against 1.05 s idle and 2.4 s for the same training run from a terminal.
NICENESS = 3


class Job:
    def __init__(self, jid: str, run: Path, argv: list[str], log: Path):
        self.id, self.run, self.argv, self.log = jid, run, argv, log
        self.started = time.time()
        self.proc: subprocess.Popen | None = None
        self.stopping = False

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         preexec_fn=lambda: os.nice(NICENESS))
        self.stopping = False

    @property
    def status(self) -> str:
        if self.proc is None:
            return "starting"
        code = self.proc.poll()
        if code is None:
            return "stopping" if self.stopping else "running"
        if code == 0:
            return "finished"
        if code in (130, -signal.SIGINT):
            return "stopped"
        return "failed"

    def last_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][-300:] if lines else ""

    def info(self) -> dict:
        status = self.status
        return {"id": self.id, "run": self.run.name, "path": str(self.run), "status": status,
                "started": datetime.fromtimestamp(self.started).strftime("%H:%M:%S"),
                "message": self.last_line() if status in ("failed", "stopped", "finished") else "",
                "returncode": self.proc.poll() if self.proc else None}


class Jobs:
    def __init__(self, folder: Path, on_start=lambda folder: None):
        self.folder, self.on_start = Path(folder), on_start
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._logs = Path(tempfile.mkdtemp(prefix="vaekit-serve-"))

    def _running(self) -> int:
        return sum(j.status in ("running", "stopping", "starting") for j in self.jobs.values())

    def start(self, form: dict) -> Job:
        """Check the form's settings and start ``vaekit train`` on them; VaekitError when bad."""
        if not isinstance(form, dict):
            raise VaekitError("expected a JSON object of training settings")
        rows = {row["name"]: row for row in form_settings()}
        unknown = sorted(set(form) - set(rows))
        if unknown:
            raise VaekitError(f"{unknown[0]}: not a setting the page can set "
                              f"(expected one of {', '.join(rows)})")
        settings = {k: v for k, v in form.items() if v not in (None, "")}
        for name, value in settings.items():
            if rows[name]["type"].startswith("list[") and isinstance(value, str):
                settings[name] = parse_ints(value, name)
        config = TrainConfig(**settings)  # raises SettingError naming the field
        with self._lock:
            if self._running() >= MOST_JOBS:
                raise VaekitError(f"{MOST_JOBS} trainings are running already; stop one first")
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            name = f"{Path(config.data).name}-{config.model}-{config.backbone}-z{config.latent_dim}-{stamp}"
            run = self.folder / name
            k = 1
            while run.exists() or any(j.run == run for j in self.jobs.values()):
                k += 1
                run = self.folder / f"{name}-{k}"
            argv = [sys.executable, "-m", "vaekit", "train", *_flags(settings), "--no-progress",
                    "--out", str(run)]
            jid = secrets.token_hex(4)
            job = self.jobs[jid] = Job(jid, run, argv, self._logs / f"{jid}.log")
            self.folder.mkdir(parents=True, exist_ok=True)
            self.on_start(self.folder)
            job.start()
        return job

    def get(self, jid: str) -> Job:
        from vaekit.serve.library import NotFound

        if jid not in self.jobs:
            raise NotFound(f"no training with id {str(jid)[:40]!r}")
        return self.jobs[jid]

    def stop(self, jid: str) -> Job:
        """Ctrl-C: the trainer finishes its step, saves a checkpoint and exits."""
        job = self.get(jid)
        if job.status == "running":
            job.stopping = True
            job.proc.send_signal(signal.SIGINT)
        return job

    def resume(self, jid: str) -> Job:
        job = self.get(jid)
        if job.status in ("running", "stopping", "starting"):
            raise VaekitError(f"training {jid} is still running")
        if not Run(job.run).resumable:
            raise VaekitError(f"{job.run.name}: no checkpoint to resume from")
        job.argv = [sys.executable, "-m", "vaekit", "train", "--resume", str(job.run), "--no-progress"]
        job.start()
        return job

    def close(self) -> None:
        """Stop every training (each keeps its checkpoint) when the server stops."""
        for job in self.jobs.values():
            if job.status == "running":
                job.proc.send_signal(signal.SIGINT)
        for job in self.jobs.values():
            if job.proc is not None:
                try:
                    job.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    job.proc.kill()


def _flags(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        if isinstance(value, bool):  # a switch: --attention / --no-attention
            out.append(flag(key) if value else "--no-" + flag(key)[2:])
            continue
        out.append(flag(key))
        out.append(",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
    return out
