"""Training speed beside other busy processes: vaekit against the tutorial loop.

Users train while a browser, an editor or `vaekit serve` keeps a core busy. This script times a
training epoch on MNIST with 0, 1 and 2 other processes spinning (``python3 -c "while True:
pass"``, one core each) for:

- ``vaekit``: `vaekit train --data mnist --epochs 2` (default settings: the MLP VAE);
- ``vaekit conv``: the same with `--backbone conv`, 1 epoch;
- ``page``: the default training started from the page (`vaekit serve`'s own API, a
  `vaekit train` process at lower priority beside the server);
- ``tutorial``: `benchmarks/tutorial_vae.py --epochs 2` (the PyTorch-examples loop).

Each case runs alone with its busy processes (never two timed things at once), in alternating
order, ``--repeats`` times; the table gives the median epoch of each run (range over repeats)
and the ratio to the same case idle. Takes about 8 minutes with the default 2 repeats.

    python benchmarks/contention.py
    python benchmarks/contention.py --cases vaekit tutorial --busy 0 1 --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine, publish  # noqa: E402

HERE = Path(__file__).parent
EXE = shutil.which("vaekit", path=str(Path(sys.executable).parent)) or "vaekit"
DATA = Path.home() / ".cache" / "vaekit" / "mnist"


@contextmanager
def busy(n: int):
    """``n`` processes spinning on a core each, for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def epochs_of(run: Path) -> tuple[list[float], int | None]:
    with open(run / "metrics.csv") as f:
        seconds = [float(r["epoch_seconds"]) for r in csv.DictReader(f)]
    threads = json.loads((run / "config.json").read_text())["train"].get("threads")
    return seconds, threads


def vaekit_cli(work: Path, extra: list[str]) -> tuple[list[float], int | None]:
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run([EXE, "train", "--data", "mnist", "--out", str(run), "--no-progress", *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return epochs_of(run)


def tutorial(work: Path) -> tuple[list[float], int | None]:
    out = work / "tutorial.json"
    subprocess.run([sys.executable, str(HERE / "tutorial_vae.py"), "--data-dir", str(DATA), "--epochs", "2",
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())["epoch_seconds"], None


class Page:
    """A live `vaekit serve` whose training form is posted through its API, as the page does."""

    def __init__(self, work: Path):
        import httpx

        self.dir = work / "page-runs"
        self.dir.mkdir()
        seed_run = work / "seed-run"  # serve needs one run to show
        subprocess.run([EXE, "train", "--data", "mnist", "--epochs", "1", "--out", str(seed_run),
                        "--no-progress"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = [EXE, "serve", str(seed_run), "--port", "0", "--train-dir", str(self.dir)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:
            if found := re.search(r"open (http://\S+)", line):
                url = found.group(1)
                break
        else:
            raise RuntimeError("vaekit serve printed no URL")
        token = re.search(r"token=([^#&]+)", url).group(1)
        self.client = httpx.Client(base_url=url.split("/?")[0], headers={"X-Vaekit-Token": token}, timeout=60)

    def train(self) -> tuple[list[float], int | None]:
        job = self.client.post("/api/jobs", json={"data": "mnist", "epochs": 2}).json()
        while True:
            info = next(j for j in self.client.get("/api/jobs").json()["jobs"] if j["id"] == job["id"])
            if info["status"] not in ("starting", "running"):
                break
            time.sleep(0.5)
        if info["status"] != "finished":
            raise RuntimeError(f"the page's training ended {info['status']}: {info['message']}")
        return epochs_of(Path(info["path"]))

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


CASES = ("vaekit", "vaekit conv", "page", "tutorial")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--busy", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if not (DATA / "train_images.npy").is_file():
        sys.exit(f"{DATA} is missing: run `vaekit train --data mnist --epochs 1` once to cache MNIST")
    work = Path(tempfile.mkdtemp(prefix="vaekit-contention-"))
    page = Page(work) if "page" in args.cases else None
    rows = []
    try:
        for rep in range(args.repeats):
            cases = args.cases if rep % 2 == 0 else args.cases[::-1]
            for n in args.busy:
                for case in cases:
                    with busy(n):
                        if case == "vaekit":
                            seconds, threads = vaekit_cli(work, ["--epochs", "2"])
                        elif case == "vaekit conv":
                            seconds, threads = vaekit_cli(work, ["--epochs", "1", "--backbone", "conv"])
                        elif case == "page":
                            seconds, threads = page.train()
                        else:
                            seconds, threads = tutorial(work)
                    row = {"case": case, "busy": n, "repeat": rep, "epoch_seconds": seconds,
                           "threads": threads, "median": statistics.median(seconds)}
                    print(json.dumps(row), file=sys.stderr)
                    rows.append(row)
    finally:
        if page:
            page.close()
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args)


def report(rows: list[dict], args) -> None:
    def medians(case, n):
        return [r["median"] for r in rows if r["case"] == case and r["busy"] == n]

    lines = [f"Seconds per training epoch on MNIST beside 0, 1 and 2 busy processes (median epoch of each "
             f"run, range over {args.repeats} runs), and its ratio to the same case idle. "
             f"`python benchmarks/contention.py`; {machine()}.", "",
             "| case | " + " | ".join(f"{n} busy" for n in args.busy) + " | threads chosen |",
             "| --- |" + " --- |" * (len(args.busy) + 1)]
    for case in args.cases:
        idle = statistics.median(medians(case, 0)) if 0 in args.busy else None
        cells = []
        for n in args.busy:
            m = medians(case, n)
            cell = f"{min(m):.2f}–{max(m):.2f} s" if len(m) > 1 else f"{m[0]:.2f} s"
            if idle and n:
                cell += f" ({statistics.median(m) / idle:.1f}x)"
            cells.append(cell)
        chosen = {n: sorted({r["threads"] for r in rows if r["case"] == case and r["busy"] == n})
                  for n in args.busy}
        threads = ("; ".join(f"{n} busy: {chosen[n]}" for n in args.busy) if case != "tutorial"
                   else "torch's default (one per core)")
        lines.append(f"| {case} | " + " | ".join(cells) + f" | {threads} |")
    lines += ["", "vaekit reads how many CPUs other processes keep busy while its data loads and runs that "
              "many fewer threads (`vaekit.train.device.choose_threads`); the count is stored with the run, "
              "so a resume uses the same one. The tutorial loop keeps torch's default of one thread per "
              "core."]
    publish("contention", "\n".join(lines), {"rows": rows})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
