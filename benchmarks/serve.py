"""`vaekit serve` under load, and the seeds' lesson on the live page, with `make demo`'s runs.

    python benchmarks/serve.py            # after `make demo` (runs/demo: an AE and a VAE, 2-D codes)
    python benchmarks/serve.py --screenshots-only   # the README's pictures alone (about 1 minute)

1. Load: 10,000 decode requests (random codes in the prior's 3-sigma box) from 8 concurrent
   clients against a live `vaekit serve runs/demo`, then 10,000 reconstruct-an-upload requests
   (a fresh PNG of a test digit, upload + playground), each with and without a training run going
   on (started through the page's own API, as a user would). Errors, throughput, p50/p99.
2. Frame rate: headless Chromium drags the pointer across the side-by-side maps for 5 s; new
   decoded images per second and per map.
3. The lesson: codes in the prior's region far from every AE test code, decoded by both runs and
   read by the reference classifier (its confidence that the image is a digit); the page's
   screenshots at such a point go to docs/serve/ for the README.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine, publish  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "runs" / "demo"
SHOTS = ROOT / "docs" / "serve"
REQUESTS, CLIENTS = 10_000, 8


def start_server(train_dir: Path) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("vaekit", path=str(Path(sys.executable).parent)) or "vaekit"
    proc = subprocess.Popen([exe, "serve", str(DEMO), "--port", "0", "--train-dir", str(train_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if found := re.search(r"open (http://\S+)", line):
            return proc, found.group(1)
    raise RuntimeError("vaekit serve printed no URL")


async def load(base: str, token: str, make_request, n: int = REQUESTS, clients: int = CLIENTS) -> dict:
    """``n`` requests from ``clients`` concurrent clients; each request is ``make_request(client,
    k)`` (a coroutine returning the final response). Latency per request, errors counted."""
    import httpx

    latencies, errors, first_error = [], 0, None
    counter = iter(range(n))

    async def client_loop():
        nonlocal errors, first_error
        async with httpx.AsyncClient(base_url=base, headers={"X-Vaekit-Token": token}, timeout=30) as c:
            for k in counter:
                t = time.perf_counter()
                try:
                    r = await make_request(c, k)
                    ok = r.status_code == 200
                except httpx.HTTPError as e:
                    ok, r = False, e
                latencies.append(time.perf_counter() - t)
                if not ok:
                    errors += 1
                    first_error = first_error or str(getattr(r, "text", r))[:200]

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": n, "errors": errors, "first_error": first_error, "seconds": round(wall, 2),
            "per_second": round(n / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def digit_pngs(count: int = 64) -> list[bytes]:
    """PNGs of MNIST test digits, enlarged to 56x56 so the server fits them as it fits any upload."""
    from PIL import Image

    from vaekit.run import Run

    test = Run.open(DEMO / "vae").splits.test
    import torch

    out = []
    for k in range(count):
        arr = test.take(torch.tensor([k]))[0, 0].numpy()
        buf = io.BytesIO()
        Image.fromarray(arr).resize((56, 56)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def load_phase(base: str, token: str, ids: dict, pngs: list[bytes]) -> dict:
    rng = np.random.default_rng(0)
    codes = rng.uniform(-3, 3, (REQUESTS, 2)).round(4).tolist()

    async def decode(c, k):
        return await c.post(f"/api/runs/{ids['vae']}/decode", json={"z": codes[k]})

    async def reconstruct(c, k):
        up = await c.post(f"/api/runs/{ids['vae']}/upload", content=pngs[k % len(pngs)])
        if up.status_code != 200:
            return up
        return await c.post(f"/api/runs/{ids['vae']}/play", json={"source": {"upload": up.json()["upload"]}})

    return {"decode": asyncio.run(load(base, token, decode)),
            "reconstruct_upload": asyncio.run(load(base, token, reconstruct))}


def frame_rate(page, url: str, seconds: float = 5.0) -> dict:
    page.goto(url)
    page.wait_for_function("window.vaekit && window.vaekit.ready && window.vaekit.frames >= 2")
    box = page.locator("canvas.map").first.bounding_box()
    start = page.evaluate("window.vaekit.frames")
    t0, k, moves = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < seconds:  # a slow circle over the map, a move every ~10 ms
        a = k * 0.02
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.35 * np.cos(a)),
                        box["y"] + box["height"] * (0.5 + 0.35 * np.sin(a)))
        page.wait_for_timeout(10)
        k += 1
        moves += 1
    wall = time.perf_counter() - t0
    frames = page.evaluate("window.vaekit.frames") - start
    return {"seconds": round(wall, 2), "pointer_moves": moves, "decoded_images": frames,
            "frames_per_second_per_map": round(frames / 2 / wall, 1)}


def lesson(base: str, token: str, ids: dict) -> dict:
    """Codes in the prior's 2-sigma disc farthest from every AE test code: decoded by both runs
    through the API, read by the reference classifier."""
    import httpx
    import torch
    from PIL import Image

    from vaekit.run import Run
    from vaekit.tasks.classifier import reference_classifier

    with httpx.Client(base_url=base, headers={"X-Vaekit-Token": token}) as c:
        ae_codes = np.array(c.get(f"/api/runs/{ids['ae']}/codes").json()["points"])
        g = np.linspace(-2, 2, 81)
        grid = np.array([(x, y) for x in g for y in g if x * x + y * y <= 4])
        gap = np.sqrt(((grid[:, None, :] - ae_codes[None]) ** 2).sum(-1)).min(1)
        far = grid[np.argsort(-gap)[:50]]

        def decoded(rid):
            answers = [c.post(f"/api/runs/{rid}/decode", json={"z": z.tolist()}).content for z in far]
            imgs = [np.asarray(Image.open(io.BytesIO(a))) for a in answers]
            return torch.from_numpy(np.stack(imgs)).float().div(255)[:, None]
        ae_imgs, vae_imgs = decoded(ids["ae"]), decoded(ids["vae"])
    run = Run.open(DEMO / "vae")
    clf = reference_classifier(run.data, run.splits.train, run.splits.test)
    sure = {k: clf.probabilities(v).max(1).values for k, v in (("ae", ae_imgs), ("vae", vae_imgs))}
    return {"points": len(far), "min_gap_to_ae_codes": round(float(np.sort(gap)[-50]), 3),
            "classifier_confidence": {k: round(float(v.mean()), 3) for k, v in sure.items()},
            "read_as_one_digit": {k: round(float((v >= 0.95).float().mean()), 3) for k, v in sure.items()},
            "farthest_point": far[0].round(3).tolist()}


def screenshots(page, url: str, point: list[float], vae_id: str, train_job: bool) -> None:
    """The README's pictures: each view, small PNGs."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = url.split("#")[0]

    def show(hash_):
        page.goto("about:blank")  # a full load each time: going to the same URL would not navigate
        page.goto(base + hash_)
        page.wait_for_function("window.vaekit && window.vaekit.ready")
        page.wait_for_timeout(500)

    show("#" + url.split("#")[1])
    canvas = page.locator("canvas.map").first
    box = canvas.bounding_box()
    # the pointer at the lesson's point: map coordinates -> pixels of the prior's frame (±3.6)
    px = box["x"] + (point[0] + 3.6) / 7.2 * box["width"]
    py = box["y"] + (3.6 - point[1]) / 7.2 * box["height"]
    page.mouse.move(px, py)
    page.wait_for_timeout(600)
    page.screenshot(path=SHOTS / "explore.png", clip={"x": 0, "y": 0, "width": 1240, "height": 640})
    show("#/runs")
    page.screenshot(path=SHOTS / "runs.png", clip={"x": 0, "y": 0, "width": 1240, "height": 300})
    show(f"#/run/{vae_id}")
    page.locator("#curves").hover(position={"x": 500, "y": 150})
    page.screenshot(path=SHOTS / "run.png", full_page=False)
    show("#/play")
    page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "playground.png", full_page=True)
    if train_job:
        show("#/train")
        page.wait_for_function("document.querySelector('#jobs canvas.curve[data-points]') !== null",
                               timeout=120_000)
        page.wait_for_timeout(500)
        page.screenshot(path=SHOTS / "train.png", full_page=True)  # the form (the schema's) and the job
    from PIL import Image

    for png in SHOTS.glob("*.png"):  # small files: a 256-colour palette (the page has few colours)
        Image.open(png).convert("RGB").quantize(256).save(png, optimize=True)


