r"""The trained networks compared, with the one procedure of :mod:`chattn.analysis.stats`.

- :func:`compare_grid`: each module against the plain network, paired by seed, Holm over the
  modules; :func:`compare_control`: a module against a plain network of about its size (the
  capacity control), when one is shipped.
- :func:`compare_sweep`: each value of a sweep (:data:`chattn.pretrained.SWEEPS`) against the
  chapter's default value (:func:`reference_value`), Holm over the values.
- :func:`sweep` summarises a sweep per value, :func:`sweep_plot` / :func:`sweep_figure` draw it
  for the book's column, :func:`sweep_table` prints it, :func:`describe_sweep` says where its runs
  come from (:func:`describe_grid`: the same for a task's grid).
- :func:`curve` and :func:`curve_table`: the plain network trained for N epochs, N = 3, 6, 12, ...;
  :func:`choose_epochs` picks the epoch count E of a task from that curve, with its reasons
  (:meth:`EpochChoice.conclusions`).

Records are read only through :mod:`chattn.pretrained` (``records``, ``sweep_records``,
``control_records``, ``curve_records``); accuracies are shown in percent, differences in points.

Example::

    >>> table = compare_sweep("se")
    >>> table.reference.label, table.what
    ('r = 4', 'reduction r')
"""
from __future__ import annotations

import functools
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .stats import ComparisonTable, _and, compare

__all__ = ["reference_value", "SweepPoint", "sweep", "sweep_plot", "sweep_figure", "sweep_table", "describe_sweep",
           "describe_grid",
           "compare_grid", "compare_control", "compare_sweep", "COLUMN_INCHES", "CurvePoint", "Doubling",
           "EpochChoice", "curve", "curve_table", "choose_epochs"]

#: The book's content column, 688 CSS px, in inches at the build's 80 dpi (book/_ext/matplotlibrc).
COLUMN_INCHES = 8.6

#: The symbol of each swept option in the chapters (labels "r = 4", "k = 3"), and its name in words.
SYMBOL = {"reduction": "r", "k_size": "k"}
WORDS = {"reduction": "reduction", "k_size": "kernel size"}

#: The training settings that make two runs' recipe the same (a record without ``task`` is on the
#: photo patches).
RECIPE = ("task", "epochs", "patch", "per_class", "test_per_class", "data_seed", "batch_size", "lr",
          "weight_decay", "optimizer")


def reference_value(attn: str):
    """The value of ``attn``'s swept option that its chapter compares every other value with: the
    grid network's own value (:func:`chattn.runs.default_option`: r = 4 for SE, FcaNet,
    RCAN's CA, SoCA and DIANet's small-net default, r = 16 for bilinear attention). ECA's grid
    network has no single k (its default is the adaptive :math:`\\psi(C)`: 3, 3 and 5 in the three
    stages), so its reference is k = 3, :math:`\\psi(C)` of the first two stages.

    Args:
        attn: a swept module (a key of :data:`chattn.pretrained.SWEEPS`).

    Example::

        >>> [reference_value(a) for a in ("se", "bilinear", "eca")]
        [4, 16, 3]
    """
    from ..runs import default_option

    key, values = _swept(attn)
    value = default_option(attn.lower(), key)
    if value is None and attn.lower() == "eca":
        value = 3
    if value not in values:
        raise ValueError(f"{attn}'s default {key}={value!r} is not one of its sweep's values {list(values)}")
    return value


def _swept(attn) -> tuple[str, tuple]:
    """``(option, values)`` of ``attn``'s sweep, or the clear error of the one check, in
    :mod:`chattn.pretrained`."""
    from .. import pretrained

    return pretrained._sweep(attn)[1:]


def _label(key: str, value) -> str:
    return f"{SYMBOL.get(key, key)} = {value}"


def _what(key: str) -> str:
    """The option in words with its symbol: ``'kernel size k'``."""
    return f"{WORDS.get(key, key)} {SYMBOL.get(key, '')}".strip()


