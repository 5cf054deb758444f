"""Choosing where and in what precision to work.

One precision vocabulary everywhere (training, evaluation, the CLI and config.json):
``auto`` (bfloat16 where the hardware computes it natively, else float32), ``32``, ``bf16``
and ``16`` (float16 mixed precision, for GPUs).
"""

from __future__ import annotations

import ctypes
import os
import platform
import time
from pathlib import Path

import torch

from vaekit.settings import LEGACY_PRECISIONS, PRECISIONS

__all__ = ["FLOAT32_ENV", "LEGACY_PRECISIONS", "PRECISIONS", "CpuLoad", "check_accelerator", "choose_threads",
           "cpu_has_native_bf16", "cpu_info", "fabric_precision", "flush_denormals", "keep_freed_memory",
           "resolve_accelerator", "resolve_precision", "usable_cpus"]
# Set to 1, "auto" runs float32 everywhere (training, evaluation, likelihoods, priors), as it does
# on a CPU without native bfloat16 (AVX2 only): a developer on one kind of CPU checks the other
# numeric path with it (`make test-float32`). An explicit "bf16" is still honoured.
FLOAT32_ENV = "VAEKIT_FLOAT32"
_FABRIC = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}


def resolve_accelerator(accelerator: str) -> str:
    """'auto' -> 'cuda' if a GPU is visible, else 'mps' on Apple silicon, else 'cpu'."""
    if accelerator != "auto":
        return accelerator
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def check_accelerator(accelerator: str) -> None:
    """SettingError when ``accelerator`` names a device this machine does not have, before any
    folder is written (Fabric would only fail later, with a traceback)."""
    from vaekit.errors import SettingError

    present = {"cpu": True, "auto": True, "cuda": torch.cuda.is_available(),
               "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not present.get(accelerator, True):
        have = ", ".join(name for name in ("cpu", "cuda", "mps") if present[name])
        raise SettingError("accelerator", f"a device this machine has ({have}, or auto)", accelerator)


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), unless
    $VAEKIT_FLOAT32 is 1 (see FLOAT32_ENV)."""
    if os.environ.get(FLOAT32_ENV, "") not in ("", "0"):
        return False
    cpu = torch.cpu
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(bool(c()) for c in checks if c is not None)


_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "neon", "asimd")


def cpu_info() -> dict:
    """The CPU figures were measured on: model name, logical CPUs, the instruction-set flags that
    decide vaekit's kernels (bfloat16 and AMX above all), whether "auto" means bf16 here, and the
    torch build. Benchmarks write it into their JSON; bf16 results differ between CPU kinds."""
    model, flags = platform.processor() or platform.machine() or "unknown CPU", set()
    ids: dict[str, str] = {}  # x86 family and model: a virtual machine's name can hide the generation
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.processor(), platform.machine()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
            elif key in ("cpu family", "model") and key not in ids:
                ids[key] = value.strip()
    except OSError:  # not Linux: the model name platform gives, no flags
        pass
    forced = os.environ.get(FLOAT32_ENV, "") not in ("", "0")
    family = (f"family {ids['cpu family']} model {ids['model']}"
              if {"cpu family", "model"} <= ids.keys() else "")
    return {"model": model, "family": family, "cpus": os.cpu_count(),
            "flags": [f for f in _FLAGS if f in flags], "native_bf16": cpu_has_native_bf16(),
            "float32_forced": forced, "threads": torch.get_num_threads(), "torch": torch.__version__}


def resolve_precision(precision: str, accelerator: str) -> str:
    """'auto' -> 'bf16' where the hardware computes bfloat16 natively (recent CPUs, GPUs from
    Ampere on), where it roughly halves the time of the matrix products at no measured cost in
    final loss; '32' everywhere else. Other values pass through."""
    precision = LEGACY_PRECISIONS.get(precision, precision)
    if precision != "auto":
        return precision
    device = resolve_accelerator(accelerator)
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "32"


def fabric_precision(precision: str, accelerator: str) -> str:
    """The name Lightning Fabric gives the resolved precision (``bf16`` -> ``bf16-mixed``)."""
    return _FABRIC[resolve_precision(precision, accelerator)]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


class CpuLoad:
    """How busy the machine's CPUs are with work other than this process's.

    Started, it reads the time every CPU has spent busy (/proc/stat) and this process's own CPU
    time; ``others()`` reads both again (after at least ``least`` seconds, sleeping the rest:
    0.1 s, which a small in-memory fit pays whole, is 20 ticks of two CPUs at 100 Hz)
    and returns the CPUs other processes kept busy in between, e.g. 1.0 beside one busy loop.
    This process's own work in between (loading data) is not counted, so the wait can overlap
    it. None where there is no /proc/stat (macOS, Windows)."""

    STAT = Path("/proc/stat")

    def __init__(self):
        self.start = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        try:
            fields = self.STAT.read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        ticks = [int(v) for v in fields[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        # guest time is already inside user time
        busy = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        own = sum(os.times()[:2])
        return time.perf_counter(), busy, own

    def others(self, least: float = 0.1) -> float | None:
        if self.start is None:
            return None
        wait = least - (time.perf_counter() - self.start[0])
        if wait > 0:
            time.sleep(wait)
        end = self._read()
        if end is None:
            return None
        seconds = end[0] - self.start[0]
        return max(0.0, ((end[1] - self.start[1]) - (end[2] - self.start[2])) / seconds)


def choose_threads(load: CpuLoad | None = None, processes: int = 1) -> int:
    """Threads for one process's CPU kernels: the CPUs free of other work, shared among
    ``processes``.

    PyTorch's kernels split each operation evenly between their threads and wait for the
    slowest; a thread that shares its core with another busy process runs only in that process's
    time slices, so every operation waits for the scheduler. Measured on a 2-core Intel Xeon
    (MNIST, 2-epoch `vaekit train`, seconds per epoch): idle, 2 threads 0.92-1.0 (MLP) and 10.9
    (conv), 1 thread 1.2 and 17.1; beside one busy process, 2 threads 14-24 (MLP) and 82 (conv),
    1 thread 1.2 and 17.0. A spin-free OpenMP wait (OMP_WAIT_POLICY=passive) did not help the
    conv model (73 s) and doubled the idle MLP epoch. So: as many threads as CPUs are free (at
    least one). Where /proc/stat cannot be read, every usable CPU. Several processes on one
    machine (``--devices``) would count each other as load, so they split the CPUs evenly."""
    cpus = usable_cpus()
    if processes > 1:
        return max(1, cpus // processes)
    busy = (load or CpuLoad()).others()
    free = cpus if busy is None else cpus - busy
    return max(1, min(cpus, round(free)))


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Have the C allocator keep freed blocks of up to 256 MiB for reuse (Linux with glibc).

    A training step frees and reallocates the same tensors every time: gradients, activations,
    the bfloat16 copies of the weights. glibc serves large blocks with mmap (above a threshold
    it adapts at run time, 128 KiB and up) and unmaps them when freed, so the next step touches
    fresh pages and pays a page fault for every 4 KiB. Measured on the project's 2-core CPU,
    alternating processes: the face VAE (128x128, batch 64) ran its epochs in 6.0-6.3 s with
    glibc's defaults, 5.4-6.0 s with a 32 MiB threshold and 4.7-5.0 s with this one, its page
    faults falling from 2.8-3.3 million to 0.2-0.3 million over 2 epochs, for 0-170 MiB more
    peak memory; the MLP VAE's median step was lower in 6 of 6 process pairs. Freed memory at
    the top of the heap is given back to the system beyond 1 GiB. The setting lasts for the
    process. Returns False where the C library has no ``mallopt`` (macOS, Windows) or ignores it."""
    try:  # the C library's symbols, as the running program sees them
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    # a glibc that caps the threshold at 32 MiB refuses the larger one
    kept = mallopt(_M_MMAP_THRESHOLD, 256 << 20) or mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    return bool(kept) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))


