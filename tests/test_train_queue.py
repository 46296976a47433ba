"""scripts/train_queue.py: the runs of several chattn.train command lines as one queue, planned
as the command plans them, resumable, stopping before a deadline, committing each record."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train_queue.py"
TINY = "--epochs 1 --per-class 4 --test-per-class 2 --no-weights"


def queue(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "queue.txt"
    path.write_text("# a comment line\n" + "\n".join(lines) + "\n")
    return path


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def _train_queue():
    """scripts/train_queue.py as a module (scripts/ is not a package)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_queue
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return train_queue


def test_the_queue_is_every_line_planned_as_the_command_plans_it(tmp_path):
    train_queue = _train_queue()
    from chattn import train

    out = tmp_path / "runs"
    lines = train_queue.read_queue(queue(tmp_path, f"--attn none --seeds 2 --out '{out}' {TINY}",
                                         f"--sweep se:reduction=2,8 --seeds 2 --out {out} {TINY}  # r"))
    runs = train_queue.queued_runs(lines)
    # seed-major within a line, the file's order across lines
    assert [(r["line"], r["attn"], r["options"], r["seed"]) for r in runs] == [
        (1, "none", {}, 0), (1, "none", {}, 1),
        (2, "se", {"reduction": 2}, 0), (2, "se", {"reduction": 8}, 0),
        (2, "se", {"reduction": 2}, 1), (2, "se", {"reduction": 8}, 1)]
    # --seed-0-last: the same runs, each line's seed 0 after its other seeds
    last = [(r["line"], r["attn"], r["options"], r["seed"]) for r in train_queue.queued_runs(lines, seed_0_last=True)]
    assert last == [(1, "none", {}, 1), (1, "none", {}, 0),
                    (2, "se", {"reduction": 2}, 1), (2, "se", {"reduction": 8}, 1),
                    (2, "se", {"reduction": 2}, 0), (2, "se", {"reduction": 8}, 0)]
    # --no-new-weights: without the runs that write weights into the package (--ship, seed 0); this
    # queue writes none (no --ship), so all its runs stay; a --ship line loses its seed 0
    assert train_queue.queued_runs(lines, no_new_weights=True) == runs
    ship = train._parser().parse_args(["--ship", "--attn", "none"])
    assert train_queue.ships_weights(ship, 0) and not train_queue.ships_weights(ship, 1)
    assert not train_queue.ships_weights(train._parser().parse_args(["--ship", "--no-weights", "--attn", "none"]), 0)
    args = train._parser().parse_args(lines[1] + ["--skip-existing"])
    assert [(r["attn"], r["seed"], r["options"]) for r in runs[2:]] == train.plan(args)[1]
    assert runs[3]["record"] == out / "small_resnet_se_reduction8_seed0.json"
    # a recorded run is not queued again
    out.mkdir()
    runs[0]["record"].write_text("{}")
    assert [(r["attn"], r["seed"]) for r in train_queue.queued_runs(lines)][:1] == [("none", 1)]
    assert train_queue.estimate(runs[0], default_per_epoch=10) > 0
    # records of another kind of CPU in a folder the queue writes into are named
    assert train_queue.other_cpus(runs) == {}
    runs[0]["record"].write_text('{"cpu_capability": "NEON"}')
    assert train_queue.other_cpus(runs) == {out: ["NEON"]}
    # without a parser, a bad line is a ValueError naming what is wrong
    with pytest.raises(ValueError, match="cbam"):
        train.plan(train._parser().parse_args(["--attn", "cbam"]))


def test_a_bad_line_stops_the_queue_before_any_training(tmp_path):
    done = run(queue(tmp_path, f"--attn none --out {tmp_path} {TINY}", "--attn cbam"), "--dry-run")
    assert done.returncode == 2 and "line 2" in done.stderr and "cbam" in done.stderr


@pytest.mark.slow
def test_the_queue_trains_resumes_stops_before_the_deadline_and_commits(tmp_path):
    repo = tmp_path / "repo"
    out = repo / "runs"
    out.mkdir(parents=True)
    for cmd in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    q = queue(tmp_path, f"--attn none --seeds 2 --out {out} {TINY}", f"--attn eca --out {out} {TINY}")
    # a deadline now: nothing would end before it
    stopped = run(q, "--until", str(int(time.time())))
    assert stopped.returncode == 0 and "none would end before the deadline" in stopped.stdout
    assert not list(out.glob("*.json"))
    done = run(q, "--workers", "2", "--commit")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.glob("*.json"))
    assert names == ["small_resnet_eca_seed0.json", "small_resnet_none_seed0.json", "small_resnet_none_seed1.json"]
    for name in names:                         # what the command line itself would have written
        r = json.loads((out / name).read_text())
        assert r["epochs"] == 1 and r["per_class"] == 4 and r["threads"] == 1 and r["weights"] is None
    log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True).stdout
    assert log.count("Training record:") == 3 and "eca seed 0" in log
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    again = run(q)                             # resumes: nothing left
    assert again.returncode == 0 and "0 runs to train" in again.stdout


