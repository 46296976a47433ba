#!/usr/bin/env bash
# Everything CI checks, from a clean clone:  bash scripts/test.sh
#   set-up (.venv, requirements, chattn, Debian's chromium, poppler-utils, onnxruntime-web via npm)
#   -> build the book (-W -n) -> print it to _build/html/chattn-book.pdf -> site summary -> pytest
#   tests/: unit, site, browser, page-weight, photograph and PDF tests, a live slider in JupyterLab,
#   and every notebook as a Colab reader runs it (tests/test_colab_like.py: a wheel in fresh venvs
#   with ipywidgets 7.7.1 and 8, live mode).
# Runs every step even after a failure, then exits non-zero if any step failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" || exit 1
ensure_chromium || { echo "could not install chromium"; exit 1; }
ensure_pdftotext || { echo "could not install poppler-utils"; exit 1; }
ensure_npm || { echo "could not install onnxruntime-web (npm ci in book/photograph)"; exit 1; }

failed=()
step() {
    echo
    echo "== $*"
    local start=$SECONDS
    "$@" || failed+=("$*")
    echo "== $((SECONDS - start)) s: $*"
}

# The two ipywidgets versions in parallel: the machine has 2 cores and each notebook runs on one
# thread. Each half prints its own pytest summary; the step fails if either fails.
colab_like() {
    mkdir -p artifacts
    python -m pytest tests/test_colab_like.py -q --durations=15 -k "not ipywidgets8" \
        > artifacts/colab-like-7.log 2>&1 &
    local seven=$!
    python -m pytest tests/test_colab_like.py -q --durations=15 -k "ipywidgets8" \
        > artifacts/colab-like-8.log 2>&1
    local eight=$?
    wait $seven
    local status=$?
    cat artifacts/colab-like-7.log artifacts/colab-like-8.log
    [ $status -eq 0 ] && [ $eight -eq 0 ]
}

export CHATTN_REQUIRE_SITE=1          # the site tests fail, never skip, when the build is missing
step build_book
step build_pdf
step python tests/test_site.py
# A missing site must not stop the other tests from running (the site tests fail on their own).
step python -m pytest tests/ -q --durations=8 --continue-on-collection-errors \
    --ignore=tests/test_colab_like.py
# Every notebook in live mode (CHATTN_STATIC unset), as a Colab reader runs it: from a wheel, in
# fresh venvs with ipywidgets 7.7.1 and 8 (this replaces the former nbval step). Its own step, so
# that it runs, and is timed, whatever happened to the site.
shopt -s nullglob
notebooks=(book/*.ipynb)
[ ${#notebooks[@]} -gt 0 ] || { echo "no notebook in book/"; failed+=("notebooks"); }
step colab_like

echo
if [ ${#failed[@]} -ne 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "All checks passed."
