"""The runs under a folder, as rows of a table (what `vaekit runs` prints)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from vaekit.errors import SettingError, VaekitError
from vaekit.run.layout import CONFIG, SUMMARY

COLUMNS = ("run", "data", "model", "backbone", "latent", "epochs", "test_loss", "date")
MAX_DEPTH = 4  # runs/compare-*/vae is two levels down; a comparison's own folders are found too


def _row(config_path: Path, folder: Path) -> dict | None:
    run = config_path.parent
    try:
        config = json.loads(config_path.read_text())
        model, train = config["model"], config.get("train", {})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a run folder (or a damaged one): left out of the table
    summary_path = run / SUMMARY
    try:
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    except (OSError, ValueError):
        summary = {}
    stamp = (summary_path if summary else config_path).stat().st_mtime
    return {
        "run": run.relative_to(folder).as_posix() if run != folder else run.name,
        "data": Path(str(train.get("data", "?"))).name, "model": model.get("model", "?"),
        "backbone": model.get("backbone", "?"), "latent": model.get("latent_dim"),
        "epochs": summary.get("epochs", train.get("epochs")), "test_loss": summary.get("test_loss"),
        "date": datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M"),
        "status": "done" if summary else "unfinished",
    }


def run_row(run: str | Path) -> dict | None:
    """The row of one run folder (named by its own name), or None when it is not one."""
    run = Path(run)
    return _row(run / CONFIG, run.parent) if (run / CONFIG).is_file() else None


def find_runs(folder: str | Path = "runs") -> list[dict]:
    """One row per run folder below ``folder`` (a folder holding config.json with a model section)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VaekitError(f"{folder}: no such folder (expected a folder of runs)")
    patterns = ["/".join(["*"] * depth + [CONFIG]) for depth in range(MAX_DEPTH + 1)]
    found = [p for pattern in patterns for p in folder.glob(pattern)]
    return [row for row in (_row(p, folder) for p in sorted(found)) if row is not None]


def sort_runs(rows: list[dict], key: str = "date") -> list[dict]:
    """Rows sorted by a column (missing values last); newest first for the date."""
    if key not in COLUMNS:
        raise SettingError("sort", f"one of {', '.join(COLUMNS)}", key)
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    return sorted(present, key=lambda r: r[key], reverse=key == "date") + missing


def format_runs(rows: list[dict]) -> str:
    """The rows as an aligned text table."""
    if not rows:
        return "no runs found"
    def cell(v) -> str:
        return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    cells = [[cell(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    line = lambda vals: "  ".join(v.ljust(w) if i < 4 else v.rjust(w) if i < 7 else v  # noqa: E731
                                  for i, (v, w) in enumerate(zip(vals, widths, strict=True)))
    return "\n".join([line(COLUMNS)] + [line(r) for r in cells])
