"""Atomic writes: the old file survives a failed write, and new files get the usual mode."""

from __future__ import annotations

import os

import pytest

from vaekit.files import atomic_write, write_json


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_json(tmp_path / "a.json", {"v": 1})

    def broken(path):
        path.write_text('{"v": 2')  # half a file, then the writer dies
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == '{\n  "v": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_written_files_get_the_mode_open_would_give(tmp_path):
    mask = os.umask(0o027)
    os.umask(mask)
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    written = atomic_write(tmp_path / "atomic", b"x", durable=True)
    # not mkstemp's private 0600: shared run folders stay readable where the umask allows it
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