def test_an_until_already_past_today_is_tomorrows():
    import datetime

    train_queue = _train_queue()
    now = datetime.datetime(2026, 12, 3, 23, 30)
    assert train_queue.clock_deadline("01:45", now) == datetime.datetime(2026, 12, 4, 1, 45).timestamp()
    assert train_queue.clock_deadline("23:45", now) == datetime.datetime(2026, 12, 3, 23, 45).timestamp()
    assert train_queue.clock_deadline("23:30", now) == datetime.datetime(2026, 12, 4, 23, 30).timestamp()


def test_the_shipped_queue_is_the_readmes_commands():
    """scripts/training.queue holds every training command the README prints, and nothing else: the
    README's block run by bash with `python` echoing its arguments, each line compared as
    chattn.train parses it (flags in any order; --skip-existing is implied by the queue)."""
    from chattn import train

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index('COMMON="--ship')
    block = readme[start:readme.index("```", start)]
    echoed = subprocess.run(["bash", "-c", 'python() { shift 2; echo "$@"; }\n' + block],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(echoed) >= 10

    def parsed(words):
        args = vars(train._parser().parse_args([*words, "--skip-existing"]))
        return sorted((k, repr(v)) for k, v in args.items())

    train_queue = _train_queue()
    queued = train_queue.read_queue(ROOT / "scripts" / "training.queue")
    assert sorted(map(parsed, queued)) == sorted(parsed(line.split()) for line in echoed)


def test_a_runs_estimate_is_the_newest_record_of_its_module_scaled_to_its_width(tmp_path, monkeypatch):
    """Same module, task and width: that record's seconds per epoch; another width only: scaled by
    the width ratio squared; nothing: the default. Times 1.25 (the margin) and the run's epochs."""
    train_queue = _train_queue()
    from chattn import runs as chattn_runs

    monkeypatch.setattr(chattn_runs, "WEIGHTS_DIR", tmp_path)

    def record(name, width, seconds, epochs, date, task="recoloured"):
        (tmp_path / name).write_text(json.dumps({"task": task, "seconds": seconds, "epochs": epochs, "date": date,
                                                 "model": {"width": width}}))

    def run_at(width):
        words = ["--attn", "none", "--width", str(width), "--task", "recoloured", "--epochs", "48",
                 "--out", str(tmp_path / "out")]
        return train_queue.queued_runs([words])[0]

    assert train_queue.estimate(run_at(40), default_per_epoch=10) == pytest.approx(1.25 * 10 * 48)
    record("small_resnet_none_seed0.json", 32, 480, 48, "2026-01-01")            # 10 s an epoch at 32
    record("small_resnet_none_seed1.json", 32, 960, 48, "2026-01-02")            # newer: 20 s an epoch
    record("small_resnet_none_seed2.json", 32, 1, 48, "2026-01-03", task="patches")   # another task
    assert train_queue.estimate(run_at(40)) == pytest.approx(1.25 * 20 * (40 / 32) ** 2 * 48)
    record("small_resnet_none_width40_seed0.json", 40, 48 * 7, 48, "2025-12-31")  # older, but its width
    assert train_queue.estimate(run_at(40)) == pytest.approx(1.25 * 7 * 48)


def test_a_commit_message_names_the_network_options_of_a_control(tmp_path):
    train_queue = _train_queue()
    for cmd in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *cmd], cwd=tmp_path, check=True)
    messages = []
    for name, model in [("control.json", {"attn": "none", "width": 44, "depth": 2, "options": {}}),
                        ("sweep.json", {"attn": "se", "width": 32, "depth": 2, "options": {"reduction": 8}})]:
        record = {"attn": model["attn"], "seed": 1, "task": "recoloured", "epochs": 48, "test_accuracy": 0.8575,
                  "seconds": 835.0, "weights": None, "model": model}
        (tmp_path / name).write_text(json.dumps(record))
        train_queue.commit(record, tmp_path / name)
        messages.append(subprocess.run(["git", "log", "-1", "--format=%s"], cwd=tmp_path, capture_output=True,
                                       text=True).stdout.strip())
    assert messages == ["Training record: none width=44 seed 1, recoloured, 48 epochs: test 85.75 % (835 s)",
                        "Training record: se reduction=8 seed 1, recoloured, 48 epochs: test 85.75 % (835 s)"]