def main() -> None:
    import tempfile

    import httpx
    from playwright.sync_api import sync_playwright

    if not (DEMO / "ae" / "summary.json").is_file() or not (DEMO / "vae" / "summary.json").is_file():
        sys.exit("runs/demo is missing: run `make demo` first (about 5 minutes)")
    chromium = os.environ.get("VAEKIT_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        sys.exit("Chromium is missing: apt-get install chromium")
    train_dir = Path(tempfile.mkdtemp(prefix="vaekit-serve-bench-"))
    proc, url = start_server(train_dir)
    base, token = url.split("/?")[0], re.search(r"token=([^#&]+)", url).group(1)
    try:
        with httpx.Client(base_url=base, headers={"X-Vaekit-Token": token}) as c:
            runs = {r["run"]: r["id"] for r in c.get("/api/runs").json()["runs"]}
            ids = {"ae": runs["ae"], "vae": runs["vae"]}
            for rid in ids.values():  # load both runs (model, test codes, scores) before timing
                c.get(f"/api/runs/{rid}/codes")
        pngs = digit_pngs()
        print("lesson ...", file=sys.stderr)
        lesson_result = lesson(base, token, ids)
        print(lesson_result, file=sys.stderr)
        measure = "--screenshots-only" not in sys.argv
        if measure:
            print("load, idle ...", file=sys.stderr)
            idle = load_phase(base, token, ids, pngs)
            print(idle, file=sys.stderr)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1240, "height": 900})
            if measure:
                fps_idle = frame_rate(page, url)
                print("fps idle", fps_idle, file=sys.stderr)
            with httpx.Client(base_url=base, headers={"X-Vaekit-Token": token}) as c:
                job = c.post("/api/jobs", json={"data": "mnist", "latent_dim": 2, "hidden": "512,512",
                                                "epochs": 200}).json()
            if measure:
                print("load, training ...", file=sys.stderr)
                with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop runs in this thread
                    busy = pool.submit(load_phase, base, token, ids, pngs).result()
                print(busy, file=sys.stderr)
                fps_busy = frame_rate(page, url)
                print("fps training", fps_busy, file=sys.stderr)
            screenshots(page, url, lesson_result["farthest_point"], ids["vae"], train_job=True)
            browser.close()
        with httpx.Client(base_url=base, headers={"X-Vaekit-Token": token}) as c:
            c.post(f"/api/jobs/{job['id']}/stop")
            for _ in range(120):
                if c.get("/api/jobs").json()["jobs"][0]["status"] != "stopping":
                    break
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(train_dir, ignore_errors=True)
    if measure:
        report(idle, busy, fps_idle, fps_busy, lesson_result)