def _recipe(record: dict) -> tuple:
    return tuple(record.get(k, "patches" if k == "task" else None) for k in RECIPE)


# --- a sweep, per value ----------------------------------------------------------------------------

@dataclass
class SweepPoint:
    """One value of a sweep: its runs and the network's cost."""
    #: The swept option's value.
    value: object
    #: Test accuracies (fractions), one per seed, in the order of ``seeds``.
    accuracies: list[float]
    #: Their mean.
    mean: float
    #: Their sample std (0 for one seed).
    std: float
    #: The network's parameters.
    params: int
    #: Its FLOPs on one 32x32 patch (MACs = FLOPs / 2).
    flops: int
    #: Its seed-0 weights, ``None`` when not shipped.
    weights: Path | None
    #: The seeds of ``accuracies``.
    seeds: list[int] = field(default_factory=list)


@functools.lru_cache(maxsize=None)
def _flops(config_json: str) -> int:
    """FLOPs of the small net of a record's ``model`` config, once per config and process (the
    first count in a process also pays torch's FlopCounterMode start-up, a few seconds)."""
    from ..models.resnet import flops
    from ..models.small import small_resnet

    config = json.loads(config_json)
    net = small_resnet(None if config["attn"] == "none" else config["attn"], config["num_classes"],
                       config["width"], depth=config["depth"], input_size=config["input_size"],
                       **config["options"])
    return flops(net, (1, 3, config["input_size"], config["input_size"]))


def sweep(attn: str) -> list[SweepPoint]:
    """:func:`chattn.pretrained.sweep_records` summarised per value, in the order of
    :data:`chattn.pretrained.SWEEPS`; values without a run are left out.

    Args:
        attn: a swept module.

    Example::

        >>> [p.value for p in sweep("se")]
        [2, 4, 8, 16, 32]
    """
    from .. import pretrained

    key, values = _swept(attn)
    name = attn.lower()
    runs = pretrained.sweep_records(name)
    points = []
    for v in values:
        rs = [r for r in runs if r["value"] == v]
        if not rs:
            continue
        acc = [r["test_accuracy"] for r in rs]
        config = {**rs[0]["model"], "options": {**rs[0]["model"].get("options", {}), key: v}}
        path = pretrained.weights_path(name, **{key: v})
        points.append(SweepPoint(v, acc, statistics.fmean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0,
                                 rs[0]["params"], _flops(json.dumps(config, sort_keys=True)),
                                 path if path.is_file() else None, [r["seed"] for r in rs]))
    return points


def _points(attn, points) -> tuple[str, list[SweepPoint]]:
    key, _ = _swept(attn)
    points = sweep(attn) if points is None else list(points)
    if not points:
        raise ValueError(f"no sweep points for {attn!r}: no run of its sweep is shipped")
    return key, points


@functools.lru_cache(maxsize=None)
def _plain_accuracies(attn: str) -> tuple[float, ...]:
    """Test accuracies of the grid's plain network trained with the recipe of ``attn``'s sweep."""
    from .. import pretrained

    runs = pretrained.sweep_records(attn)
    recipes = {_recipe(r) for r in runs}
    task = runs[0].get("task", "patches") if runs else "patches"
    return tuple(r["test_accuracy"] for r in pretrained.records(task)
                 if r["attn"] == "none" and _recipe(r) in recipes)


