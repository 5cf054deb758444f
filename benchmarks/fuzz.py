"""Fuzz every reader of untrusted bytes: each must end in its documented error, never another.

    python benchmarks/fuzz.py                      # 100,000 inputs per reader (make fuzz)
    python benchmarks/fuzz.py --runs 2000 --only vkz,idx

Readers (``TARGETS``) and the one error type each may raise on bad bytes:

    idx          datasets.idx.parse_idx                     ValueError
    image        datasets.decode.read_image                 Unreadable
    vkz          compress.read_vkz                          VaekitError
    config       a run's config.json -> Run.settings/model  VaekitError
    weights      model.safetensors -> checkpoint.load       VaekitError
    checkpoint   checkpoint.safetensors -> load_checkpoint  VaekitError

Each reader is fuzzed in its own process by atheris (libFuzzer, coverage-guided over the Python
code of vaekit and Pillow), started from a corpus of valid files built here, for ``--runs``
inputs. Any other exception is a crash: atheris prints the traceback and the input that caused
it, and the table marks the reader failed. With ``--engine random`` (no atheris) the same targets
are driven by seeded random mutations of the corpus instead (byte flips, truncation, splices).
The table goes to stdout, to the fuzz section of RESULTS.md and to fuzz.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_NAMES = ("idx", "image", "vkz", "config", "weights", "checkpoint")
READERS = {  # what each target reads, and the only error it may raise
    "idx": "`datasets.idx.parse_idx`: ValueError",
    "image": "`datasets.decode.read_image`: Unreadable",
    "vkz": "`compress.read_vkz`: VaekitError",
    "config": "config.json -> `Run.settings`, `Run.model`: VaekitError",
    "weights": "model.safetensors -> `checkpoint.load`: VaekitError",
    "checkpoint": "checkpoint.safetensors -> `load_checkpoint`: VaekitError",
}


# ----------------------------------------------------------------------------- valid seeds
def _tiny_config():
    from vaekit.models import ModelConfig
    from vaekit.settings import TrainConfig

    model = ModelConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=[16], model="vae", backbone="mlp")
    train = TrainConfig(data="mnist", image_size=8, latent_dim=3, hidden=[16], epochs=2)
    return model, train


def make_run(folder: Path) -> Path:
    """A tiny, complete run folder (config.json, model.safetensors, checkpoint.safetensors)."""
    import torch

    from vaekit.files import write_json
    from vaekit.models import build_model
    from vaekit.run.checkpoint import save_checkpoint, save_weights

    model_cfg, train_cfg = _tiny_config()
    torch.manual_seed(0)
    model = build_model(model_cfg)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "config.json", {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
                                        "data": {"name": "mnist"}})
    save_weights(model, folder)
    optimizer, scheduler = _optimizer(model)
    model(torch.rand(4, 1, 8, 8))[0].sum().backward()
    optimizer.step()
    scheduler.step()
    save_checkpoint(folder, model, optimizer, scheduler, {"epoch": 1, "step": 0, "history": []})
    return folder


def _optimizer(model):
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def seeds(name: str, work: Path) -> list[bytes]:
    """Valid inputs of reader ``name`` for the fuzzer to mutate."""
    import numpy as np

    if name == "idx":
        out = []
        for code, dtype, shape in [(0x08, ">u1", (3, 4, 4)), (0x08, ">u1", (5,)), (0x0C, ">i4", (2, 3)),
                                   (0x0D, ">f4", (2, 2)), (0x0B, ">i2", (1, 1, 1, 2))]:
            arr = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
            head = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
            out.append(head + arr.tobytes())
        return out
    if name == "image":
        return _image_seeds()
    if name == "vkz":
        from vaekit.tasks.compress import MAGIC, pack_bits

        out = []
        for count, dim, bits, names in [(3, 2, 4, ["a.png", "b/c.png", "d.jpg"]), (1, 5, 8, []),
                                        (2, 3, 1, ["x", "y"]), (4, 1, 16, [])]:
            header = {"format": 1, "model": {"run": "run", "weights_sha256": "0123456789abcdef",
                                             "image_shape": [1, 8, 8], "latent_dim": dim},
                      "count": count, "bits": bits, "quantizer": "gaussian-cdf",
                      "centre": [0.1 * i for i in range(dim)], "scale": [1.0 + i for i in range(dim)],
                      "names": names}
            import torch

            q = torch.randint(0, 2**bits, (count, dim), generator=torch.Generator().manual_seed(count))
            head = json.dumps(header, separators=(",", ":")).encode()
            out.append(MAGIC + struct.pack("<I", len(head)) + head + pack_bits(q, bits))
        return out
    run = make_run(work / "seed-run")
    if name == "config":
        return [(run / "config.json").read_bytes()]
    if name == "weights":
        return [(run / "model.safetensors").read_bytes()]
    if name == "checkpoint":
        return [(run / "checkpoint.safetensors").read_bytes()]
    raise KeyError(name)


def _image_seeds() -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8))
    out = []

    def save(im, fmt, **kw):
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())

    exif = Image.Exif()
    exif[0x0112] = 6
    save(rgb, "JPEG", exif=exif, quality=80)
    save(rgb, "PNG")
    save(rgb.convert("RGBA"), "PNG")
    save(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb.convert("P")])
    save(Image.fromarray(rng.integers(0, 65535, (8, 8)).astype(np.uint16)), "PNG")
    save(Image.fromarray(rng.random((8, 8), dtype=np.float32), "F"), "TIFF")
    save(rgb, "BMP")
    save(rgb, "WEBP")
    save(rgb.convert("CMYK"), "JPEG")
    save(rgb.convert("LA"), "PNG")
    return out


# ----------------------------------------------------------------------------- the targets
class Target:
    """One reader: ``check(data)`` feeds it the bytes; ``allowed`` is the error it documents."""

    def __init__(self, name: str, work: Path):
        self.name, self.work = name, work
        self.path = work / {"idx": "x.idx", "image": "x.img", "vkz": "x.vkz", "config": "run/config.json",
                            "weights": "run/model.safetensors",
                            "checkpoint": "run/checkpoint.safetensors"}[name]
        if name in ("config", "weights", "checkpoint"):
            make_run(work / "run")
        if name == "checkpoint":
            from vaekit.models import build_model

            self.model = build_model(_tiny_config()[0])
            self.optimizer, self.scheduler = _optimizer(self.model)
        from vaekit.errors import VaekitError

        if name == "idx":
            self.allowed: tuple[type[BaseException], ...] = (ValueError,)
        elif name == "image":
            from vaekit.datasets.decode import Unreadable

            self.allowed = (Unreadable,)
        else:
            self.allowed = (VaekitError,)

    def check(self, data: bytes) -> None:
        try:
            self._call(data)
        except self.allowed:
            pass

    def _call(self, data: bytes) -> None:
        if self.name == "idx":
            from vaekit.datasets.idx import parse_idx

            parse_idx(data, "fuzz.idx")
            return
        self.path.write_bytes(data)
        if self.name == "image":
            from vaekit.datasets.decode import read_image

            read_image(self.path, 8, 8, 3)
            read_image(self.path, 6, 5, 1)
        elif self.name == "vkz":
            from vaekit.tasks.compress import output_names, read_vkz

            header, codes = read_vkz(self.path)
            output_names(header, len(codes))
        elif self.name == "config":
            from vaekit.run import Run

            run = Run(self.path.parent)
            _ = run.settings, run.model  # reading both is the point: every check on the way runs
        elif self.name == "weights":
            from vaekit.run.checkpoint import load

            load(self.path.parent)
        elif self.name == "checkpoint":
            from vaekit.run.checkpoint import load_checkpoint

            load_checkpoint(self.path.parent, self.model, self.optimizer, self.scheduler)


# ----------------------------------------------------------------------------- engines
def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One random edit of a valid input: flip bytes, cut, splice, repeat or rewrite a number."""
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        kind = rng.randrange(7)
        if not b:
            b = bytearray(rng.choice(corpus))
        i = rng.randrange(len(b))
        if kind == 0:
            b[i] = rng.randrange(256)
        elif kind == 1:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 2:
            del b[rng.randrange(len(b)):]
        elif kind == 3:
            other = rng.choice(corpus)
            j = rng.randrange(len(other))
            b[i:] = other[j:]
        elif kind == 4:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif kind == 5:  # a plausible-looking but hostile number in text (JSON headers)
            text = bytes(b).decode("latin-1")
            nums = list(re.finditer(r"-?\d+(\.\d+)?", text))
            if nums:
                m = rng.choice(nums)
                new = rng.choice(["0", "-1", "1e308", "NaN", "4294967295", "2147483648", '"x"', "[]", "null",
                                  "1.5"])
                b = bytearray((text[:m.start()] + new + text[m.end():]).encode("latin-1"))
        else:  # a plausible-looking binary field
            pos = rng.randrange(max(1, len(b) - 4))
            b[pos:pos + 4] = struct.pack(">I", rng.choice((0, 1, 255, 65535, 2**31, 2**32 - 1)))
    return bytes(b)