def report(idle: dict, busy: dict, fps_idle: dict, fps_busy: dict, lesson_result: dict) -> None:
    rows = []
    for label, phase in (("idle", idle), ("while a training runs", busy)):
        for kind, name in (("decode", "decode a code"), ("reconstruct_upload", "upload a PNG + playground")):
            r = phase[kind]
            rows.append(f"| {name} | {label} | {r['requests']:,} | {r['errors']} | {r['per_second']:,.0f} | "
                        f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    conf, one = lesson_result["classifier_confidence"], lesson_result["read_as_one_digit"]
    md = f"""## The local page under load: `vaekit serve`

`python benchmarks/serve.py` after `make demo`: a live `vaekit serve runs/demo` (uvicorn, one
process), {CLIENTS} concurrent clients (httpx, asyncio, on the same 2 cores as the server), the
demo's VAE (MLP 784-512-512-2). "While a training runs": an MNIST training started through the
page's own API (`vaekit train` in its own process, at lower priority) for the whole phase.
Machine: {machine()}.

| request | server | requests | errors | per second | p50 ms | p99 ms |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

"upload a PNG + playground" is two requests (upload, then everything the playground shows: the
reconstruction, a corrupted copy and its denoising, the error heat-map, the score's place among
the test images', the code and its ellipse), timed together.

**Dragging over the maps** (headless Chromium moving the pointer around the AE's map, the AE
and the VAE side by side, for 5 s, as fast as the driver sends moves:
{fps_idle['pointer_moves'] / fps_idle['seconds']:.0f} moves per second idle,
{fps_busy['pointer_moves'] / fps_busy['seconds']:.0f} while training; each map keeps one decode
request in flight and always asks for the newest point): {fps_idle['frames_per_second_per_map']}
new images per second per map when idle, {fps_busy['frames_per_second_per_map']} while the
training runs, so the images keep up with the pointer.

**The lesson, live**: the {lesson_result['points']} codes inside the prior's 2σ disc farthest from
every AE test code (each at least {lesson_result['min_gap_to_ae_codes']} from one), decoded by both
runs through the page's API: the reference classifier reads {one['vae']:.0%} of the VAE's images
as one digit (at least 95% sure of one class) and {one['ae']:.0%} of the AE's (on average it is
{conf['vae']:.0%} and {conf['ae']:.0%} sure); the AE's others are blends of two digits or
smudges. `docs/serve/explore.png` is the page with the pointer at the farthest of them.
"""
    publish("serve", md, {"idle": idle, "training": busy, "frames_idle": fps_idle,
                          "frames_training": fps_busy,
                          "lesson": lesson_result, "machine": machine()})
    print(md)


if __name__ == "__main__":
    main()
