"""Train the runs of several ``python -m chattn.train`` command lines as one queue, a run at a time
per worker, stopping before a deadline, committing each record as it arrives.

    python scripts/train_queue.py QUEUE --workers 2 --until 21:10 --commit

``QUEUE`` is a text file, one ``chattn.train`` command line a line (its arguments, as the README
prints them; ``#`` starts a comment). Each line is planned by :func:`chattn.train.plan`, as the
command itself would plan it (``--skip-existing`` is implied): its runs, seed-major, without those
already recorded. The queue is every line's runs in the file's order, and ``--workers`` processes
(one thread each, ``nice`` 19) take them one by one, so two workers never train the same run, and
an interrupted queue resumes where it stopped when started again. ``--seed-0-last`` puts each
line's seed-0 runs after its other seeds: with ``--ship`` only seed 0 writes weights into the
package, so a sweep whose records land over several sessions adds its weights last, together
(the wheel has a size budget, ``tests/test_colab_like.py``); ``--no-new-weights`` leaves those
runs out altogether, for a session that ends before the weights have room. A folder the queue writes into that
holds records of another kind of CPU (AVX2, AVX512: a run's floats depend on it) is named at the
start: the E = 24 grid so far is all AVX2.

A run is started only if it can end before ``--until``: its time is estimated from the newest
record of the same module, task and width (seconds per epoch, times its epochs, plus a quarter),
or one minute per epoch without one. With ``--commit``, each record (and seed 0's weights) is
committed to the current branch of the checkout it is written in as soon as its run ends, so that a session that
stops loses at most the runs under way.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path


def read_queue(path: Path) -> list[list[str]]:
    """The command lines of a queue file, split as a shell splits them."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(words)
    return lines


def ships_weights(args, seed: int) -> bool:
    """Whether the run writes weights into the package: a ``--ship`` line's run whose weights
    ``chattn.train.run_and_save`` writes (seed 0, without ``--no-weights``)."""
    from chattn import train

    return bool(args.ship) and train.writes_weights(seed, args.ship, not args.no_weights)


def queued_runs(lines: list[list[str]], seed_0_last: bool = False, no_new_weights: bool = False) -> list[dict]:
    """Every run still to train, in queue order: ``{line, args, config, attn, seed, options, record}``.
    A bad line stops here (``SystemExit``, with the command's own usage error), before any training.
    ``seed_0_last``: each line's seed-0 runs after its other seeds (same runs, another order).
    ``no_new_weights``: without the runs that would write weights into the package
    (:func:`ships_weights`)."""
    from chattn import train

    runs = []
    for i, words in enumerate(lines, 1):
        parser = train._parser()
        parser.prog = f"line {i}: python -m chattn.train"
        args = parser.parse_args([*words, "--skip-existing"])
        if args.summary:
            parser.error("--summary trains nothing")
        config, todo, _ = train.plan(args, parser)
        if seed_0_last:
            todo = sorted(todo, key=lambda run: run[1] == 0)          # stable: seed-major otherwise
        if no_new_weights:
            todo = [run for run in todo if not ships_weights(args, run[1])]
        runs += [dict(line=i, args=args, config=config, attn=name, seed=seed, options=options,
                      record=train.record_path(args, config, name, seed, options))
                 for name, seed, options in todo]
    return runs


def clock_deadline(hh_mm: str, now: datetime.datetime | None = None) -> float:
    """``HH:MM`` as a time stamp: the next time the clock shows it (a time already past today is
    tomorrow's: a queue started at 23:30 with ``--until 01:45`` runs past midnight)."""
    now = now or datetime.datetime.now()
    h, m = (int(v) for v in hh_mm.split(":"))
    at = now.replace(hour=h, minute=m, second=0, microsecond=0)
    if at <= now:
        at += datetime.timedelta(days=1)
    return at.timestamp()


def _capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


def other_cpus(runs: list[dict]) -> dict[Path, list[str]]:
    """The folders the runs write into whose records were made on another kind of CPU than this
    one (``cpu_capability``: AVX2, AVX512...), with those kinds."""
    here, out = _capability(), {}
    for folder in sorted({r["record"].parent for r in runs}):
        kinds = {json.loads(p.read_text()).get("cpu_capability") for p in folder.glob("*.json")} - {None, here}
        if kinds:
            out[folder] = sorted(kinds)
    return out


def estimate(run: dict, default_per_epoch: float = 60.0) -> float:
    """Seconds the run will take: the newest record of the same module, task and width (seconds
    per epoch x epochs x 1.25); without one, the newest of the same module and task at another
    width, scaled by (width / its width)² (a convolution's cost); else ``default_per_epoch`` per
    epoch."""
    from chattn.runs import WEIGHTS_DIR

    c = run["config"]
    same, other = None, None
    for path in WEIGHTS_DIR.rglob(f"small_resnet_{run['attn']}_*seed*.json"):
        r = json.loads(path.read_text())
        if r.get("task", "patches") != c.task or not r.get("seconds") or not r["model"].get("width"):
            continue
        if r["model"]["width"] == c.width:
            same = r if same is None or r["date"] > same["date"] else same
        elif other is None or r["date"] > other["date"]:
            other = r
    if same:
        per_epoch = same["seconds"] / same["epochs"]
    elif other:
        per_epoch = other["seconds"] / other["epochs"] * (c.width / other["model"]["width"]) ** 2
    else:
        per_epoch = default_per_epoch
    return 1.25 * per_epoch * c.epochs


