r"""Train the small ResNet with each attention module on the photo-patch task, record every run.

.. code-block:: bash

    python -m chattn.train --attn se                   # one run, seed 0, into runs/
    python -m chattn.train --all --seeds 3 --ship --jobs 2 --threads 1
                                                       # the grid: 12 configs x 3 seeds, ~23 min
    python -m chattn.train --summary chattn/weights    # mean ± std of test accuracy per module

A run: :func:`chattn.models.small_resnet` (``attn``), AdamW with warm-up and cosine decay
(weight decay on every parameter except those the official recipes exempt, :func:`param_groups`),
cross-entropy on augmented train patches (:func:`chattn.data.augment`), then the accuracy of the
model in eval mode on the un-augmented train patches and on the test patches (a disjoint region of
every photo). Each run writes ``small_resnet_{attn}_seed{seed}.safetensors`` (the state_dict with
buffers; the model config in the file's metadata) and ``small_resnet_{attn}_seed{seed}.json``.
With ``--ship`` the output is ``chattn/weights/``, the seed-0 weights are named
``small_resnet_{attn}.safetensors`` and only they are written: :mod:`chattn.pretrained` loads them.

Two single-threaded processes (``--jobs 2 --threads 1``) use two cores better than one process
with two threads: the convolutions here are small, and idle OpenMP threads spin on a shared CPU.

The seed sets the initial weights, the batch order and the augmentation; the patches are the same
for every run (data seed 0), so the spread over seeds is the spread of training alone.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from . import __version__, _validate
from .data import PHOTOS, augment, make_dataset
from .models.small import SmallResNet, small_resnet
from .registry import available

#: Where ``--ship`` writes, and where :mod:`chattn.pretrained` reads.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: Defaults of one run; every key is a command-line option.
DEFAULTS = dict(epochs=3, per_class=400, test_per_class=200, batch_size=64, lr=4e-3, weight_decay=5e-4,
                width=32, depth=2, patch=32)


def configs() -> list[str]:
    """The grid: ``'none'`` and every registered module."""
    return ["none"] + available()


def stem(attn: str, seed: int | None = None) -> str:
    """File stem of a run: ``small_resnet_se_seed1``, or ``small_resnet_se`` for shipped weights."""
    return f"small_resnet_{attn}" + ("" if seed is None else f"_seed{seed}")


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 400) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` in eval mode on ``(x, y)``; restores the mode."""
    was_training = model.training
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        correct += (logits.argmax(1) == y[i:i + batch_size]).sum().item()
        loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").item()
    model.train(was_training)
    return correct / len(x), loss / len(x)


def lr_factor(step: int, steps: int, warmup: float = 0.2) -> float:
    r"""Learning-rate multiplier: linear warm-up over the first 20% of the steps, then a cosine to 0.

    .. math::
        f(t) = \begin{cases} (t+1)/T_w & t < T_w \\
        \tfrac12\big(1 + \cos(\pi\,(t - T_w)/(T - T_w))\big) & t \ge T_w \end{cases}
        \qquad T_w = \max(1, \lfloor 0.2\,T \rceil)

    Example::

        >>> [round(lr_factor(t, 10), 2) for t in range(10)]
        [0.5, 1.0, 1.0, 0.96, 0.85, 0.69, 0.5, 0.31, 0.15, 0.04]
    """
    w = max(1, round(warmup * steps))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, steps - w)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    r"""AdamW parameter groups following the official training recipes: every parameter is decayed
    (:math:`\theta \leftarrow \theta - \eta\lambda\theta` each step) except

    - every parameter of an :class:`~chattn.SRM` (``cfc`` and its BatchNorm's weight and bias): the
      official SRM code gives them their own group with ``weight_decay=0``;
    - GCT's :math:`\beta` (the official GCT training exempts parameters named ``beta``), the bias
      of its gate :math:`1 + \tanh(\gamma\hat s + \beta)`, which decay would pull toward 0.

    For the other modules this is one group with every parameter, as before.

    Returns: ``[{'params', 'names', 'weight_decay': weight_decay}, {'params', 'names',
    'weight_decay': 0.0}]``, the second omitted when empty; ``names`` are ``named_parameters`` names.

    Example::

        >>> [(g["weight_decay"], g["names"][:2]) for g in param_groups(small_resnet("gct"), 5e-4)][1]
        (0.0, ['stem_attn.beta', 'stages.0.blocks.0.attn.conv1.beta'])
    """
    from .modules.gct import GCT
    from .modules.srm import SRM
    exempt = set()
    for prefix, module in model.named_modules():
        dot = prefix + "." if prefix else ""
        if isinstance(module, SRM):
            exempt |= {dot + n for n, _ in module.named_parameters()}
        elif isinstance(module, GCT):
            exempt.add(dot + "beta")
    groups = [dict(params=[], names=[], weight_decay=weight_decay), dict(params=[], names=[], weight_decay=0.0)]
    for name, p in model.named_parameters():
        g = groups[name in exempt]
        g["params"].append(p)
        g["names"].append(name)
    return [g for g in groups if g["params"]]