def _openmp_runtime() -> ctypes.CDLL | None:
    """The OpenMP runtime PyTorch's CPU kernels run their threads on, as PyTorch itself binds it:
    its own library looked up among libtorch_cpu's dependencies, not the first one loaded (a
    process that used scikit-learn holds scikit-learn's libgomp too). None where there is no
    such library or it has no GOMP entry points (another threading backend)."""
    lib = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        runtime = ctypes.CDLL(str(lib))  # the loaded library again, not a second copy
        runtime.GOMP_parallel  # noqa: B018 -- resolved in libtorch_cpu's dependencies, as its kernels resolve it
    except (OSError, AttributeError):
        return None
    return runtime


def flush_denormals(on: bool) -> bool:
    """Treat denormal floats as zero (x86's FTZ and DAZ flags), or stop, on the calling thread
    and on every thread of PyTorch's OpenMP team.

    Adam's moment estimates of weights that stop receiving gradients (dead ReLU units) decay
    into denormals after some hundreds of steps, and an x86 core computes on those many times
    slower. The flags belong to each thread, and OpenMP's threads copy them from their creator
    only when they start: ``torch.set_flush_denormal`` set once the team exists leaves the
    team's threads as they were, so every operation waits for a thread that still computes
    denormals. Measured on a 2-core Intel Xeon (family 6 model 207): ``vaekit.fit`` of compare's
    MNIST AE (MLP 512-512, 2-D codes, batch 256, lr 0.006 one-cycle, 6 epochs) in a process that
    had fitted a scikit-learn model took 18.4-20.3 s with the flags on the calling thread only,
    its epochs slowing from 1.7-2.6 s to 3.1-4.1 s from the third on, and 12.3-12.4 s with them on
    every thread (epochs 1.6-2.2 s). A fresh `vaekit` command was not slowed, its team starting after
    the flags were set: compare's 6-epoch MNIST pair came out bit for bit the same either way.
    The team is reached by running one parallel region of the runtime PyTorch loaded; where
    that runtime cannot be found, only the calling thread changes. Returns whether the CPU
    honours the flags (False on CPUs without them)."""
    honoured = torch.set_flush_denormal(on)
    runtime = _openmp_runtime() if honoured else None
    if runtime is not None:
        @ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        def each_thread(_):  # runs once on every thread of the team, the caller's included
            torch.set_flush_denormal(on)

        runtime.GOMP_parallel(each_thread, None, ctypes.c_uint(torch.get_num_threads()), ctypes.c_uint(0))
    return honoured
