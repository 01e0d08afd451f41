"""The draw-a-digit page (`web/`): check that it has what it needs, and serve it on localhost.

The page is static: `index.html`, its scripts (`ui.js` the pad, `prep.js` the preparation and the
rules ported from `redraw` and `verdict`, `app.js`), the int8 model that `export --int8` writes, and
ONNX Runtime Web, installed from `web/package-lock.json` by `npm ci --prefix web` (git-ignored).
Of that package the page loads only the smallest build that runs the model (RUNTIME_FILES: 1.18's
core script and its plain WebAssembly, no threads, no SIMD; 1.19 and later ship only a threaded
build, 14 MB in 1.30). Any static server works; `serve` is Python's, with the right types.
"""
from __future__ import annotations

import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

from ..core.config import REPO_ROOT

WEB_DIR = REPO_ROOT / "web"
MODEL_FILE = "f8a_seed1.int8.onnx"  # the page reads it by this name, beside index.html
RUNTIME_DIR = Path("node_modules/onnxruntime-web/dist")
RUNTIME_FILES = ("ort.wasm-core.min.js", "ort-wasm.wasm")  # what the page loads of it
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
         ".onnx": "application/octet-stream", ".html": "text/html", ".png": "image/png"}


class WebError(ValueError):
    """The page lacks a file it needs; the message says how to get it."""


def check(root: str | Path = WEB_DIR) -> Path:
    """`root` if it holds the page, its model and ONNX Runtime Web; else a WebError naming the fix."""
    root = Path(root)
    if not (root / "index.html").is_file():
        raise WebError(f"{root}: no index.html; the page is the web/ folder of a clone of the project")
    if not (root / MODEL_FILE).is_file():
        raise WebError(f"{root / MODEL_FILE} is missing; write it with `python -m effmnist_utils export "
                       f"results/runs/f8a_seed1.json --int8` and copy the .int8.onnx file into {root}")
    missing = [name for name in RUNTIME_FILES if not (root / RUNTIME_DIR / name).is_file()]
    if missing:
        raise WebError(f"ONNX Runtime Web is not installed ({root / RUNTIME_DIR / missing[0]} is missing); "
                       f"install it with `npm ci --prefix {root}` (Node.js and npm needed)")
    return root


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = TYPES

    def log_message(self, format, *args):  # the server keeps the paths; the terminal stays quiet
        self.server.requests.append(self.path)
        if self.server.verbose:
            super().log_message(format, *args)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # an edited page is never served stale
        super().end_headers()


def make_server(root: str | Path = WEB_DIR, host: str = "127.0.0.1", port: int = 0,
                verbose: bool = False) -> http.server.ThreadingHTTPServer:
    """An HTTP server for the files under `root` (port 0: any free port); `.requests` lists the
    paths it was asked for. Refused with a clear message when the port is taken."""
    try:
        server = http.server.ThreadingHTTPServer(
            (host, port), functools.partial(_Handler, directory=str(root)))
    except OSError as exc:
        raise WebError(f"cannot serve on {host}:{port} ({exc.strerror}); choose another --port") from None
    server.requests, server.verbose = [], verbose
    server.daemon_threads = True
    return server


def url(server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


@contextmanager
def serving(root: str | Path = WEB_DIR):
    """Serve `root` on a free localhost port in a background thread; yields the server."""
    server = make_server(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