def sweep_plot(ax, attn: str, value, points=None, plain=None) -> None:
    r"""Draw ``attn``'s sweep (:func:`sweep`) on the matplotlib axes ``ax``: test accuracy per value
    of the swept option, every seed as a dot, the mean ± std (sample std over seeds) as a bar,
    ``value`` ringed, and the plain ResNet's mean ± std as a band. The x labels give each value's
    parameters and MFLOPs (one 32x32 patch); text is at least 10 pt, for the book's column.

    Args:
        ax: matplotlib axes (:func:`sweep_figure` makes one of the column's width).
        attn: a module of :data:`chattn.pretrained.SWEEPS`.
        value: the value to ring (one of the sweep's).
        points: :func:`sweep`'s output, if already computed.
        plain: the plain network's test accuracies (fractions) for the band; by default those of
            the grid's runs trained with the sweep's recipe (read once per process; no band when
            the grid has none).

    Example::

        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> sweep_plot(ax, "se", 8)
        >>> len(ax.containers), ax.get_xticklabels()[2].get_text().splitlines()[0], ax.get_xlabel()
        (5, '8', 'reduction r (parameters, MFLOPs per patch)')
    """
    key, points = _points(attn, points)
    values = [p.value for p in points]
    if value not in values:
        raise ValueError(f"value must be one of the trained values {values} of {attn}'s {key}, got {value!r}")
    plain = _plain_accuracies(attn.lower()) if plain is None else tuple(plain)
    if plain:
        m = 100 * statistics.fmean(plain)
        s = 100 * statistics.stdev(plain) if len(plain) > 1 else 0.0
        ax.axhspan(m - s, m + s, color="0.85", zorder=0)
        ax.axhline(m, color="0.5", lw=1, ls="--", zorder=1)
        ax.text(len(points) - 0.5, m, " plain\n ResNet", va="center", ha="left", fontsize=10, color="0.3")
    for i, p in enumerate(points):
        ax.scatter([i] * len(p.accuracies), [100 * a for a in p.accuracies], s=16, color="0.55", zorder=2)
        ax.errorbar(i, 100 * p.mean, yerr=100 * p.std if len(p.accuracies) > 1 else None, fmt="o", color="C0",
                    capsize=4, ms=6, zorder=3)
    i = values.index(value)
    ax.scatter([i], [100 * points[i].mean], s=260, facecolors="none", edgecolors="C3", lw=2, zorder=4)
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels([f"{p.value}\n{p.params:,d} p.\n{p.flops / 1e6:.3f}" for p in points], fontsize=10)
    ax.tick_params(axis="y", labelsize=10)
    ax.set_xlim(-0.5, len(points) - 0.5)
    ax.set_xlabel(f"{_what(key)} (parameters, MFLOPs per patch)", fontsize=10)
    ax.set_ylabel("test accuracy (%)", fontsize=10)
    p = points[i]
    n = len(p.accuracies)
    spread = f" ± {100 * p.std:.1f}% over {n} seeds" if n > 1 else "% (1 seed)"
    ax.set_title(f"{_label(key, value)}: {100 * p.mean:.1f}{spread}", fontsize=11)


