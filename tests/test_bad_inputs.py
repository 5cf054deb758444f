"""The malformed-input corpus: crafted .vkz files, damaged detector folders, image files and
folders no one can train on, bad settings files and flags. Each case is built in tmp_path and
must end in exit status 2 with one line naming the file, flag or field -- never a traceback --
and leave nothing half-written: the output it asked for does not exist afterwards.

(Damaged run folders and checkpoints are in test_damage.py, image decoding in test_decode.py.)
"""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
from conftest import make_image_folder, run_here, run_main
from PIL import Image


def one_error_line(code: int, err: str, words: str, case: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("vaekit: ")]
    assert code == 2, (case, code, err)
    assert len(lines) == 1 and lines[0].startswith("vaekit: error: "), (case, err)
    assert words in lines[0], (case, words, lines[0])
    assert "Traceback" not in err, (case, err)


# ----------------------------------------------------------------------------- .vkz files
@pytest.fixture(scope="module")
def vkz(tiny_run, tmp_path_factory):
    """(run, cache, a valid .vkz of 6 images, its header, its payload)."""
    run, cache = tiny_run
    work = tmp_path_factory.mktemp("vkz")
    folder = make_image_folder(work / "imgs", classes=2, per_class=3, size=(12, 12), mode="L")
    run_here("compress", str(run), str(folder), "-o", str(work / "ok.vkz"), "--bits", "6",
            env={"VAEKIT_DATA": str(cache)})
    blob = (work / "ok.vkz").read_bytes()
    (hlen,) = struct.unpack("<I", blob[4:8])
    return run, cache, blob, json.loads(blob[8 : 8 + hlen]), blob[8 + hlen :]


def _vkz(header: dict, payload: bytes) -> bytes:
    head = json.dumps(header).encode()
    return b"VKZ1" + struct.pack("<I", len(head)) + head + payload


def _edit(change):
    def build(header, payload):
        header = json.loads(json.dumps(header))
        change(header)
        return _vkz(header, payload)
    return build


VKZ_CASES = [  # (name, build(header, payload) -> bytes, words in the one line)
    ("count 0", _edit(lambda h: h.update(count=0)), "count: expected a whole number of images >= 1"),
    ("negative count", _edit(lambda h: h.update(count=-3)), "count: expected a whole number"),
    ("count a string", _edit(lambda h: h.update(count="6")), "count: expected a whole number"),
    ("names and codes disagree", _edit(lambda h: h.update(names=h["names"][:2])), "names: expected a list of 6 image names"),
    ("names not strings", _edit(lambda h: h.update(names=[1] * 6)), "names: expected"),
    ("short centre vector", _edit(lambda h: h.update(centre=h["centre"][:1])), "centre: expected a list of 3 numbers"),
    ("scale of zero", _edit(lambda h: h["scale"].__setitem__(0, 0.0)), "scale: expected finite numbers > 0"),
    ("NaN centre", _edit(lambda h: h["centre"].__setitem__(0, float("nan"))), "centre: expected finite numbers"),
    ("bits 0", _edit(lambda h: h.update(bits=0)), "bits: expected a whole number from 1 to 16"),
    ("bits 17", _edit(lambda h: h.update(bits=17)), "bits: expected a whole number from 1 to 16"),
    ("latent size a string", _edit(lambda h: h["model"].update(latent_dim="3")), "model.latent_dim: expected"),
    ("format 2", _edit(lambda h: h.update(format=2)), "format version 2; this vaekit reads 1"),
    ("header a list", lambda h, p: b"VKZ1" + struct.pack("<I", 2) + b"[]" + p, "header: expected a JSON object"),
    ("header not JSON", lambda h, p: b"VKZ1" + struct.pack("<I", 5) + b"{nope" + p, "damaged header (not JSON)"),
    ("header longer than the file", lambda h, p: b"VKZ1" + struct.pack("<I", 10**6) + b"{}", "the header claims 1000000 bytes"),
    ("payload cut short", lambda h, p: _vkz(h, p[:-3]), "payload is"),
    ("payload too long", lambda h, p: _vkz(h, p + b"\0"), "payload is"),
    ("not a .vkz at all", lambda h, p: b"\x89PNG\r\n\x1a\n" + p, "not a vaekit compressed file"),
    ("empty file", lambda h, p: b"", "not a vaekit compressed file"),
    ("written by another model", _edit(lambda h: h["model"].update(weights_sha256="ffffffffffffffff")), "was written by another model"),
]


