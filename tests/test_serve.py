"""`vaekit serve`'s API through an HTTP test client: every view's data, and every bad request a
4xx with one line while the server keeps answering."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from conftest import run_here
from PIL import Image

TOKEN = "test-token"
AUTH = {"X-Vaekit-Token": TOKEN}


@pytest.fixture(scope="module")
def pair(_tiny_folder, tmp_path_factory):
    """An AE and a VAE with 2-D codes on the tiny folder, side by side as `vaekit compare` leaves
    them: (folder holding ae/ and vae/, the $VAEKIT_DATA they were trained under)."""
    folder, cache = _tiny_folder
    root = tmp_path_factory.mktemp("served") / "demo"
    for model in ("ae", "vae"):
        run_here("train", "--data", str(folder), "--model", model, "--image-size", "8", "--image-channels", "1",
                 "--latent-dim", "2", "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--precision", "32",
                 "--no-progress", "--out", str(root / model), env={"VAEKIT_DATA": str(cache)})
    return root, cache


@pytest.fixture(scope="module")
def client(pair):
    from starlette.testclient import TestClient

    from vaekit.serve.app import create_app

    root, cache = pair
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAEKIT_DATA", str(cache))
        app = create_app([root], TOKEN, "127.0.0.1", 8765)
        with TestClient(app, base_url="http://127.0.0.1:8765") as c:
            ids = c.get("/api/runs", headers=AUTH).json()["pair"]
            yield c, dict(zip(("ae", "vae"), ids, strict=True))


def png_bytes(w: int, h: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode).save(buf, "PNG")
    return buf.getvalue()


def huge_png_header(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels but holds a few bytes of data (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_runs_and_a_run_page(client):
    c, ids = client
    runs = c.get("/api/runs", headers=AUTH).json()
    assert sorted(r["run"] for r in runs["runs"]) == ["ae", "vae"]
    assert runs["pair"] == [ids["ae"], ids["vae"]]
    detail = c.get(f"/api/runs/{ids['vae']}", headers=AUTH).json()
    assert detail["model"]["model"] == "vae" and detail["grid_epochs"] == [1, 2]
    assert detail["default_sampler"] == "prior"  # the objective's own: gmm for rae and sharp runs
    assert detail["metrics"]["columns"][:2] == ["epoch", "train_loss"] and len(detail["metrics"]["rows"]) == 2
    assert detail["summary"]["epochs"] == 2
    grid = c.get(f"/api/runs/{ids['vae']}/grids/samples/2.png", headers=AUTH)
    assert grid.status_code == 200 and Image.open(io.BytesIO(grid.content)).size[0] > 8


def test_decoding_follows_the_code(client):
    c, ids = client
    codes = c.get(f"/api/runs/{ids['vae']}/codes", headers=AUTH).json()
    assert codes["latent_dim"] == 2 and codes["axes"] == ["z1", "z2"]
    assert len(codes["points"]) == len(codes["labels"]) == codes["test_images"] > 0

    def decoded(z):
        r = c.post(f"/api/runs/{ids['vae']}/decode", json={"z": z}, headers=AUTH)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        return np.asarray(Image.open(io.BytesIO(r.content)))
    near, far = decoded([0.0, 0.0]), decoded([6.0, -6.0])
    assert near.shape == (8, 8) and not np.array_equal(near, far)
    assert np.array_equal(near, decoded([0.0, 0.0]))  # inference mode: the same code, the same image


def test_a_sample_code_is_the_runs_own_seeded_draw(client, pair):
    from vaekit.run import Run

    c, ids = client
    got = [c.get(f"/api/runs/{ids['vae']}/sample-code/{seed}", headers=AUTH).json()["code"]
           for seed in (3, 3, 4)]
    assert len(got[0]) == 2 and got[0] == got[1] and got[0] != got[2]
    assert got[0] == pytest.approx(Run(pair[0] / "vae").codes(1, "prior", 3)[0].tolist())


def test_playground_on_an_upload(client):
    c, ids = client
    up = c.post(f"/api/runs/{ids['vae']}/upload", content=png_bytes(50, 31, "RGBA"), headers=AUTH)
    assert up.status_code == 200, up.text
    out = c.post(f"/api/runs/{ids['vae']}/play", json={"source": {"upload": up.json()["upload"]},
                                                       "corruption": "saltpepper:0.2"}, headers=AUTH).json()
    assert out["input"].startswith("data:image/png;base64,") and out["recon"] != out["input"]
    assert out["psnr_noisy"] < 100 and 0 <= out["percentile"] <= 100 and len(out["mu"]) == 2
    assert sum(out["histogram"]["counts"]) > 0 and len(out["ellipse"]["radii"]) == 2
    frames = c.post(f"/api/runs/{ids['vae']}/interpolate", json={"a": {"test": 0}, "b": {"upload": up.json()["upload"]},
                                                                  "steps": 5}, headers=AUTH).json()["frames"]
    assert len(frames) == 5
    grid = c.post(f"/api/runs/{ids['ae']}/samples", json={"n": 16, "seed": 3}, headers=AUTH)
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"


BAD = [  # (method, path, body, headers, status, words in the one-line reason)
    ("GET", "/api/runs", None, {}, 401, "no access token"),
    ("GET", "/api/runs", None, {"X-Vaekit-Token": "wrong"}, 401, "wrong access token"),
    ("GET", "/api/runs", None, {**AUTH, "Host": "attacker.example:8765"}, 403, "Host header"),
    ("GET", "/api/runs", None, {**AUTH, "Origin": "http://attacker.example"}, 403, "Origin"),
    ("GET", "/api/runs/..%2F..%2Fetc%2Fpasswd", None, AUTH, 404, "no such page"),
    ("GET", "/api/runs/..%5C..%5Cconfig.json/codes", None, AUTH, 400, "expected a run id"),
    ("GET", "/api/runs/runs/codes", None, AUTH, 400, "expected a run id"),
    ("GET", "/api/runs/0123456789", None, AUTH, 404, "no run with id"),
    ("POST", "/api/runs/{vae}/decode", b"not json", AUTH, 400, "expected a JSON body"),
    ("POST", "/api/runs/{vae}/decode", {"z": [1.0]}, AUTH, 400, "expected a list of 2"),
    ("POST", "/api/runs/{vae}/decode", {"z": [1e300, 0]}, AUTH, 400, "finite numbers"),
    ("POST", "/api/runs/{vae}/decode", {"z": ["a", 0]}, AUTH, 400, "finite numbers"),
    ("POST", "/api/runs/{vae}/upload", b"", AUTH, 400, "body is empty"),
    ("POST", "/api/runs/{vae}/upload", b"GIF89a-not-really", AUTH, 400, "not an image"),
    ("POST", "/api/runs/{vae}/upload", "truncated", AUTH, 400, "not a readable image"),
    ("POST", "/api/runs/{vae}/upload", "bomb", AUTH, 413, "megapixels"),
    ("POST", "/api/runs/{vae}/upload", "big", AUTH, 413, "over the limit"),
    ("POST", "/api/runs/{vae}/play", {"source": {"upload": "nope"}}, AUTH, 404, "no upload"),
    ("POST", "/api/runs/{vae}/play", {"source": {"test": 10**9}}, AUTH, 404, "past the end"),
    ("POST", "/api/runs/{vae}/play", {"source": "../x.png"}, AUTH, 400, "source"),
    ("POST", "/api/runs/{vae}/play", {"source": {"test": 0}, "corruption": "melt:3"}, AUTH, 400, "corruption"),
    ("POST", "/api/runs/{vae}/samples", {"n": 10**6}, AUTH, 400, "n: expected an integer"),
    ("POST", "/api/runs/{vae}/samples", {"sampler": "magic"}, AUTH, 400, "sampler"),
    ("GET", "/api/runs/{vae}/grids/../config/1.png", None, AUTH, 404, "no such page"),
    ("GET", "/api/runs/{vae}/grids/secret/1.png", None, AUTH, 400, "grid kind"),
    ("GET", "/api/runs/{vae}/test/99999.png", None, AUTH, 404, "past the end"),
    ("POST", "/api/jobs", {"data": "mnist", "epochs": -1}, AUTH, 400, "epochs"),
    ("POST", "/api/jobs", {"data": "mnist", "out": "/etc"}, AUTH, 400, "not a setting the page can set"),
    ("POST", "/api/jobs/deadbeef/stop", {}, AUTH, 404, "no training"),
    ("GET", "/api/nothing", None, AUTH, 404, "no such page"),
]


@pytest.mark.parametrize("method,path,body,headers,status,words", BAD, ids=[f"{b[0]} {b[1]} {b[5]}" for b in BAD])
def test_bad_requests_get_a_4xx_and_the_server_stays_up(client, method, path, body, headers, status, words):
    c, ids = client
    path = path.format(**ids)
    if body == "truncated":
        body = png_bytes(40, 40)[:200]
    elif body == "bomb":
        body = huge_png_header(10_000, 10_000)  # 100 megapixels declared, 200 bytes sent
    elif body == "big":
        body = b"\0" * (17 * 2**20)
    kwargs = {"json": body} if isinstance(body, dict) else {"content": body} if body is not None else {}
    r = c.request(method, path, headers=headers, **kwargs)
    assert r.status_code == status, (r.status_code, r.text)
    reason = r.json()["error"]
    assert words in reason and "\n" not in reason and "Traceback" not in reason
    assert c.get("/api/runs", headers=AUTH).status_code == 200  # still up


def test_the_first_page_load_sets_a_same_site_cookie(client):
    c, ids = client
    page = c.get(f"/?token={TOKEN}")
    assert page.status_code == 200 and "<script src=\"/static/app.js\">" in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/static/app.js").status_code == 200  # the cookie now carries the token
    c.cookies.clear()
    assert c.get("/static/app.js").status_code == 401


def test_serve_refuses_a_public_host_without_the_flag(tmp_path):
    r = run_here("serve", str(tmp_path), "--host", "0.0.0.0", check=False)
    assert r.returncode == 2 and "--allow-remote" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_here("serve", str(tmp_path / "missing"), check=False)
    assert r.returncode == 2 and "no such folder" in r.stderr


def test_training_from_the_api_is_checked_like_the_command_line(client):
    c, _ = client
    r = c.post("/api/jobs", json={"data": "mnist", "latent_dim": "many"}, headers=AUTH)
    assert r.status_code == 400 and "latent_dim" in r.json()["error"]
    r = c.post("/api/jobs", json={"data": "mnist", "hidden": "8,,8"}, headers=AUTH)
    assert r.status_code == 400 and "hidden" in json.dumps(r.json())


def test_a_training_from_the_page_stops_with_its_checkpoint_and_resumes(client, _tiny_folder, tmp_path, monkeypatch):
    import time

    c, _ = client
    folder, cache = _tiny_folder
    monkeypatch.setenv("VAEKIT_DATA", str(cache))  # inherited by the training process
    jobs = c.app.app.state.jobs
    monkeypatch.setattr(jobs, "folder", tmp_path)
    started = c.post("/api/jobs", json={"data": str(folder), "latent_dim": 2, "hidden": "16", "epochs": 20,
                                         "batch_size": 16, "image_size": 8}, headers=AUTH)
    assert started.status_code == 201, started.text
    job = started.json()
    run = tmp_path / job["run"]

    def wait(until, seconds=120):
        end = time.time() + seconds
        while time.time() < end:
            info = next(j for j in c.get("/api/jobs", headers=AUTH).json()["jobs"] if j["id"] == job["id"])
            if until(info):
                return info
            time.sleep(0.05)
        raise AssertionError(f"training {job['id']} never got there: {info}")

    wait(lambda info: (run / "metrics.csv").is_file())
    assert c.post(f"/api/jobs/{job['id']}/stop", headers=AUTH).status_code == 200
    info = wait(lambda info: info["status"] not in ("running", "stopping"))
    assert info["status"] == "stopped" and "checkpoint saved" in info["message"], info
    done = len((run / "metrics.csv").read_text().splitlines()) - 1
    assert 1 <= done < 20 and (run / "checkpoint.safetensors").is_file()
    assert c.post(f"/api/jobs/{job['id']}/resume", headers=AUTH).json()["status"] == "running"
    info = wait(lambda info: info["status"] not in ("running", "stopping"))
    assert info["status"] == "finished", info
    epochs = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(1, 21))  # resumed where it stopped, no epoch twice


def test_codes_of_more_than_two_dimensions_lie_on_their_principal_plane(tiny_run, monkeypatch):
    from starlette.testclient import TestClient

    from vaekit.serve.app import create_app

    run, cache = tiny_run  # 3-D codes
    monkeypatch.setenv("VAEKIT_DATA", str(cache))
    with TestClient(create_app([run], TOKEN, "127.0.0.1", 8765), base_url="http://127.0.0.1:8765") as c:
        (row,) = c.get("/api/runs", headers=AUTH).json()["runs"]
        codes = c.get(f"/api/runs/{row['id']}/codes", headers=AUTH).json()
        basis = np.array(codes["basis"])
        assert codes["axes"] == ["PC1", "PC2"] and basis.shape == (2, 3)
        np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-5)  # orthonormal: circles stay circles
        r = c.post(f"/api/runs/{row['id']}/decode", json={"z": codes["mean"]}, headers=AUTH)
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (8, 8)
        out = c.post(f"/api/runs/{row['id']}/play", json={"source": {"test": 0}}, headers=AUTH).json()
        np.testing.assert_allclose(out["mu"], basis @ np.array(out["code"]), atol=1e-4)


def test_a_conditional_run_in_the_playground(_tiny_folder, tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from vaekit.serve.app import create_app

    folder, cache = _tiny_folder
    monkeypatch.setenv("VAEKIT_DATA", str(cache))
    run_here("train", "--data", str(folder), "--model", "cvae", "--image-size", "8", "--image-channels", "1",
             "--latent-dim", "3", "--hidden", "16", "--epochs", "1", "--batch-size", "16", "--precision", "32",
             "--no-progress", "--out", str(tmp_path / "cvae"))
    with TestClient(create_app([tmp_path / "cvae"], TOKEN, "127.0.0.1", 8765), base_url="http://127.0.0.1:8765") as c:
        (row,) = c.get("/api/runs", headers=AUTH).json()["runs"]
        rid = row["id"]
        assert c.post(f"/api/runs/{rid}/play", json={"source": {"test": 1}}, headers=AUTH).status_code == 200
        frames = c.post(f"/api/runs/{rid}/interpolate", json={"a": {"test": 0}, "b": {"test": 1}, "steps": 3},
                        headers=AUTH).json()["frames"]
        assert len(frames) == 3
        one, other = (c.post(f"/api/runs/{rid}/samples", json={"n": 8, "label": k}, headers=AUTH) for k in (0, 1))
        assert one.status_code == other.status_code == 200 and one.content != other.content
        r = c.post(f"/api/runs/{rid}/samples", json={"n": 8, "label": 7}, headers=AUTH)
        assert r.status_code == 400 and "label" in r.json()["error"]