def train_run(attn: str = "none", seed: int = 0, epochs: int = DEFAULTS["epochs"],
              per_class: int = DEFAULTS["per_class"], test_per_class: int = DEFAULTS["test_per_class"],
              batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
              weight_decay: float = DEFAULTS["weight_decay"], width: int = DEFAULTS["width"],
              depth: int = DEFAULTS["depth"], patch: int = DEFAULTS["patch"], progress: bool = True):
    r"""Train one model; return ``(model, record)`` (the record without file names).

    Loss: :math:`\frac1B\sum_i -\log \mathrm{softmax}(f(\mathrm{aug}(x_i)))_{y_i}`, AdamW
    (weight decay on every parameter but SRM's and GCT's :math:`\beta`, :func:`param_groups`), learning rate ``lr ·`` :func:`lr_factor`.

    Example::

        >>> model, record = train_run("eca", epochs=1, per_class=8, test_per_class=4, progress=False)
        >>> sorted(record)[:3]
        ['attn', 'batch_size', 'chattn']
    """
    seed = _validate.positive_int(seed, "seed", minimum=0)
    epochs = _validate.positive_int(epochs, "epochs")
    batch_size = _validate.positive_int(batch_size, "batch_size", minimum=2)
    lr = _validate.positive_float(lr, "lr")
    x, y = make_dataset("train", patch, per_class)
    xt, yt = make_dataset("test", patch, test_per_class)
    torch.manual_seed(seed)
    model = small_resnet(attn, len(PHOTOS), width, depth=depth, input_size=patch)
    model = model.to(memory_format=torch.channels_last)     # about 2x faster convolutions on CPU
    x = x.contiguous(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(len(x) / batch_size)
    groups = param_groups(model, weight_decay)
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps))
    bar = _progress(steps, f"{attn} seed {seed}", progress)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:            # BatchNorm needs two samples
                continue
            loss = F.cross_entropy(model(augment(x[idx], g)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model = model.to(memory_format=torch.contiguous_format)   # measured as it will be loaded
    train_acc, train_loss = evaluate(model, x.contiguous(), y)
    test_acc, test_loss = evaluate(model, xt, yt)
    seconds = time.perf_counter() - start
    bar.set_postfix(test_acc=f"{test_acc:.3f}")
    bar.close()
    model.eval()
    record = dict(
        attn=model.attn_name or "none", seed=seed, epochs=epochs,
        train_accuracy=train_acc, test_accuracy=test_acc, train_loss=train_loss, test_loss=test_loss,
        params=sum(p.numel() for p in model.parameters()), seconds=round(seconds, 2),
        model=model.config(), patch=patch, per_class=per_class, test_per_class=test_per_class, data_seed=0,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, optimizer="AdamW, warm-up + cosine",
        no_weight_decay=[n for g in groups if g["weight_decay"] == 0 for n in g["names"]],
        threads=torch.get_num_threads(), torch=torch.__version__, python=platform.python_version(),
        chattn=__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    return model, record


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, mininterval=2.0)


def save_weights(model: SmallResNet, path: Path) -> str:
    """Write ``model.state_dict()`` (buffers included) with safetensors, the config as metadata;
    return the file's sha256."""
    from safetensors.torch import save_file
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(model.config()), "chattn": __version__})
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_and_save(attn: str, seed: int, out: Path, ship: bool = False, **kwargs) -> dict:
    """:func:`train_run`, then write the weights (unless ``ship`` and ``seed != 0``) and the JSON record."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, record = train_run(attn, seed, **kwargs)
    record["weights"] = None
    if not ship or seed == 0:
        path = out / (stem(record["attn"], None if ship else seed) + ".safetensors")
        record["weights"] = path.name
        record["weights_sha256"] = save_weights(model, path)
    (out / (stem(record["attn"], seed) + ".json")).write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_records(directory) -> list[dict]:
    """Every run record (``small_resnet_*_seed*.json``) in ``directory``, sorted by (config, seed)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory={str(directory)!r} is not a directory")
    recs = [json.loads(p.read_text()) for p in sorted(directory.glob("small_resnet_*_seed*.json"))]
    order = {name: i for i, name in enumerate(configs())}
    return sorted(recs, key=lambda r: (order.get(r["attn"], len(order)), r["attn"], r["seed"]))


