"""Serve the built site on 127.0.0.1 with gzip, as a reader's web server would:
``python scripts/serve_site.py [--port 8000] [DIRECTORY]`` (``scripts/book.sh`` runs it).

The page "Your photograph" promises the runtime is "about 4 MB compressed" (its WebAssembly file
is 14 MB, 3.7 MB gzipped): a file of a compressible type (HTML, CSS, JavaScript, JSON, SVG,
WebAssembly, ONNX) is sent gzipped (``Content-Encoding: gzip``) to a client that accepts it.
Compressed bodies are kept in memory by path and modification time.
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMPRESSIBLE = {".html", ".css", ".js", ".mjs", ".json", ".svg", ".txt", ".wasm", ".onnx", ".map", ".xml"}


class GzipHandler(SimpleHTTPRequestHandler):
    """Static files; gzip for compressible types when the request says ``Accept-Encoding: gzip``."""

    _cache: dict[tuple[str, float], bytes] = {}
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript", ".onnx": "application/octet-stream"}

    def log_message(self, *args):
        if os.environ.get("CHATTN_SERVE_LOG"):
            super().log_message(*args)

    def _wants_gzip(self) -> bool:
        accepted = self.headers.get("Accept-Encoding", "")
        return any(part.split(";")[0].strip() == "gzip" for part in accepted.split(","))

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?", 1)[0].endswith("/"):
            path = path / "index.html"                  # as SimpleHTTPRequestHandler does
        if path.is_dir() or path.suffix not in COMPRESSIBLE or not path.is_file() or not self._wants_gzip():
            return super().send_head()
        key = (str(path), path.stat().st_mtime)
        body = self._cache.get(key)
        if body is None:
            body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            self._cache[key] = body
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        from io import BytesIO
        return BytesIO(body)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", nargs="?", default=str(Path(__file__).resolve().parents[1] / "_build" / "html"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    args = parser.parse_args(argv)
    if not (Path(args.directory) / "index.html").is_file():
        print(f"no built site in {args.directory}: build it first (bash scripts/book.sh --no-serve)", file=sys.stderr)
        return 1

    def handler(*a, **k):
        return GzipHandler(*a, directory=args.directory, **k)

    with ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(f"Serving {args.directory} (gzip) at http://127.0.0.1:{args.port}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