def sweep_figure(attn: str, value, points=None, plain=None):
    """A figure of the book's column width (:data:`COLUMN_INCHES`) with :func:`sweep_plot` on it:
    one panel, text at least 10 pt.

    Args:
        attn: a module of :data:`chattn.pretrained.SWEEPS`.
        value: the value to ring.
        points: :func:`sweep`'s output, if already computed.
        plain: the plain network's test accuracies for the band (default: see :func:`sweep_plot`).

    Returns: the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(COLUMN_INCHES * 0.85, 4.0))
    try:
        sweep_plot(ax, attn, value, points, plain)
    except Exception:
        plt.close(fig)
        raise
    fig.tight_layout()
    return fig


def sweep_table(attn: str, points=None) -> str:
    """``attn``'s sweep as a text table: value, seeds, test accuracy mean ± std (in %), parameters,
    MFLOPs (one 32x32 patch, three decimals, as :func:`sweep_plot`).

    Args:
        attn: a swept module.
        points: :func:`sweep`'s output, if already computed.

    Example::

        >>> print(sweep_table("eca").splitlines()[0])
            k_size  seeds  test acc (%)    params    MFLOPs
    """
    key, points = _points(attn, points)
    lines = [f"{key:>10s}  seeds  test acc (%)    params    MFLOPs"]
    for p in points:
        lines.append(f"{p.value!s:>10s}  {len(p.accuracies):5d}  {100 * p.mean:5.1f} ± {100 * p.std:4.1f}  "
                     f"{p.params:8,d}  {p.flops / 1e6:8.3f}")
    return "\n".join(lines)


def describe_sweep(attn: str, epochs: int | None = None) -> str:
    """Where ``attn``'s sweep comes from, as one Markdown paragraph generated from its records:
    the command that trains the sweep's own runs (the values in its folder, ``--seeds`` one more
    than their highest seed, their epochs), the seeds per value, and where the grid's own value
    (:func:`chattn.runs.default_option`) comes from: the grid's runs, or the sweep's when it
    trained that value again (:func:`chattn.pretrained.sweep_records`, its ``source``).

    Args:
        attn: a swept module.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.

    Example::

        >>> describe_sweep("eca").startswith("The sweep's runs: `python -m chattn.train --sweep eca:k_size=1,3,5,7,9")
        True
    """
    from .. import pretrained
    from ..runs import default_option

    key, values = _swept(attn)
    name = attn.lower()
    runs = pretrained.sweep_records(name, epochs=epochs)
    own = [r for r in runs if r["source"] == "sweep"]
    if not own:
        raise ValueError(f"no run of {name}'s sweep is shipped" + ("" if epochs is None else f" at epochs={epochs}"))
    trained = [v for v in values if any(r["value"] == v for r in own)]
    counts = sorted({sum(r["value"] == v for r in own) for v in trained})
    seeds = f"{counts[0]} seed{'s' * (counts[0] != 1)}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds"
    command = (f"python -m chattn.train --sweep {name}:{key}={','.join(map(str, trained))} "
               f"--seeds {max(r['seed'] for r in own) + 1} --epochs {own[0]['epochs']}")
    text = f"The sweep's runs: `{command}`, {seeds} per value, the recipe of the network above."
    default = default_option(name, key)
    if default in values:
        symbol = f"*{SYMBOL.get(key, key)}* = {default}"
        grid = [r for r in runs if r["value"] == default and r["source"] == "grid"]
        if grid:
            n = len(grid)
            text += (f" {symbol} is not trained again: its runs are the grid's, those of the network above "
                     f"({n} seed{'s' * (n != 1)}, the same code and recipe).")
        elif default in trained:
            text += (f" {symbol}, the value of the network above, is trained again with the others, and the "
                     "sweep reads only its own runs of it: the network above is another run.")
    return text


def describe_grid(task: str = "patches", epochs: int | None = None) -> str:
    """Where ``task``'s grid comes from, as one Markdown sentence generated from its records: the
    command that trains it (``--seeds`` one more than the highest seed, the records' epochs) and
    the seeds each configuration has.

    Args:
        task: one of :data:`chattn.data.TASKS`.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.

    Example::

        >>> describe_grid("recoloured").startswith("The grid's runs: `python -m chattn.train --all --task recoloured")
        True
    """
    from .. import pretrained

    records = pretrained.records(task, epochs=epochs)
    seeds = {}
    for r in records:
        seeds.setdefault(r["attn"], set()).add(r["seed"])
    trained = sorted({r["epochs"] for r in records})
    command = ("python -m chattn.train --all" + ("" if task == "patches" else f" --task {task}")
               + f" --seeds {max(r['seed'] for r in records) + 1} --epochs {_and(map(str, trained))}")
    n = len(seeds)
    modules = n - ("none" in seeds)
    configs = _and((["the plain network"] if "none" in seeds else [])
                   + ([f"{modules} module{'s' * (modules != 1)}"] if modules else []))
    common = set.intersection(*seeds.values())
    if all(s == common for s in seeds.values()):
        k = len(common)
        ordered = sorted(common)
        contiguous = k > 2 and ordered == list(range(ordered[0], ordered[0] + k))
        listed = f"{ordered[0]} to {ordered[-1]}" if contiguous else _and(map(str, ordered))
        return (f"The grid's runs: `{command}`, {configs}, each with the same {k} seed{'s' * (k != 1)} "
                f"({listed}).")
    counts = sorted({len(s) for s in seeds.values()})
    return (f"The grid's runs: `{command}`, {configs}, with {counts[0]} to {counts[-1]} seeds each (the grid is "
            f"not complete); each comparison pairs only the seeds both of its networks have.")


# --- the tables ------------------------------------------------------------------------------------

def _runs(records) -> dict:
    """seed -> test accuracy in % of ``records``."""
    return {r["seed"]: 100 * r["test_accuracy"] for r in records}


def _epochs(records) -> str:
    epochs = sorted({r["epochs"] for r in records})
    return ", ".join(map(str, epochs)) + (" epoch" if epochs == [1] else " epochs")


def compare_sweep(attn: str, task: str = "patches", *, alpha: float = 0.05,
                  epochs: int | None = None) -> ComparisonTable:
    """Every value of ``attn``'s sweep against the chapter's default value (:func:`reference_value`),
    paired by seed, Holm over the values (:func:`chattn.analysis.stats.compare`).

    The default value's runs are the sweep's own when it trained that value, else the grid's runs
    of ``attn`` (:func:`chattn.pretrained.sweep_records`).

    Args:
        attn: a swept module.
        task: the task of the runs (the sweeps are trained on the photo patches).
        alpha: family-wise level of the table's conclusions.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.

    Returns: a :class:`~chattn.analysis.stats.ComparisonTable`, one row per value.
    """
    from .. import pretrained
    from .._validate import one_of
    from ..data import TASKS

    key, values = _swept(attn)
    one_of(task, "task", TASKS)
    name = attn.lower()
    records = pretrained.sweep_records(name, epochs=epochs)
    if task != "patches" or not records:
        raise ValueError(f"no run of {name}'s sweep is shipped for task={task!r}")
    reference = reference_value(name)
    by_value = {v: [r for r in records if r["value"] == v] for v in values}
    if not by_value[reference]:
        raise ValueError(f"{name}'s sweep has no run of its reference {_label(key, reference)}")
    runs = {_label(key, v): _runs(rs) for v, rs in by_value.items() if rs}
    params = {_label(key, v): rs[0]["params"] for v, rs in by_value.items() if rs}
    return compare(runs, _label(key, reference), params, what=_what(key), alpha=alpha,
                   title=f"{name}: each {WORDS.get(key, key)} against {_label(key, reference)}, "
                         f"{task}, {_epochs(records)}")


def compare_grid(task: str = "patches", *, alpha: float = 0.05, epochs: int | None = None) -> ComparisonTable:
    """Every module of the grid against the plain network (``plain``), paired by seed, Holm over
    the modules (:func:`chattn.pretrained.records` of ``task``).

    Args:
        task: ``"patches"`` or ``"recoloured"``.
        alpha: family-wise level of the table's conclusions.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.

    Returns: a :class:`~chattn.analysis.stats.ComparisonTable`, the plain network first.
    """
    from .. import pretrained

    records = pretrained.records(task, epochs=epochs)
    if not any(r["attn"] == "none" for r in records):
        raise ValueError(f"the grid of task={task!r} has no run of the plain network")
    names = list(dict.fromkeys(r["attn"] for r in records))
    label = {n: "plain" if n == "none" else n for n in names}
    runs = {label[n]: _runs(r for r in records if r["attn"] == n) for n in names}
    params = {label[n]: next(r["params"] for r in records if r["attn"] == n) for n in names}
    return compare(runs, "plain", params, what="module", alpha=alpha,
                   title=f"{task}: each module against the plain network, {_epochs(records)}")


def compare_control(attn: str, task: str = "patches", *, tolerance: float = 0.10,
                    alpha: float = 0.05, epochs: int | None = None) -> ComparisonTable:
    """Module ``attn`` and the plain network against the capacity control: a plain network of
    other width or depth whose parameters are within ``tolerance`` of the module's
    (:func:`chattn.pretrained.control_records`) trained with the grid's recipe (its data, epochs,
    batch, optimiser), paired by seed, Holm over the two rows.

    Args:
        attn: a module of the grid.
        task: ``"patches"`` or ``"recoloured"``.
        tolerance: the largest relative difference of parameters a control may have.
        alpha: family-wise level of the table's conclusions.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.

    Raises ValueError when no such control is shipped, saying what to train.
    """
    from .. import pretrained

    grid = pretrained.records(task, epochs=epochs)
    module = [r for r in grid if r["attn"] == attn]
    if not module or attn == "none":
        raise ValueError(f"attn must be a module of the grid of task={task!r}, got {attn!r}")
    target = module[0]["params"]
    controls = pretrained.control_records(task, epochs=epochs)
    sized = [r for r in controls if r["attn"] == "none" and abs(r["params"] - target) <= tolerance * target]
    fitting = [r for r in sized if _recipe(r) == _recipe(module[0])]      # the grid's recipe, or no control
    if not fitting:
        other = f" ({len(sized)} of that size with another recipe)" if sized else ""
        raise ValueError(f"no capacity control within ±{tolerance:.0%} of {attn}'s {target:,} parameters is "
                         f"shipped for task={task!r}{other}: train a wider plain network (python -m chattn.train "
                         f"--attn none --width W ...) with the grid's seeds and recipe")
    best = min({r["params"] for r in fitting}, key=lambda n: abs(n - target))
    control = [r for r in fitting if r["params"] == best]
    plain = [r for r in grid if r["attn"] == "none"]
    config, plain_config = control[0]["model"], plain[0]["model"] if plain else {}
    other = {k: config[k] for k in ("width", "depth") if k in config and config[k] != plain_config.get(k)}
    label = ", ".join(["plain"] + [f"{k} {v}" for k, v in other.items()]) if other else "plain (control)"
    runs = {label: _runs(control), attn: _runs(module), "plain": _runs(plain)}
    params = {label: best, attn: target, "plain": plain[0]["params"] if plain else None}
    return compare(runs, label, params, what="network", alpha=alpha,
                   title=f"{task}: {attn} against a plain network of its size, {_epochs(control)}")


# --- how long to train: the epoch count E from the plain network's curve ---------------------------
#
# The plain network trained with full schedules (warm-up + cosine) of N epochs, for N = 3, 6, 12, ...
# (:func:`chattn.pretrained.curve_records`). E is the first N after which doubling the training no
# longer moves the mean test accuracy by more than the seeds already scatter at N.

@dataclass(frozen=True)
class CurvePoint:
    """The plain network trained for ``epochs`` epochs, over its seeds (accuracies in %)."""
    #: N, the length of the whole schedule in epochs.
    epochs: int
    #: The seeds trained, ascending.
    seeds: tuple[int, ...]
    #: Test accuracy of each seed, in %, in the order of ``seeds``.
    test: tuple[float, ...]
    #: Training accuracy of each seed at the end of training, in %.
    train: tuple[float, ...]
    #: Mean of ``test``.
    mean: float
    #: Sample std of ``test`` (n − 1 in the denominator); ``None`` for one seed.
    std: float | None
    #: Mean of ``train``.
    train_mean: float


@dataclass(frozen=True)
class Doubling:
    """One step of the rule: N against 2N."""
    #: N.
    epochs: int
    #: Δ = mean(2N) − mean(N), test accuracy in points.
    change: float
    #: The seed std at N in points (``None`` for one seed: N cannot qualify).
    std: float | None
    #: Whether the absolute change is smaller than ``std``.
    qualifies: bool


@dataclass(frozen=True)
class EpochChoice:
    """What :func:`choose_epochs` decided for one task, with the numbers behind it."""
    #: The task of the curve.
    task: str
    #: E, or ``None`` when no N qualifies yet.
    epochs: int | None
    #: Every N whose doubling is on the curve, ascending.
    steps: tuple[Doubling, ...]
    #: The curve the rule read.
    points: tuple[CurvePoint, ...]
    #: Why E is what it is, or why there is none yet, in words.
    reason: str

    def point(self, epochs: int) -> CurvePoint:
        """The curve's point at ``epochs``."""
        for p in self.points:
            if p.epochs == epochs:
                return p
        raise ValueError(f"epochs must be one of the curve's {[p.epochs for p in self.points]}, got {epochs!r}")

    def conclusions(self) -> list[str]:
        """What E is and why, in sentences generated from the numbers: E with Δ and the std it was
        held against, the doublings before it that still changed the mean by more, how many seeds
        the std rests on (with two, one degree of freedom: a rough std), and the training accuracy
        at E; or why no N qualifies yet."""
        if self.epochs is None:
            return [f"{self.task}: no epoch count qualifies yet. {self.reason}"]
        at, doubled = self.point(self.epochs), self.point(2 * self.epochs)
        step = next(s for s in self.steps if s.epochs == self.epochs)
        n = len(at.seeds)
        out = [f"{self.task}: E = {self.epochs} epochs. Doubling the training to {2 * self.epochs} epochs "
               f"changes the plain network's mean test accuracy by {step.change:+.2f} points "
               f"({at.mean:.2f} % → {doubled.mean:.2f} %), less than the seed std at {self.epochs} epochs, "
               f"{step.std:.2f} points over {n} seeds."]
        before = [s for s in self.steps if s.epochs < self.epochs]
        if before:
            items = [f"{s.epochs} → {2 * s.epochs} epochs {s.change:+.2f} (std {_std(s.std)})" for s in before]
            out.append(f"The shorter schedules did not qualify (Δ in points, and the std at N): {_and(items)}.")
        if n == 2:
            out.append(f"The std at {self.epochs} epochs rests on 2 seeds (1 degree of freedom), so it is a "
                       f"rough std: a third seed can move it, and E with it.")
        out.append(f"At {self.epochs} epochs the plain network classifies {at.train_mean:.1f} % of its own "
                   f"training patches.")
        return out


