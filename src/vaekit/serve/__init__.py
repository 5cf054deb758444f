"""``vaekit serve``: a local web page to see and touch trained runs (see ``vaekit.serve.app``).

    >>> from vaekit.serve import serve
    >>> serve(["runs/demo"])          # prints the URL (with its access token) and serves until Ctrl-C
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from vaekit.errors import VaekitError

DEFAULT_PORT = 8765


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``port`` of ``host``, or on the next free port (up to 100 further);
    0: any. Bound before the URL is printed, so the URL answers as soon as it is shown (a
    connection waits in the queue until the server takes it)."""
    for candidate in [port] + list(range(port + 1, port + 101)) if port else [0]:
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, candidate))
        except OSError:
            s.close()
            continue
        s.listen(128)
        return s
    raise VaekitError(f"no free port from {port} to {port + 100} on {host}", "port")


def url(host: str, port: int, token: str, view: str = "") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/?token={token}" + (f"#{view}" if view else "")


def serve(paths: list[str | Path], host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          token: str | None = None, train_folder: str | Path | None = None,
          allow_remote: bool = False, log=print) -> None:
    """Serve the runs below ``paths`` until interrupted. Binds ``host`` (127.0.0.1: this machine
    only); another host needs ``allow_remote``. ``token``: the access token (default: a new
    random one each start)."""
    import uvicorn

    from vaekit.serve.app import create_app
    from vaekit.serve.security import new_token

    for p in map(Path, paths or []):
        if not p.is_dir():
            raise VaekitError(f"{p}: no such folder (expected a run folder or a folder of runs)")
    paths = [Path(p) for p in paths or []] or [Path("runs")]  # runs/ may not exist yet: trainings make it
    if host not in ("127.0.0.1", "localhost", "::1") and not allow_remote:
        raise VaekitError(f"{host} would let other machines reach the page; pass --allow-remote "
                          "to mean it (the access token then guards it)", "host")
    sock = listen(host, port)
    port = sock.getsockname()[1]
    token = token or new_token()
    app = create_app(paths, token, host, port, Path(train_folder) if train_folder else None)
    pair = app.app.state.library.default_pair()
    view = f"/explore/{','.join(pair)}" if pair else ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host}: anyone who can reach this machine and has the URL's token "
              "can use the page and train on it", file=sys.stderr)
    runs = len(app.app.state.library.rows())
    log(f"vaekit serve: {runs} run{'s' * (runs != 1)} from {', '.join(map(str, paths))}; "
        "Ctrl-C stops the server")
    log(f"open {url(host, port, token, view)}")
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