@pytest.mark.parametrize("name,build,words", VKZ_CASES, ids=[c[0] for c in VKZ_CASES])
def test_a_crafted_vkz_file_is_refused_before_anything_is_written(vkz, tmp_path, name, build, words):
    run, cache, _, header, payload = vkz
    (tmp_path / "bad.vkz").write_bytes(build(header, payload))
    out = tmp_path / "out"
    code, _, err = run_main("decompress", str(tmp_path / "bad.vkz"), "-o", str(out), "--run", str(run),
                            env={"VAEKIT_DATA": str(cache)})
    one_error_line(code, err, words, name)
    assert f"{tmp_path / 'bad.vkz'}" in err
    assert not out.exists(), name


def test_the_valid_vkz_decompresses(vkz, tmp_path):
    run, cache, blob, _, _ = vkz
    (tmp_path / "ok.vkz").write_bytes(blob)
    code, out, err = run_main("decompress", str(tmp_path / "ok.vkz"), "-o", str(tmp_path / "out"), "--run", str(run),
                              env={"VAEKIT_DATA": str(cache)})
    assert code == 0, err
    assert len(list((tmp_path / "out").rglob("*.png"))) == 6


# ----------------------------------------------------------------------------- detector folders
@pytest.fixture(scope="module")
def detector(_tiny_folder, tmp_path_factory):
    folder, cache = _tiny_folder
    det = tmp_path_factory.mktemp("det") / "det"
    run_here("anomaly", "fit", "--data", str(folder), "--image-size", "8", "--latent-dim", "3",
            "--epochs", "1", "--no-progress", "--out", str(det), env={"VAEKIT_DATA": str(cache)})
    return det, folder, cache


def _detector_json(change):
    def damage(det):
        meta = json.loads((det / "detector.json").read_text())
        change(meta)
        (det / "detector.json").write_text(json.dumps(meta))
    return damage


DETECTOR_CASES = [
    ("detector.json not JSON", lambda d: (d / "detector.json").write_text("{threshold"), "detector.json: damaged (JSONDecodeError"),
    ("no threshold", _detector_json(lambda m: m.pop("threshold")), "detector.json: damaged (KeyError: no 'threshold')"),
    ("an unknown setting", _detector_json(lambda m: m["settings"].update(colour="red")), "detector.json: damaged (TypeError"),
    ("neighbours 0", _detector_json(lambda m: m["settings"].update(neighbors=0)), "neighbors: expected an integer >= 1"),
    ("threshold not a number", _detector_json(lambda m: m.update(threshold="high")), "detector.json: damaged (ValueError"),
    ("code mean of the wrong size", _detector_json(lambda m: m.update(code_mean=[0.0])), "do not fit its model (3-d codes)"),
    ("codes file truncated", lambda d: (d / "detector_codes.safetensors").write_bytes(b"\x10\0\0"), "damaged detector codes"),
    ("codes file missing", lambda d: (d / "detector_codes.safetensors").unlink(), "detector_codes.safetensors is missing"),
    ("not a detector", lambda d: (d / "detector.json").unlink(), "not an anomaly detector (no detector.json)"),
    ("its weights damaged", lambda d: (d / "model.safetensors").write_bytes(b"\0" * 10), "damaged weights"),
]


@pytest.mark.parametrize("name,damage,words", DETECTOR_CASES, ids=[c[0] for c in DETECTOR_CASES])
def test_a_damaged_detector_folder_gets_one_line(detector, tmp_path, name, damage, words):
    det, folder, cache = detector
    copy = tmp_path / "det"
    shutil.copytree(det, copy)
    damage(copy)
    code, _, err = run_main("anomaly", "score", str(copy), str(folder), "-o", str(tmp_path / "scores.csv"),
                            env={"VAEKIT_DATA": str(cache)})
    one_error_line(code, err, words, name)
    assert not (tmp_path / "scores.csv").exists() and not (tmp_path / "scores_top.png").exists()


# ----------------------------------------------------------------------------- images, folders, settings files
def _broken_folder(tmp):
    folder = tmp / "broken"
    (folder / "a").mkdir(parents=True)
    for i in range(3):
        (folder / "a" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * i)
    return folder


def _bomb(tmp):
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path = tmp / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


def _write(name, text):
    def make(tmp):
        (tmp / name).write_text(text)
        return tmp / name
    return make


