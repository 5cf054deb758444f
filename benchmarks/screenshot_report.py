"""Render a comparison report in headless Chromium and save a full-page PNG, to check by eye
that every panel shows with its title and axes.

    python benchmarks/screenshot_report.py runs/demo/report.html -o benchmarks/report.png

Needs Debian's chromium (`apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("-o", "--output", type=Path, default=Path("report.png"))
    ap.add_argument("--height", type=int, default=9000, help="page height in CSS pixels")
    args = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: install it with `apt-get install chromium`")
    if not args.report.is_file():
        sys.exit(f"{args.report}: no such report")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
                        f"--window-size=1280,{args.height}", f"--screenshot={args.output.resolve()}",
                        args.report.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    print(args.output)


if __name__ == "__main__":
    main()
