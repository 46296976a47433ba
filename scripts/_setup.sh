# Sourced by scripts/book.sh and scripts/test.sh. Defines, and runs nothing itself:
#
#   set_up DEB...   the whole set-up, its independent parts side by side:
#                   - ensure_venv: .venv (with $PYTHON, default python3); pip installs
#                     requirements.txt, requirements-test.txt and chattn (editable) only when one of
#                     them or pyproject.toml changed since the last run (a hash in
#                     .venv/.chattn-setup), or chattn does not import from this clone; no
#                     bytecode compiled at install (Python writes it for what is imported);
#                   - ensure_debs DEB... (one apt-get for every missing Debian package), then
#                     ensure_npm (npm ci in book/photograph when its lock file changed);
#   build_book, build_pdf.
# MathJax comes from a PyPI package (sphinx-mathjax-offline); npm only fetches onnxruntime-web.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"
export PATH="$VENV/bin:$PATH"
# pip installs without compiling bytecode (--no-compile: all of torch, scipy, jupyterlab ..., ~45
# CPU-s); Python compiles, once, only the modules something imports, so it must be allowed to
# write the bytecode (__pycache__ is ignored by git).
unset PYTHONDONTWRITEBYTECODE

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "== creating $VENV"
        "${PYTHON:-python3}" -m venv "$VENV" || return 1
    fi
    local want have where
    want="$(cat requirements.txt requirements-test.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
    have="$(cat "$VENV/.chattn-setup" 2>/dev/null || true)"
    where="$("$VENV/bin/python" -c 'import chattn, os; print(os.path.dirname(os.path.dirname(chattn.__file__)))' 2>/dev/null || true)"
    if [ "$want" != "$have" ] || [ "$where" != "$ROOT" ]; then
        echo "== pip install -r requirements.txt -r requirements-test.txt -e ."
        # One pip run (one resolution, one pass of installs) for the requirements and chattn.
        "$VENV/bin/python" -m pip install -qq --no-compile -r requirements.txt -r requirements-test.txt -e . ||
            return 1
        echo "$want" > "$VENV/.chattn-setup"
    else
        echo "== .venv is up to date"
    fi
}

# The Debian packages the command needs, installed in ONE apt-get run (apt holds a lock: two runs
# cannot overlap anyway). A package counts as present when its command or font is.
_deb_present() {
    case "$1" in
        chromium) [ -x /usr/bin/chromium ] ;;
        fonts-wqy-microhei) fc-list :lang=zh 2>/dev/null | grep -q . ;;
        poppler-utils) command -v pdftotext >/dev/null ;;
        nodejs) command -v node >/dev/null ;;
        npm) command -v npm >/dev/null ;;
        *) dpkg -s "$1" >/dev/null 2>&1 ;;
    esac
}

ensure_debs() {
    local missing=() deb
    for deb in "$@"; do _deb_present "$deb" || missing+=("$deb"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    _apt_install "${missing[@]}"
}

# Set-up in two parallel halves: pip (CPU and disk) beside apt + npm (mostly network). Each half's
# output is shown when it ends, with its time; fails if either failed.
set_up() {
    local start=$SECONDS log
    log="$(mktemp -d)"
    ( ensure_venv > "$log/venv" 2>&1; echo $? > "$log/venv.rc"; echo $((SECONDS - start)) > "$log/venv.s" ) &
    ( { ensure_debs "$@" && ensure_npm; } > "$log/system" 2>&1; echo $? > "$log/system.rc"
      echo $((SECONDS - start)) > "$log/system.s" ) &
    wait
    local status=0 part
    for part in venv system; do
        cat "$log/$part"
        echo "== set-up ($part) $(cat "$log/$part.s") s, exit $(cat "$log/$part.rc")"
        [ "$(cat "$log/$part.rc")" = 0 ] || status=1
    done
    rm -rf "$log"
    return $status
}

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
        rm -rf _build/.jupyter_cache _build/.doctrees _build/.doctrees-zh _build/.doctrees-gettext
    fi
    mkdir -p _build && echo "$pkg" > _build/.chattn-package
    CHATTN_STATIC=1 "$VENV/bin/jupyter-book" build "$ROOT" -W -n --keep-going
    local status=$?
    echo "== build finished in $((SECONDS - start)) s (exit $status)"
    return $status
}

# The Chinese edition into _build/html/zh (scripts/build_zh.py, -W -n): the same sources, each
# page's translations from locales/zh_CN/LC_MESSAGES; it reads the English build's notebook cache
# (no notebook runs again) and shares its slider frames. Needs build_book first.
build_zh() {
    echo "== Chinese edition (scripts/build_zh.py, -W -n)"
    local start=$SECONDS
    "$VENV/bin/python" "$ROOT/scripts/build_zh.py"
    local status=$?
    echo "== Chinese edition finished in $((SECONDS - start)) s (exit $status)"
    return $status
}

# The PDF of the whole book: Chromium prints every page of the built site, in _toc.yml's order,
# into _build/html/chattn-book.pdf (the front page links it). Needs build_book first.
build_pdf() {
    "$VENV/bin/python" "$ROOT/scripts/pdf.py"
}

# The Chinese edition's PDF, _build/html/zh/chattn-book-zh.pdf. Needs build_zh first.
build_pdf_zh() {
    "$VENV/bin/python" "$ROOT/scripts/pdf.py" --language zh
}

# apt-get install Debian packages (with sudo unless root).
_apt_install() {
    echo "== apt-get install $*"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# onnxruntime-web for the page "Your photograph" (book/photograph/package.json, pinned with its
# lock file): Debian's nodejs/npm when missing, then `npm ci` when node_modules is missing or
# older than the lock file.
ensure_npm() {
    local dir="$ROOT/book/photograph"
    ensure_debs nodejs npm || return 1
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ "$want" != "$(cat "$dir/node_modules/.chattn-npm" 2>/dev/null)" ]; then
        echo "== npm ci (book/photograph)"
        (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) || return 1
        echo "$want" > "$dir/node_modules/.chattn-npm"
    fi
}