# (name, make(tmp) -> path or None, args with {P} for that path and RUN for the tiny run, words)
INPUT_CASES = [
    ("an empty folder", lambda t: (t / "empty").mkdir() or t / "empty", ["train", "--data", "{P}"], "no images found"),
    ("a folder of broken images", _broken_folder, ["train", "--data", "{P}"], "none of the 3 image files could be decoded"),
    ("a file as the data", _write("notes.txt", "hello"), ["train", "--data", "{P}"], "not a folder and not a built-in data set name"),
    ("a misspelt data set", None, ["train", "--data", "mnits"], "--data: "),
    ("a truncated image to reconstruct", _write("cut.png", "\x89PNG\r\n"), ["reconstruct", "RUN", "{P}", "-o", "{OUT}"], "cut.png: not a readable image"),
    ("a bomb to reconstruct", _bomb, ["reconstruct", "RUN", "{P}", "-o", "{OUT}"], "400 megapixels, over the limit"),
    ("a missing image to reconstruct", None, ["reconstruct", "RUN", "/no/such.png", "-o", "{OUT}"], "/no/such.png"),
    ("a missing folder to compress", None, ["compress", "RUN", "/no/such/dir", "-o", "{OUT}.vkz"], "/no/such/dir"),
    ("only broken images to compress", _broken_folder, ["compress", "RUN", "{P}", "-o", "{OUT}.vkz"], "none of the 3 files could be read"),
    ("a missing image to interpolate from", None, ["interpolate", "RUN", "--a", "/no/such.png", "-o", "{OUT}"], "--a: "),
    ("a test index past the end", None, ["interpolate", "RUN", "--a", "99999", "-o", "{OUT}"], "--a: "),
    ("a missing settings file", None, ["train", "--config", "/no/such.toml"], "--config: "),
    ("a settings file that is not TOML", _write("bad.toml", "epochs = = 3"), ["train", "--config", "{P}"], "bad.toml"),
    ("an unknown key in a settings file", _write("s.toml", "epoch = 3\n"), ["train", "--config", "{P}"], "epoch"),
    ("a string for a number in a settings file", _write("s.yaml", "latent_dim: ten\n"), ["train", "--config", "{P}"], "s.yaml: latent_dim: expected an integer from 1 to 16384"),
    ("a YAML list as the settings", _write("s.yaml", "- 1\n- 2\n"), ["train", "--config", "{P}"], "s.yaml"),
]


