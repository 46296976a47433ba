#!/usr/bin/env bash
# Set up, build and open the book:  bash scripts/book.sh [--no-serve]
# Also prints it to _build/html/chattn-book.pdf (Debian's chromium, installed when missing).
# Opens the site in a browser when there is a display; otherwise serves it on
# http://127.0.0.1:$PORT/ (default 8000, gzip: scripts/serve_site.py) until Ctrl-C. --no-serve only builds.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" || exit 1
# .venv beside Debian's chromium (and a CJK font) for the PDF, nodejs/npm and npm ci.
set_up chromium fonts-wqy-microhei || { echo "the set-up failed (its output is above)"; exit 1; }

build_book || exit 1
build_zh || exit 1
build_pdf || exit 1
build_pdf_zh || exit 1
index="$ROOT/_build/html/index.html"
echo "The book: $index (中文版: $ROOT/_build/html/zh/index.html)"
[ "${1:-}" = "--no-serve" ] && exit 0

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = Darwin ]; then
    python -m webbrowser -t "file://$index"
else
    port="${PORT:-8000}"
    echo "No display: serving the book at http://127.0.0.1:$port/ (Ctrl-C to stop)"
    # With gzip (the photograph page's runtime: 14 MB, 3.7 MB gzipped), as a web server would.
    exec "$VENV/bin/python" "$ROOT/scripts/serve_site.py" --port "$port" "$ROOT/_build/html"
fi