def _std(std: float | None) -> str:
    return "none: one seed" if std is None else f"{std:.2f}"


def curve(task: str = "patches", records=None) -> list[CurvePoint]:
    """The plain network's accuracy against the length of its schedule: one
    :class:`CurvePoint` per epoch count N, ascending.

    Args:
        task: ``"patches"`` or ``"recoloured"``.
        records: ``{N: run records}`` to read instead of :func:`chattn.pretrained.curve_records`
            of ``task`` (records need ``seed``, ``test_accuracy`` and ``train_accuracy``, fractions).

    Example::

        >>> points = curve("patches")
        >>> points[0].epochs, len(points[0].seeds) >= 2
        (3, True)
    """
    from .. import pretrained
    from .._validate import one_of
    from ..data import TASKS

    one_of(task, "task", TASKS)
    records = pretrained.curve_records(task) if records is None else records
    points = []
    for n in sorted(records):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"records must map epoch counts (positive ints) to run records, got key {n!r}")
        rs = sorted(records[n], key=lambda r: r["seed"])
        if not rs:
            continue
        test = tuple(100 * r["test_accuracy"] for r in rs)
        train = tuple(100 * r["train_accuracy"] for r in rs)
        points.append(CurvePoint(n, tuple(r["seed"] for r in rs), test, train, statistics.fmean(test),
                                 statistics.stdev(test) if len(test) > 1 else None, statistics.fmean(train)))
    return points


