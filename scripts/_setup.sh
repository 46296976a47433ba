# Sourced by scripts/book.sh and scripts/test.sh: a ready .venv, quickly when nothing changed.
#
#   - creates .venv when missing (with $PYTHON, default python3);
#   - pip installs requirements.txt, requirements-test.txt and chattn (editable) only when one of
#     them or pyproject.toml changed since the last run (a hash in .venv/.chattn-setup), or chattn
#     does not import from this clone;
#   - defines build_book, build_pdf, ensure_chromium, ensure_pdftotext and ensure_npm.
# MathJax comes from a PyPI package (sphinx-mathjax-offline); npm only fetches onnxruntime-web.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "${PYTHON:-python3}" -m venv "$VENV" || return 1
fi

_want="$(cat requirements.txt requirements-test.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
_have="$(cat "$VENV/.chattn-setup" 2>/dev/null || true)"
_where="$("$VENV/bin/python" -c 'import chattn, os; print(os.path.dirname(os.path.dirname(chattn.__file__)))' 2>/dev/null || true)"
if [ "$_want" != "$_have" ] || [ "$_where" != "$ROOT" ]; then
    echo "== pip install -r requirements.txt -r requirements-test.txt && pip install -e ."
    "$VENV/bin/python" -m pip install -qq -r requirements.txt -r requirements-test.txt || return 1
    "$VENV/bin/python" -m pip install -qq -e . || return 1
    echo "$_want" > "$VENV/.chattn-setup"
else
    echo "== .venv is up to date"
fi
export PATH="$VENV/bin:$PATH"
unset _want _have _where

# Build the site into _build/html. CHATTN_STATIC=1: sliders become precomputed frames.
# Warnings are errors (-W), references must resolve (-n); notebook results are cached.
# The notebook cache is keyed by the notebooks only: when chattn itself changed since the last
# build, drop the cache so every chapter runs again against the new package.
build_book() {
    echo "== jupyter-book build (CHATTN_STATIC=1, -W -n)"
    local start=$SECONDS
    local pkg
    pkg="$(find chattn -type f \( -name '*.py' -o -path 'chattn/weights/*' \) -print0 | sort -z |
           xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
    if [ "$pkg" != "$(cat _build/.chattn-package 2>/dev/null)" ] && [ -d _build/.jupyter_cache ]; then
        echo "== chattn changed since the last build: clearing the notebook cache"
        rm -rf _build/.jupyter_cache _build/.doctrees
    fi
    mkdir -p _build && echo "$pkg" > _build/.chattn-package
    CHATTN_STATIC=1 "$VENV/bin/jupyter-book" build "$ROOT" -W -n --keep-going
    local status=$?
    echo "== build finished in $((SECONDS - start)) s (exit $status)"
    return $status
}

# The PDF of the whole book: Chromium prints every page of the built site, in _toc.yml's order,
# into _build/html/chattn-book.pdf (the front page links it). Needs build_book first.
build_pdf() {
    "$VENV/bin/python" "$ROOT/scripts/pdf.py"
}

# apt-get install Debian packages (with sudo unless root).
_apt_install() {
    echo "== apt-get install $*"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Debian's Chromium for the browser tests and the PDF (Playwright's own browser download does not
# work here), and a CJK font, so that the notation page's Chinese terms print in the PDF and
# screenshots (a reader's browser has its own fonts).
ensure_chromium() {
    [ -x /usr/bin/chromium ] || _apt_install chromium || return 1
    fc-list :lang=zh 2>/dev/null | grep -q . || _apt_install fonts-wqy-microhei
}

# pdftotext (poppler-utils) reads the PDF back in tests/test_pdf.py.
ensure_pdftotext() {
    command -v pdftotext >/dev/null || _apt_install poppler-utils
}

# onnxruntime-web for the page "Your photograph" (book/photograph/package.json, pinned with its
# lock file): Debian's nodejs/npm when missing, then `npm ci` when node_modules is missing or
# older than the lock file.
ensure_npm() {
    local dir="$ROOT/book/photograph"
    if ! command -v npm >/dev/null; then
        _apt_install nodejs npm || return 1
    fi
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ "$want" != "$(cat "$dir/node_modules/.chattn-npm" 2>/dev/null)" ]; then
        echo "== npm ci (book/photograph)"
        (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) || return 1
        echo "$want" > "$dir/node_modules/.chattn-npm"
    fi
}
