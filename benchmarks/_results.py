"""Writing one benchmark's table into RESULTS.md (between its own markers) and its JSON beside it."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS.md"


def machine() -> str:
    """One line naming the CPU (with its x86 family and model), its bfloat16/AMX flags, the threads
    and the PyTorch build the numbers come from (bf16 results differ between CPU kinds)."""
    from vaekit.train.device import cpu_info

    cpu = cpu_info()
    flags = [f for f in cpu["flags"] if "bf16" in f or "amx" in f] or ["no native bf16"]
    path = ("float32 forced" if cpu["float32_forced"]
            else "auto = bf16" if cpu["native_bf16"] else "auto = float32")
    about = "; ".join(filter(None, (cpu["family"], ", ".join(flags), path)))
    return f"{cpu['model']} ({about}); {cpu['threads']} threads; torch {cpu['torch']}"


def peak_rss(cmd: list[str], env: dict | None = None) -> int:
    """Run ``cmd`` (with ``env`` added to this environment) to its end; its peak resident memory
    in bytes (``wait4``). Its stderr goes to a file, so a talkative process cannot fill a pipe
    nobody reads; RuntimeError with its last lines when it fails."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{err.read().decode()[-2000:]}")
    return usage.ru_maxrss * 1024


def publish(name: str, markdown: str, data: dict) -> None:
    """Replace the ``name`` section of RESULTS.md with ``markdown`` and write ``name.json``, with
    the CPU it was measured on (model, bf16/AMX flags: bf16 results differ between CPU kinds)."""
    from vaekit.train.device import cpu_info

    data = {"cpu": cpu_info(), **data}
    (HERE / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
