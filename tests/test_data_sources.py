"""Fetching: archives read in memory, suffix matching, checksums, and the all-sources-failed report."""

import gzip
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

from vaekit.datasets import builtin, store
from vaekit.datasets.builtin import BuiltinSpec, content_digest
from vaekit.datasets.fetch import Source, SourceFailed, fetch, open_archive, pick
from vaekit.datasets.idx import parse_idx
from vaekit.errors import VaekitError


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_parse_idx_round_trip_and_errors():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx_bytes(arr)), arr)
    with pytest.raises(ValueError, match="bad magic"):
        parse_idx(b"\x01\x02\x03\x04", "x.idx")
    with pytest.raises(ValueError, match="promises 24 bytes"):
        parse_idx(idx_bytes(arr)[:-1], "short.idx")


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deb(data_tar: bytes) -> bytes:
    def member(name: str, data: bytes) -> bytes:
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        return head + data + (b"\n" if len(data) % 2 else b"")
    return b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.gz", data_tar)


def test_archives_are_read_in_memory():
    files = {"package/data/a-ubyte": b"AAA", "package/b.gz": gzip.compress(b"BBB")}
    assert open_archive("x.tgz", _tgz(files))["package/data/a-ubyte"] == b"AAA"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/data/a-ubyte", b"AAA")
    assert open_archive("x.whl", buf.getvalue()) == {"pkg/data/a-ubyte": b"AAA"}
    deb = open_archive("x.deb", _deb(_tgz({"./usr/share/d/b.gz": gzip.compress(b"BBB")})))
    assert pick(deb, ["b"]) == {"b": b"BBB"}  # .gz stands in for the plain file
    assert pick(open_archive("x.tgz", _tgz(files)), ["a-ubyte", "b"]) == {"a-ubyte": b"AAA", "b": b"BBB"}
    with pytest.raises(SourceFailed, match="no file ending in 'c'"):
        pick(files, ["c"])
    with pytest.raises(SourceFailed, match="not a Debian package"):
        open_archive("x.deb", b"garbage")


def test_unreachable_url_fails_fast_with_a_reason():
    with pytest.raises(SourceFailed, match="URLError"):
        fetch(Source("closed port", "urls", "http://127.0.0.1:9/"), ["f"])


@pytest.fixture
def toy_spec(monkeypatch, tmp_path):
    """A fake built-in data set whose only source is a local folder."""
    src = tmp_path / "src"
    src.mkdir()
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    labels = np.array([0, 1], dtype=np.uint8)
    names = ["img", "lbl"]
    files = {"img": idx_bytes(images), "lbl": idx_bytes(labels)}
    for n, b in files.items():
        (src / (n + ".gz")).write_bytes(gzip.compress(b))

    def build(f):
        return {"train_images": parse_idx(f["img"])[:, None],
                "train_labels": parse_idx(f["lbl"]).astype(np.int64)}

    spec = BuiltinSpec("toy", "toy data", names, content_digest(files, names),
                       [Source("dead", "urls", "http://127.0.0.1:9/"),
                        Source("folder", "path", str(src))], build, ["a", "b"])
    monkeypatch.setitem(builtin.BUILTIN, "toy", spec)
    monkeypatch.setattr(store, "BUILTIN", builtin.BUILTIN)
    return spec, src


def test_fetch_falls_back_verifies_and_caches(toy_spec, data_home):
    folder = store.fetch_builtin("toy", log=lambda m: None)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["source"].startswith("folder")
    data = store.load_builtin("toy")
    assert data.train.shape == (1, 4, 4) and len(data.train) == 2 and data.test is None
    assert not list(data_home.glob(".toy-*")), "no temporary folder is left behind"


def test_checksum_mismatch_and_total_failure_are_reported(toy_spec, data_home):
    spec, src = toy_spec
    (src / "img.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (1).to_bytes(4, "big") + b"X"))
    with pytest.raises(VaekitError) as err:
        store.fetch_builtin("toy", log=lambda m: None)
    text = str(err.value)
    assert "every source failed" in text and "dead" in text and "SHA-256" in text
    assert "--from PATH" in text
    assert not (data_home / "toy").exists()


def test_unknown_name_lists_the_builtins():
    with pytest.raises(VaekitError, match="mnist, fashion-mnist, orl-faces, lfw-faces"):
        store.fetch_builtin("cifar")