def run_random(name: str, runs: int, seed: int) -> dict:
    """Drive one target with seeded random mutations; stops at the first crash."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = seeds(name, work)
        target = Target(name, work)
        rng = random.Random(seed)
        start = time.perf_counter()
        for i in range(runs):
            data = corpus[i] if i < len(corpus) else mutate(rng, rng.choice(corpus), corpus)
            try:
                target.check(data)
            except Exception as e:  # noqa: BLE001 -- a crash: reported, with the input that caused it
                crash = work.parent / f"fuzz-crash-{name}-{os.getpid()}.bin"
                crash.write_bytes(data)
                return {"target": name, "runs": i + 1, "seconds": time.perf_counter() - start,
                        "crashes": 1, "crash": f"{type(e).__name__}: {str(e)[:200]} (input saved in {crash})"}
        return {"target": name, "runs": runs, "seconds": time.perf_counter() - start, "crashes": 0}


def run_atheris(name: str, runs: int, seed: int) -> dict:
    """Run one target under atheris in a child process (libFuzzer exits the process when done)."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        start = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", name, "--runs", str(runs), "--seed", str(seed),
               "--corpus", str(corpus)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        seconds = time.perf_counter() - start
        done = re.search(r"Done (\d+) runs", proc.stderr)
        result = {"target": name, "runs": int(done.group(1)) if done else 0, "seconds": seconds,
                  "crashes": 0 if proc.returncode == 0 else 1}
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            result["crash"] = "\n".join(lines[-30:])
        return result