def summarize(records: list[dict]) -> list[dict]:
    """Per module: runs, parameters, test accuracy mean and std (sample std, 0 for one run),
    mean train accuracy and seconds."""
    rows = {}
    for r in records:
        rows.setdefault(r["attn"], []).append(r)
    out = []
    for attn, rs in rows.items():
        acc = [r["test_accuracy"] for r in rs]
        out.append(dict(attn=attn, runs=len(rs), params=rs[0]["params"], test_mean=statistics.fmean(acc),
                        test_std=statistics.stdev(acc) if len(acc) > 1 else 0.0,
                        train_mean=statistics.fmean(r["train_accuracy"] for r in rs),
                        seconds=statistics.fmean(r["seconds"] for r in rs)))
    return out


def format_summary(rows: list[dict]) -> str:
    """A Markdown table of :func:`summarize`."""
    lines = ["| module | runs | params | test acc (mean ± std) | train acc | s/run |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['attn']} | {r['runs']} | {r['params']:,} | {100 * r['test_mean']:.2f} ± "
                     f"{100 * r['test_std']:.2f} | {100 * r['train_mean']:.2f} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def _report(r: dict):
    print(f"{r['attn']:9s} seed {r['seed']}  train {100 * r['train_accuracy']:6.2f}%  "
          f"test {100 * r['test_accuracy']:6.2f}%  {r['params']:7,d} params  {r['seconds']:6.1f} s", flush=True)


def _worker_init(threads: int):
    torch.set_num_threads(threads)


def _parallel(runs, out, args, kwargs):
    """Runs in ``args.jobs`` spawned processes of ``args.threads`` threads each; one progress bar
    over runs. Every run is seeded on its own, so the results do not depend on the scheduling."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    bar = _progress(len(runs), "runs", not args.quiet)
    with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_worker_init,
                             initargs=(args.threads,)) as pool:
        futures = [pool.submit(run_and_save, name, seed, out, args.ship, progress=False, **kwargs)
                   for name, seed in runs]
        for f in as_completed(futures):
            bar.update(1)
            bar.clear()
            _report(f.result())
    bar.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m chattn.train", description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--attn", help=f"one of: none, {', '.join(available())}")
    what.add_argument("--all", action="store_true", help="every module and 'none'")
    what.add_argument("--summary", metavar="DIR", help="print mean ± std of test accuracy per module")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    p.add_argument("--out", default="runs", help="output directory (default runs/)")
    p.add_argument("--ship", action="store_true", help=f"write into {WEIGHTS_DIR} (seed-0 weights only)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    for key, value in DEFAULTS.items():
        p.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    args = p.parse_args(argv)

    if args.summary:
        print(format_summary(summarize(load_records(args.summary))))
        return 0
    names = configs() if args.all else [args.attn.lower()]
    for name in names:
        if name not in configs():
            p.error(f"--attn must be one of {configs()}, got {name!r}")
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    if args.threads < 1 or args.jobs < 1:
        p.error("--threads and --jobs must be >= 1")
    torch.set_num_threads(args.threads)
    out = WEIGHTS_DIR if args.ship else Path(args.out)
    kwargs = {k: getattr(args, k) for k in DEFAULTS}
    runs = [(name, seed) for name in names for seed in range(args.seeds)]
    start = time.perf_counter()
    if args.jobs == 1:
        for name, seed in runs:
            _report(run_and_save(name, seed, out, ship=args.ship, progress=not args.quiet, **kwargs))
    else:
        _parallel(runs, out, args, kwargs)
    print(f"{len(runs)} runs in {time.perf_counter() - start:.0f} s wall", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
