"""scripts/serve_site.py (what scripts/book.sh serves the site with) sends gzip, so that the
photograph page's "about 4 MB compressed" for its 14 MB runtime holds."""
from __future__ import annotations

import gzip
import re
import urllib.request

import pytest

from conftest import ROOT, serve  # conftest puts scripts/ on sys.path
from serve_site import GzipHandler


def get(url, gzip_ok=True):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate"} if gzip_ok else {})
    with urllib.request.urlopen(req) as r:
        return r.headers, r.read()


def test_compressible_files_are_sent_gzipped_to_clients_that_accept_it(tmp_path):
    (tmp_path / "index.html").write_text("<p>" + "hello " * 2000 + "</p>")
    wasm = bytes(range(256)) * 400 + b"\0" * 100_000
    (tmp_path / "a.wasm").write_bytes(wasm)
    (tmp_path / "a.png").write_bytes(b"\x89PNG" + bytes(5000))
    with serve(tmp_path, GzipHandler) as url:
        headers, body = get(f"{url}/a.wasm")
        assert headers["Content-Encoding"] == "gzip" and headers["Content-Type"] == "application/wasm"
        assert int(headers["Content-Length"]) == len(body) < len(wasm) / 5
        assert gzip.decompress(body) == wasm
        headers, body = get(f"{url}/a.wasm", gzip_ok=False)               # no Accept-Encoding: plain
        assert headers["Content-Encoding"] is None and body == wasm
        headers, body = get(f"{url}/")                                    # a directory: its index.html
        assert gzip.decompress(body).startswith(b"<p>hello")
        headers, body = get(f"{url}/a.png")                               # PNG is compressed already
        assert headers["Content-Encoding"] is None and body.startswith(b"\x89PNG")


def test_the_page_promises_what_gzip_delivers():
    wasm = ROOT / "book" / "photograph" / "node_modules" / "onnxruntime-web" / "dist" / "ort-wasm-simd-threaded.wasm"
    if not wasm.is_file():
        pytest.skip("onnxruntime-web not installed (npm ci in book/photograph; scripts/test.sh does it)")
    text = (ROOT / "book" / "photograph.md").read_text(encoding="utf-8")
    raw, packed = map(int, re.search(r"\((\d+) MB, about (\d+) MB compressed", text).groups())
    size = wasm.stat().st_size
    assert abs(size / 1e6 - raw) <= 0.5, size
    assert abs(len(gzip.compress(wasm.read_bytes(), 6)) / 1e6 - packed) <= 0.5
    assert "serve_site.py" in (ROOT / "scripts" / "book.sh").read_text()