@pytest.mark.parametrize("name,make,args,words", INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_bad_images_folders_and_settings_files(tiny_run, tmp_path, name, make, args, words):
    run, cache = tiny_run
    path = make(tmp_path) if make else None
    out = tmp_path / "result"
    args = [a.replace("{P}", str(path)).replace("{OUT}", str(out)).replace("RUN", str(run)) for a in args]
    if args[0] == "train":
        args += ["--out", str(out), "--epochs", "1", "--image-size", "8"]
    code, _, err = run_main(*args, env={"VAEKIT_DATA": str(cache)}, cwd=tmp_path)
    one_error_line(code, err, words, name)
    assert not list(tmp_path.glob("result*")), name


# ----------------------------------------------------------------------------- flags
FLAG_CASES = [
    (["train", "--batch-size", "0"], "--batch-size: expected"),
    (["train", "--val-fraction", "1.5"], "--val-fraction: expected"),
    (["train", "--image-size", "-3"], "--image-size: expected"),
    (["train", "--model", "nvae"], "--model: expected one of"),
    (["train", "--backbone", "unet"], "--backbone: expected one of"),
    (["train", "--objective", "gan"], "--objective: expected one of"),
    (["train", "--accelerator", "cuda"], "--accelerator: expected a device this machine has"),
    (["train", "--epochs", "ten"], "Invalid value for '--epochs'"),
    (["train", "--no-such-flag"], "No such option: --no-such-flag"),
    (["train", "--resume", "/no/such/run"], "/no/such/run"),
    (["sample", "RUN", "-n", "20000"], "-n: expected an integer >= 1 and <= 10,000"),
    (["sample", "RUN", "--sampler", "gmm", "--components", "0"], "--components: "),
    (["manifold", "RUN", "-n", "1000"], "-n: expected an integer >= 1 and <= 100"),
    (["traverse", "RUN", "--steps", "5000"], "--steps: expected an integer >= 2 and <= 1,000"),
    (["compress", "RUN", "IMGS", "-o", "{OUT}.vkz", "--bits", "0"], "--bits: expected 1 to 16"),
    (["compress", "RUN", "IMGS", "-o", "{OUT}.vkz", "--bits", "17"], "--bits: expected 1 to 16"),
    (["augment", "RUN", "--per-class", "3", "-o", "{OUT}"], "cvae"),
    (["sample", "RUN", "--class", "3"], "--class: "),
    (["anomaly", "fit", "--data", "IMGS", "--contamination", "0.7", "--out", "{OUT}"], "--contamination: expected"),
    (["anomaly", "fit", "--data", "IMGS", "--score", "psnr", "--out", "{OUT}"], "--score: expected one of"),
    (["anomaly", "fit", "--data", "IMGS", "--image-size", "8", "--neighbors", "500", "--out", "{OUT}"],
     "--neighbors: 500 needs more than that many training images, got 71"),
    (["train", "--image-size", "100000"], "--image-size: expected an integer from 4 to 1024"),
    (["train", "--latent-dim", "1000000000"], "--latent-dim: expected an integer from 1 to 16384"),
    (["train", "--channels", "8,,8", "--backbone", "conv"], "--channels: expected comma-separated integers"),
    (["train", "--image-size", "512", "--hidden", "4096"], "--hidden: expected an MLP layer under 268 million weights"),
    (["traverse", "RUN", "--span", "inf"], "--span: expected a finite number > 0"),
    (["sample"], "Missing argument 'run'"),
]


@pytest.mark.parametrize("args,words", FLAG_CASES, ids=[" ".join(c[0][:4]) for c in FLAG_CASES])
def test_more_bad_flags(tiny_run, _tiny_folder, tmp_path, args, words):
    run, cache = tiny_run
    folder = _tiny_folder[0]
    out = tmp_path / "result"
    args = [a.replace("{OUT}", str(out)).replace("RUN", str(run)).replace("IMGS", str(folder)) for a in args]
    if args[0] == "train":
        args += ["--out", str(out), "--data", str(folder)] + ([] if "--image-size" in args else ["--image-size", "8"])
    code, _, err = run_main(*args, env={"VAEKIT_DATA": str(cache)}, cwd=tmp_path)
    one_error_line(code, err, words, " ".join(args))
    assert not list(tmp_path.glob("result*"))


# ----------------------------------------------------------------------------- a damaged decode cache
def test_a_damaged_folder_cache_is_rebuilt(tmp_path, data_home):
    from vaekit import datasets

    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=5, size=(10, 10), mode="L")
    first = np.asarray(datasets.load(str(folder), image_size=8).train.images)
    (cache,) = (data_home / "folders").iterdir()
    (cache / "images.npy").write_bytes((cache / "images.npy").read_bytes()[:200])  # cut short
    assert np.array_equal(first, np.asarray(datasets.load(str(folder), image_size=8).train.images))
    (cache / "meta.json").write_text("{")
    assert np.array_equal(first, np.asarray(datasets.load(str(folder), image_size=8).train.images))
    shutil.rmtree(cache)
    cache.mkdir()  # an entry left empty (a copy interrupted by hand)
    assert np.array_equal(first, np.asarray(datasets.load(str(folder), image_size=8).train.images))


def test_damaged_cache_warning_names_the_cache(tmp_path, data_home, capsys):
    from vaekit import datasets

    folder = make_image_folder(tmp_path / "imgs", classes=1, per_class=4, size=(10, 10), mode="L")
    datasets.load(str(folder), image_size=8)
    (cache,) = (data_home / "folders").iterdir()
    (cache / "labels.npy").write_bytes(b"junk")
    capsys.readouterr()
    datasets.load(str(folder), image_size=8)
    err = capsys.readouterr().err
    assert f"warning: the decoded copy of {folder.resolve()} in {cache} is damaged" in err
    assert "decoding again" in err


def test_too_few_images_are_refused_before_the_run_folder_is_made(tmp_path, data_home):
    """Legal files, too few of them: one 1x1 image cannot be split into train, validation and test."""
    (tmp_path / "one").mkdir()
    Image.new("L", (1, 1), 128).save(tmp_path / "one" / "dot.png")
    code, _, err = run_main("train", "--data", str(tmp_path / "one"), "--image-size", "4", "--epochs", "1",
                            "--out", str(tmp_path / "run"), "--no-progress")
    one_error_line(code, err, "only 1 image, too few to train on: a run needs at least 3", "one image")
    assert not (tmp_path / "run").exists()
    for i in (1, 2):
        Image.new("L", (1, 1), 40 * i).save(tmp_path / "one" / f"dot{i}.png")
    code, _, err = run_main("train", "--data", str(tmp_path / "one"), "--image-size", "4", "--epochs", "1",
                            "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 0 and (tmp_path / "run" / "model.safetensors").is_file(), err  # three: a (tiny) run