def curve_table(task: str = "patches", points=None) -> str:
    """The curve (:func:`curve`) as a text table: N, seeds, test accuracy mean ± sample std and
    training accuracy mean, in %.

    Args:
        task: ``"patches"`` or ``"recoloured"``.
        points: :func:`curve`'s output, if already computed.

    Example::

        >>> print(curve_table("patches").splitlines()[0])
        epochs  seeds  test acc (%)  train acc (%)
    """
    points = curve(task) if points is None else list(points)
    lines = ["epochs  seeds  test acc (%)  train acc (%)"]
    for p in points:
        std = "  (1 seed)" if p.std is None else f" ± {p.std:4.2f}"
        lines.append(f"{p.epochs:6d}  {len(p.seeds):5d}  {p.mean:5.2f}{std}  {p.train_mean:13.2f}")
    return "\n".join(lines)


def choose_epochs(task: str = "patches", points=None) -> EpochChoice:
    r"""The epoch count E of ``task``, chosen from the plain network's curve (:func:`curve`).

    Let :math:`\bar a_N` be the mean test accuracy over the seeds trained for N epochs and
    :math:`s_N` their sample standard deviation,
    :math:`s_N^2 = \frac{1}{n_N - 1}\sum_i (a_{N,i} - \bar a_N)^2`. A doubling is worth it while it
    moves the mean by at least the scatter of the seeds at N; E is the first N from which no
    doubling on the curve is worth it any more:

    .. math::

        \begin{aligned}
        &E = \min\{N : 2N \text{ on the curve, and}\\
        &\quad |\bar a_{2M} - \bar a_M| < s_M \text{ for every } M \ge N\\
        &\quad \text{with } 2M \text{ on the curve}\}.
        \end{aligned}

    A doubling that stays within the scatter and is followed by one that does not (a flat stretch
    before the curve rises again) does not stop training. An M trained with one seed has no
    :math:`s_M` and cannot qualify; a change equal to :math:`s_M` does not qualify (strict
    inequality); the largest N, without its doubling, is not a candidate. With two seeds
    :math:`s_M` has one degree of freedom and is rough (:meth:`EpochChoice.conclusions` says so).

    Args:
        task: ``"patches"`` or ``"recoloured"``.
        points: :func:`curve`'s output, if already computed.

    Returns: an :class:`EpochChoice`; its ``epochs`` is ``None`` when no N qualifies yet, and its
    ``reason`` says why.

    Example::

        >>> choice = choose_epochs("patches")
        >>> choice.epochs is None or 2 * choice.epochs in [p.epochs for p in choice.points]
        True
    """
    points = tuple(curve(task) if points is None else points)
    by_epochs = {p.epochs: p for p in points}
    steps = []
    for p in points:
        if 2 * p.epochs in by_epochs:
            change = by_epochs[2 * p.epochs].mean - p.mean
            steps.append(Doubling(p.epochs, change, p.std, p.std is not None and abs(change) < p.std))
    chosen = next((s for s in steps if all(t.qualifies for t in steps if t.epochs >= s.epochs)), None)
    if chosen is not None:
        reason = (f"|mean({2 * chosen.epochs}) − mean({chosen.epochs})| = {abs(chosen.change):.2f} < "
                  f"std({chosen.epochs}) = {chosen.std:.2f} points")
        return EpochChoice(task, chosen.epochs, tuple(steps), points, reason)
    if not points:
        reason = "No curve is shipped."
    elif not steps:
        reason = (f"The curve ({', '.join(str(p.epochs) for p in points)} epochs) has no epoch count "
                  f"together with its double.")
    else:
        why = [f"{s.epochs} epochs: one seed, no std" if s.std is None else
               f"{s.epochs} → {2 * s.epochs} epochs changed the mean by {s.change:+.2f}, not less than "
               f"the std {s.std:.2f}" for s in steps if not s.qualifies]
        last = max(s.epochs for s in steps if not s.qualifies)
        reason = (f"The doubling from {last} epochs still counts: " if len(why) == 1 else
                  f"Doublings up to the one from {last} epochs still count: ") + "; ".join(why) + "."
    untried = [p.epochs for p in points if 2 * p.epochs not in by_epochs]
    if points and untried:
        reason += f" Train {2 * untried[-1]} epochs to test {untried[-1]}."
    return EpochChoice(task, None, tuple(steps), points, reason)
