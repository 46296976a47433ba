#!/usr/bin/env bash
# Everything CI checks, from a clean clone:  bash scripts/test.sh
#
#   set-up: .venv + pip  ||  apt (chromium, a CJK font, poppler-utils, nodejs/npm) + npm ci
#   then three lanes side by side, each step starting as soon as what it reads exists:
#     book lane:   build the book (-W -n, every notebook in static mode) -> its Chinese edition
#                  (_build/html/zh, from the same notebook cache), then side by side
#                  [print both PDFs -> their tests]  and  [site summary -> pytest -m built
#                  (site, browser, page weight, photograph, legibility; two xdist workers), the
#                  PDF's tests excepted]
#     test lane:   pytest -m "not slow" (the unit tests) -> pytest -m "slow and not built" (DDP,
#                  the fresh-process reproduction, JupyterLab)
#     Colab lane:  the Colab-like runs (a wheel in fresh venvs: every notebook in live mode under
#                  nbval with ipywidgets 7.7.1, every slider of the book live with ipywidgets 8)
#   The book lane is the longest chain (the build, then everything that reads it), so it runs at
#   normal priority and the two others at nice 10: on 2 cores the build gets a core whenever it
#   wants one, and the other lanes take the rest (the built tests mostly wait on Chromium).
#
# Every notebook runs once per mode: static in the book build, live in the Colab-like venv (no
# separate nbval pass over book/: `pytest --nbval-lax book/` is the reader's command).
# Runs every step even after a failure, then exits non-zero if any step failed. Each step prints
# its output when it ends, with its wall time and the CPU it used (in cores: 1.0 = one core busy);
# the logs stay in artifacts/steps/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" || exit 1

STEPS="$ROOT/artifacts/steps"
rm -rf "$STEPS" && mkdir -p "$STEPS"
: > "$STEPS/failed"
START=$SECONDS

# step NAME COMMAND...: run COMMAND, its output in $STEPS/NAME.log; print it (whole, not
# interleaved with the other lane's) with the step's wall time and CPU time.
step() {
    local name=$1; shift
    local start=$SECONDS status cpu
    ( "$@"; status=$?; times > "$STEPS/$name.times"; exit $status ) > "$STEPS/$name.log" 2>&1
    status=$?
    local wall=$((SECONDS - start))
    # `times`: line 2 is the children's user and system time, e.g. "1m2.345s 0m1.000s".
    cpu=$(sed -n 2p "$STEPS/$name.times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/);
          t += a[1] * 60 + a[2] } printf "%.0f", t }')
    [ $status -eq 0 ] || echo "$name" >> "$STEPS/failed"
    echo "$name $wall $cpu $status" >> "$STEPS/times"
    {
        flock 9
        echo
        echo "== $name: $*"
        cat "$STEPS/$name.log"
        echo "== $name: ${wall} s wall, ${cpu} s CPU ($(awk -v c="$cpu" -v w="$wall" \
             'BEGIN { printf "%.2f", (w > 0 ? c / w : 0) }') cores), exit $status, at $((SECONDS - START)) s"
    } 9> "$STEPS/.print-lock"
}

export CHATTN_REQUIRE_SITE=1          # the site tests fail, never skip, when the build is missing
PYTEST=(python -m pytest -q -p no:cacheprovider --durations=8)

step set-up set_up chromium fonts-wqy-microhei poppler-utils
if [ -s "$STEPS/failed" ]; then
    echo "FAILED: the set-up (nothing else can run)"
    exit 1
fi

book_lane() {
    step book build_book
    # The Chinese edition reads the English build's notebook cache and shares its frames.
    step book-zh build_zh
    # A missing site or PDF must not stop these: they fail on their own (CHATTN_REQUIRE_SITE).
    { step pdf build_pdf
      step pdf-zh build_pdf_zh
      step pdf-tests "${PYTEST[@]}" tests/test_pdf.py tests/test_i18n.py::test_the_chinese_pdf; } &
    step site-summary python tests/test_site.py
    # Two workers, each with its own Chromium, a file at a time (a file's module fixtures, e.g. the
    # page-weight loads, are set up once): after the build these are the longest chain left.
    step built-tests "${PYTEST[@]}" tests/ -m built --ignore=tests/test_pdf.py \
        --deselect tests/test_i18n.py::test_the_chinese_pdf --continue-on-collection-errors \
        -n 2 --dist loadfile --durations=15
    wait
}

test_lane() {
    step unit-tests "${PYTEST[@]}" tests/ -m "not slow" --continue-on-collection-errors
    step slow-tests "${PYTEST[@]}" tests/ -m "slow and not built" --ignore=tests/test_colab_like.py \
        --continue-on-collection-errors --durations=15
}

colab_lane() {
    # Every notebook in live mode (CHATTN_STATIC unset), as a Colab reader runs it: from a wheel, in
    # a fresh venv with ipywidgets 7.7.1 (nbval runs the notebooks inside it); every slider of the
    # book, live, in another with ipywidgets 8.
    step colab-like "${PYTEST[@]}" tests/test_colab_like.py --durations=15
}

# nice 10 for the lanes that do not read the build (see the top): a subshell renices itself.
book_lane &
( renice -n 10 -p "$BASHPID" > /dev/null; test_lane ) &
( renice -n 10 -p "$BASHPID" > /dev/null; colab_lane ) &
wait

echo
echo "== steps (wall s, CPU s, exit); all done at $((SECONDS - START)) s"
column -t "$STEPS/times" 2>/dev/null || cat "$STEPS/times"
if [ -s "$STEPS/failed" ]; then
    printf 'FAILED: %s\n' $(cat "$STEPS/failed")
    exit 1
fi
echo "All checks passed."
