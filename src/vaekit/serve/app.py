"""The web app behind ``vaekit serve``: a JSON/PNG API over ``Library`` and ``Jobs``, and the
page (static files shipped in the package; nothing is fetched from the internet).

Every error is a 4xx (5xx only for a bug) with one line of JSON, ``{"error": "..."}``; nothing a
client sends stops the server. Model work runs in Starlette's thread pool, so the event loop
keeps answering (and streaming training progress) while a decode or a training runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import torch
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vaekit.errors import VaekitError
from vaekit.run import Run
from vaekit.run.layout import GRID_KINDS
from vaekit.serve.jobs import Jobs, form_settings
from vaekit.serve.library import Library, NotFound, data_url, png, run_id
from vaekit.serve.security import Guard

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 16 * 2**20   # an upload's body
MAX_UPLOAD_PIXELS = 25_000_000  # an upload's declared size, checked before its pixels are decoded
MAX_JSON_BYTES = 2**20
MOST_SAMPLES = 256
MOST_STEPS = 64


class BadRequest(VaekitError):
    status = 400


def _error(e: Exception) -> JSONResponse:
    if isinstance(e, NotFound):
        return JSONResponse({"error": e.message}, 404)
    if isinstance(e, VaekitError):
        status = getattr(e, "status", 400)
        return JSONResponse({"error": str(e)}, status)
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return JSONResponse({"error": f"internal error: {type(e).__name__}: {first}"[:300]}, 500)


def endpoint(fn):
    """Run a handler, turning any exception into its one-line JSON answer."""
    async def handler(request: Request):
        try:
            return await fn(request)
        except Exception as e:  # noqa: BLE001 -- every failure becomes an answer, never a crash
            return _error(e)
    return handler


async def _json(request: Request) -> dict:
    body = await _body(request, MAX_JSON_BYTES)
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest("expected a JSON body") from None
    if not isinstance(value, dict):
        raise BadRequest("expected a JSON object")
    return value


async def _body(request: Request, most: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > most:
        raise TooLarge(f"body of {int(declared):,} bytes is over the limit of {most:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            raise TooLarge(f"body is over the limit of {most:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class TooLarge(VaekitError):
    status = 413


def _int(body: dict, key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key}: expected an integer from {low} to {high}, found {json.dumps(value)[:40]}")
    return value


def _png_response(image) -> Response:
    return Response(png(image), media_type="image/png", headers={"cache-control": "no-store"})


def create_app(roots: list[Path], token: str, host: str = "127.0.0.1", port: int = 8765,
               train_folder: Path | None = None) -> Starlette:
    """The ASGI app serving the runs below ``roots``; trainings started from the page go to
    ``train_folder`` (default: ``runs``, where ``vaekit train`` puts them), shown from then on."""
    library = Library(roots)
    jobs = Jobs(Path(train_folder or "runs"), on_start=library.add_root)

    def loaded(request: Request):
        return library.get(request.path_params["rid"])

    # ------------------------------------------------------------------ runs
    @endpoint
    async def runs(request: Request):
        rows = await run_in_threadpool(library.rows)
        return JSONResponse({"runs": rows, "pair": library.default_pair(),
                             "roots": [str(r) for r in library.roots]})

    @endpoint
    async def settings(request: Request):
        """The train form's settings: each one's type, default, help, owning entry and choices."""
        return JSONResponse({"settings": await run_in_threadpool(form_settings)})

    @endpoint
    async def run_detail(request: Request):
        run = Run(library.path(request.path_params["rid"]))
        return JSONResponse({
            "id": request.path_params["rid"], "name": run.name, "config": run.config,
            "summary": run.summary, "eval": run.eval,
            "prior_fit": run.prior_fit,  # a VQ-VAE's PixelCNN (vaekit train-prior)
            "metrics": run.metrics, "grid_epochs": run.grid_epochs(), "class_names": run.class_names,
            "model": run.config.get("model") or {},
            "default_sampler": run.default_sampler,
        })

    @endpoint
    async def grid(request: Request):
        run = Run(library.path(request.path_params["rid"]))
        kind, epoch = request.path_params["kind"], request.path_params["epoch"]
        if kind not in GRID_KINDS:
            raise BadRequest(f"grid kind: expected one of {', '.join(GRID_KINDS)}, found {kind[:20]!r}")
        file = run.grid(kind, epoch)
        if not file.is_file():
            raise NotFound(f"no {kind} grid for epoch {epoch}")
        return FileResponse(file, media_type="image/png")

    # ------------------------------------------------------------------ latent explorer
    @endpoint
    async def codes(request: Request):
        run = loaded(request)
        return JSONResponse(await run_in_threadpool(lambda: run.scatter))

    @endpoint
    async def decode(request: Request):
        body = await _json(request)
        run = loaded(request)
        label = body.get("label")
        if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
            raise BadRequest(f"label: expected a class index, found {json.dumps(label)[:40]}")
        image = await run_in_threadpool(run.decode, body.get("z"), label)
        return _png_response(image)

    @endpoint
    async def test_image(request: Request):
        run = loaded(request)
        index = request.path_params["index"]
        n = await run_in_threadpool(lambda: len(run.test))
        if index >= n:
            raise NotFound(f"test image {index} is past the end of the test split ({n} images)")
        return _png_response(await run_in_threadpool(run.run.image, index))

    @endpoint
    async def traversal(request: Request):
        """One latent dimension from -3 to 3, the others at 0, as a row of 9 decodes."""
        from vaekit.report.plots import grid_array

        run = loaded(request)
        strip = await run_in_threadpool(run.traverse, request.path_params["dim"])
        return _png_response(grid_array(strip, nrow=len(strip)))

    @endpoint
    async def describe(request: Request):
        """The Describe view's directions: named attributes and principal directions."""
        run = loaded(request)
        return JSONResponse(await run_in_threadpool(run.describe))

    @endpoint
    async def sample_code(request: Request):
        """One code drawn with the run's own sampler (``Run.default_sampler``: the prior, or the
        mixture of the training codes for rae and sharp runs) and a seed."""
        run = loaded(request)
        seed = request.path_params["seed"]
        code = await run_in_threadpool(lambda: run.run.codes(1, None, seed)[0].tolist())
        return JSONResponse({"code": code})

    # ------------------------------------------------------------------ playground
    @endpoint
    async def upload(request: Request):
        run = loaded(request)
        data = await _body(request, MAX_UPLOAD_BYTES)
        image = await run_in_threadpool(_decode_upload, data, run.model.config.image_shape)
        uid = library.add_upload(image)
        return JSONResponse({"upload": uid, "image": data_url(image.float() / 255)})

    def _source(run, spec) -> tuple[torch.Tensor, int | None]:
        """The image (C, H, W) in [0, 1] a request names, and its class when known."""
        if isinstance(spec, dict) and "upload" in spec:
            image = library.upload(str(spec["upload"]))
            if tuple(image.shape) != tuple(run.model.config.image_shape):
                raise BadRequest("that upload was fitted to another run's image shape; upload it again here")
            return image.float() / 255, None
        if isinstance(spec, dict) and "test" in spec:
            index = spec["test"]
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise BadRequest(f"test: expected an image index >= 0, found {json.dumps(index)[:40]}")
            if index >= len(run.test):
                raise NotFound(f"test image {index} is past the end of the test split "
                               f"({len(run.test)} images)")
            return run.run.image(index), run.test_label(index)
        raise BadRequest('source: expected {"test": INDEX} or {"upload": ID}')

    @endpoint
    async def play(request: Request):
        body = await _json(request)
        run = loaded(request)
        corruption = body.get("corruption") or "gaussian:0.5"
        seed = _int(body, "seed", 0, 0, 2**31 - 1)
        image, label = _source(run, body.get("source"))
        return JSONResponse(await run_in_threadpool(_play, run, image, label, str(corruption), seed))

    @endpoint
    async def interpolate(request: Request):
        body = await _json(request)
        run = loaded(request)
        steps = _int(body, "steps", 9, 2, MOST_STEPS)
        (a, label), (b, _) = _source(run, body.get("a")), _source(run, body.get("b"))

        def work():  # a conditional model keeps the first image's class along the way
            return [data_url(f) for f in run.interpolate(a, b, steps, label)]
        return JSONResponse({"frames": await run_in_threadpool(work)})

    @endpoint
    async def samples(request: Request):
        body = await _json(request)
        run = loaded(request)
        n = _int(body, "n", 32, 1, MOST_SAMPLES)
        seed = _int(body, "seed", 0, 0, 2**31 - 1)
        sampler = str(body["sampler"]) if body.get("sampler") else None  # None: Run.default_sampler
        label = body.get("label")
        if label is not None:
            label = _int(body, "label", 0, 0, 1_000_000)

        def work():
            from vaekit.report.plots import grid_array

            return grid_array(run.sample(n, sampler, seed, label), nrow=8)
        return _png_response(await run_in_threadpool(work))

    # ------------------------------------------------------------------ training
    @endpoint
    async def start_job(request: Request):
        body = await _json(request)
        job = await run_in_threadpool(jobs.start, body)
        return JSONResponse(job.info(), 201)

    @endpoint
    async def list_jobs(request: Request):
        return JSONResponse({"jobs": [j.info() for j in jobs.jobs.values()]})

    @endpoint
    async def stop_job(request: Request):
        return JSONResponse(jobs.stop(request.path_params["jid"]).info())

    @endpoint
    async def resume_job(request: Request):
        return JSONResponse((await run_in_threadpool(jobs.resume, request.path_params["jid"])).info())

    @endpoint
    async def job_events(request: Request):
        job = jobs.get(request.path_params["jid"])

        async def stream():
            sent_rows, sent_status, sent_grid = -1, None, None
            while True:
                trained = Run(job.run)
                metrics, grids = trained.metrics, trained.grid_epochs("samples")
                status = job.status
                newest = grids[-1] if grids else None
                if len(metrics["rows"]) != sent_rows or status != sent_status or newest != sent_grid:
                    sent_rows, sent_status, sent_grid = len(metrics["rows"]), status, newest
                    info = dict(job.info(), metrics=metrics, run_id=run_id(job.run),
                                grid_epoch=newest)
                    yield f"data: {json.dumps(info)}\n\n"
                if status in ("finished", "stopped", "failed"):
                    library.forget(run_id(job.run))  # its weights changed since it was loaded
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.5)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    @endpoint
    async def page(request: Request):
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def not_found(request: Request, exc):
        return JSONResponse({"error": f"no such page or API call: {request.url.path[:80]}"},
                            getattr(exc, "status_code", 404))

    routes = [
        Route("/", page),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/runs", runs),
        Route("/api/runs/{rid}", run_detail),
        Route("/api/runs/{rid}/grids/{kind}/{epoch:int}.png", grid),
        Route("/api/runs/{rid}/codes", codes),
        Route("/api/runs/{rid}/decode", decode, methods=["POST"]),
        Route("/api/runs/{rid}/test/{index:int}.png", test_image),
        Route("/api/runs/{rid}/traverse/{dim:int}.png", traversal),
        Route("/api/runs/{rid}/describe", describe),
        Route("/api/runs/{rid}/sample-code/{seed:int}", sample_code),
        Route("/api/runs/{rid}/upload", upload, methods=["POST"]),
        Route("/api/runs/{rid}/play", play, methods=["POST"]),
        Route("/api/runs/{rid}/interpolate", interpolate, methods=["POST"]),
        Route("/api/runs/{rid}/samples", samples, methods=["POST"]),
        Route("/api/settings", settings),
        Route("/api/jobs", list_jobs),
        Route("/api/jobs", start_job, methods=["POST"]),
        Route("/api/jobs/{jid}/stop", stop_job, methods=["POST"]),
        Route("/api/jobs/{jid}/resume", resume_job, methods=["POST"]),
        Route("/api/jobs/{jid}/events", job_events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(jobs.close)  # each training keeps its checkpoint

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    app.state.library, app.state.jobs = library, jobs
    return Guard(app, token, host, port)


class _Upload(io.BytesIO):
    def __str__(self) -> str:  # the name decode errors use for it
        return "upload"


def _decode_upload(data: bytes, shape) -> torch.Tensor:
    """An uploaded file -> (C, H, W) uint8 fitted to ``shape`` as ``vaekit reconstruct`` fits
    files. The format is read from the bytes (never a name); the declared size is checked before
    any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    from vaekit.datasets.decode import Unreadable, open_quietly, read_image

    if not data:
        raise BadRequest("upload: the body is empty (send the image file's bytes)")
    try:
        with open_quietly(_Upload(data)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
            Image.DecompressionBombError) as e:
        if isinstance(e, Image.DecompressionBombError):
            raise TooLarge("upload: a decompression bomb (too many pixels)") from None
        raise BadRequest("upload: not an image Pillow can read") from None
    if w * h > MAX_UPLOAD_PIXELS:
        raise TooLarge(f"upload: {w}x{h} = {w * h / 1e6:.0f} megapixels, over the limit of "
                       f"{MAX_UPLOAD_PIXELS / 1e6:.0f}")
    c, height, width = shape
    try:
        arr = read_image(_Upload(data), height, width, c)
    except Unreadable as e:
        raise BadRequest(e.message) from None
    return torch.tensor(arr)


def _play(run, image: torch.Tensor, label: int | None, corruption: str, seed: int) -> dict:
    """Everything the playground shows for one image (of class ``label`` when known)."""
    import numpy as np

    from vaekit.datasets.corrupt import parse_corruption
    from vaekit.report.plots import heatmap_rgb
    from vaekit.tasks.metrics import psnr

    try:
        corrupt = parse_corruption(corruption)
    except VaekitError as e:
        raise BadRequest(f"corruption: {e.message}") from None
    x = image[None]
    recon = run.reconstruct(x, label)
    noisy = corrupt(x, torch.Generator().manual_seed(seed)).clamp(0, 1)
    cleaned = run.reconstruct(noisy, label)
    error = (recon - x).pow(2)
    score = float(error.mean())
    scores = run.test_errors
    mean, std = run.code_of(image, label)
    basis = run.plane["basis"]
    cov = basis @ torch.diag(std.pow(2)) @ basis.T  # the posterior projected on the map's plane
    evals, evecs = torch.linalg.eigh(cov)
    counts, edges = np.histogram(scores, bins=24)
    return {
        "input": data_url(image), "recon": data_url(recon[0]), "noisy": data_url(noisy[0]),
        "denoised": data_url(cleaned[0]),
        **{f"psnr_{name}": float(psnr(image, x, min_mse=1e-10)[0])
           for name, image in (("noisy", noisy), ("denoised", cleaned), ("recon", recon))},
        "heatmap": data_url(heatmap_rgb(error.mean(1))[0]),
        "score": score, "percentile": float(100 * np.searchsorted(scores, score) / max(len(scores), 1)),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        "mu": (basis @ mean).tolist(), "code": mean.tolist(),
        "ellipse": {"radii": evals.clamp(min=0).sqrt().tolist(),
                    "angle": float(torch.atan2(evecs[1, 1], evecs[0, 1]))},
        "corruption": corrupt.spec,
    }