def _child(name: str, runs: int, seed: int, corpus: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["vaekit", "PIL"]):
        import PIL.Image  # noqa: F401

        import vaekit.datasets.decode  # noqa: F401
        import vaekit.datasets.idx  # noqa: F401
        import vaekit.run  # noqa: F401
        import vaekit.run.checkpoint  # noqa: F401
        import vaekit.tasks.compress  # noqa: F401
    work = Path(tempfile.mkdtemp())
    for i, blob in enumerate(seeds(name, work)):
        (corpus / f"seed-{i}").write_bytes(blob)
    target = Target(name, work)
    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-seed={seed}", "-max_len=65536", "-rss_limit_mb=4096",
                   "-timeout=20", str(corpus)], target.check)
    atheris.Fuzz()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100_000, help="inputs per reader")
    ap.add_argument("--only", default=",".join(TARGET_NAMES), help="comma-separated readers")
    ap.add_argument("--engine", choices=("atheris", "random"), default="atheris")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-publish", action="store_true",
                    help="print the table only (no RESULTS.md, fuzz.json)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # The image reader's pixel limit, lowered from 50 to 1 megapixel: the check is the same code,
    # and an input the fuzzer grows to 40 megapixels would otherwise take a second each.
    os.environ.setdefault("VAEKIT_MAX_PIXELS", "1000000")
    if args.child:
        _child(args.child, args.runs, args.seed, args.corpus)
        return
    engine = run_atheris if args.engine == "atheris" else run_random
    results = []
    print("| reader | engine | inputs | crashes | seconds | inputs/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name in args.only.split(","):
        r = engine(name, args.runs, args.seed)
        r["engine"] = args.engine
        results.append(r)
        print(f"| {name} | {args.engine} | {r['runs']:,} | {r['crashes']} | {r['seconds']:.0f} | "
              f"{r['runs'] / max(r['seconds'], 1e-9):,.0f} |", flush=True)
        if r["crashes"]:
            print(r["crash"], file=sys.stderr)
    if not args.no_publish:
        publish_results(results, args.runs)
    sys.exit(1 if any(r["crashes"] for r in results) else 0)


def publish_results(results: list[dict], runs: int) -> None:
    """The fuzz section of RESULTS.md and fuzz.json."""
    from _results import machine, publish

    rows = [f"| {r['target']} | {READERS[r['target']]} | {r['runs']:,} | {r['crashes']} | "
            f"{r['seconds']:.0f} |" for r in results]
    engine = results[0]["engine"] if results else "atheris"
    markdown = "\n".join([
        "## Fuzzing the readers of untrusted bytes",
        "",
        f"`python benchmarks/fuzz.py` (`make fuzz`): {runs:,} inputs per reader under {engine} "
        "(coverage-guided over vaekit's and Pillow's Python code), started from valid files; a crash is "
        f"any exception other than the reader's documented one. On {machine()}.",
        "",
        "| reader | documented error | inputs | crashes | seconds |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows,
        "",
        "The image reader runs with a 1-megapixel limit here (50 by default): the same check, and an "
        "input grown to 40 megapixels would otherwise cost a second. `make test` runs the same targets "
        "for a few hundred inputs each under hypothesis (tests/test_fuzz.py).",
    ])
    publish("fuzz", markdown, {"runs_per_reader": runs, "results": results, "machine": machine()})


if __name__ == "__main__":
    main()