def train_one(run: dict) -> dict:
    """One run in this (worker) process, written as its command line writes it."""
    import torch

    from chattn import train

    os.nice(max(0, 19 - os.nice(0)))                   # the lowest priority: builds and tests first
    torch.set_num_threads(1)
    a = run["args"]
    return train.run_and_save(run["attn"], run["seed"], None if a.ship else a.out, a.ship, not a.no_weights,
                              run["config"], a.curve, progress=False, options=run["options"])


def commit(record: dict, path: Path) -> None:
    """Commit the run's record at ``path`` (and its weights file, if it wrote one) to the current
    branch of the checkout that holds it. The message names the module, its options and the network
    options that differ from the defaults ("Training record: none width=44 seed 1, recoloured, ...")."""
    files = [path.name] + ([record["weights"]] if record["weights"] else [])
    from chattn import runs

    run = runs.label(record["attn"], record["model"].get("options"), record["model"])   # "none width=44"
    message = (f"Training record: {run} seed {record['seed']}, "
               f"{record['task']}, {record['epochs']} epochs: test {100 * record['test_accuracy']:.2f} % "
               f"({record['seconds']:.0f} s)")
    for command in (["git", "add", "--", *files], ["git", "commit", "-q", "-m", message, "--", *files]):
        for attempt in range(5):                       # someone else's git may hold the index lock
            if subprocess.run(command, cwd=path.parent).returncode == 0:
                break
            time.sleep(2 ** attempt)
        else:
            raise RuntimeError(f"{' '.join(command[:2])} failed five times in {path.parent}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("queue", type=Path, help="a file of chattn.train command lines")
    p.add_argument("--workers", type=int, default=2, help="runs side by side (default 2)")
    p.add_argument("--until", help="HH:MM (local time, the next time the clock shows it) or seconds since the epoch: start no run "
                                   "that would end after it")
    p.add_argument("--commit", action="store_true", help="git commit each record as it arrives")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their estimates, train nothing")
    p.add_argument("--seed-0-last", action="store_true",
                   help="each line's seed-0 runs (the ones whose weights --ship writes) after its other seeds")
    p.add_argument("--no-new-weights", action="store_true",
                   help="leave out the runs that would write weights into the package (seed 0 of a --ship line "
                        "without --no-weights): for a session that must not grow the wheel")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be >= 1")
    deadline = float("inf")
    if args.until:
        if args.until.isdigit():
            deadline = float(args.until)
        else:
            deadline = clock_deadline(args.until)
    runs = queued_runs(read_queue(args.queue), args.seed_0_last, args.no_new_weights)
    print(f"{len(runs)} runs to train", flush=True)
    for folder, kinds in other_cpus(runs).items():
        print(f"note: {folder} holds records made on {', '.join(kinds)} CPUs; this one is "
              f"{_capability()}. A run's floats depend on the kind (README: reproducible bit for bit "
              f"on the same kind), so its seeds' pairs mix kinds.", flush=True)
    if args.dry_run:
        for r in runs:
            print(f"line {r['line']}: {r['attn']} {r['options'] or ''} seed {r['seed']}, "
                  f"~{estimate(r) / 60:.0f} min -> {r['record']}")
        total = sum(estimate(r) for r in runs) * 0.8                 # without the estimates' margin
        print(f"about {total / 3600:.1f} CPU-hours, {total / 3600 / args.workers:.1f} hours on "
              f"{args.workers} workers (from the newest records' seconds per epoch)")
        return 0
    import multiprocessing

    pending, running, done = list(runs), {}, 0
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            while pending and len(running) < args.workers:
                run = next((r for r in pending if time.time() + estimate(r) <= deadline), None)
                if run is None:                        # nothing fits before the deadline
                    print(f"{len(pending)} runs left: none would end before the deadline", flush=True)
                    pending = []
                    break
                pending.remove(run)
                if run["record"].is_file():           # another queue trained it meanwhile
                    continue
                running[pool.submit(train_one, run)] = run
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                run = running.pop(future)
                record = future.result()
                done += 1
                print(f"{run['attn']} {run['options'] or ''} seed {run['seed']}: test "
                      f"{100 * record['test_accuracy']:.2f} % in {record['seconds']:.0f} s "
                      f"({done} done, {len(pending) + len(running)} left)", flush=True)
                if args.commit:
                    commit(record, run["record"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
