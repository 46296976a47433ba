r"""The shipped small ResNets (one per attention module, trained by :mod:`chattn.train`) and
their run records.

- :func:`load` builds the network of ``small_resnet_{attn}.safetensors`` (the seed-0 run, in
  ``chattn/weights/patches/epochs<E>/``, :mod:`chattn.runs`) from the config stored in the file
  and loads the weights, without pickle.
- Every reader takes ``epochs=``: the runs of the recipe at another epoch count (a grid being
  trained at a new ``E`` before :data:`chattn.runs.EPOCHS` moves to it); ``None``, the default, is
  :data:`chattn.runs.EPOCHS`.
- :func:`records` returns the JSON record of every run of the grid (all seeds), or of the grid on
  another task (``records(task="recoloured")``: :func:`chattn.data.recolour`, records only).
- :data:`SWEEPS` lists the option each module was trained with at several values (SE's reduction,
  ECA's kernel size, ...); :func:`sweep_records` lists their runs and ``load(attn, **options)``
  loads the seed-0 network of one value (``load("se", reduction=8)``); :func:`own_sweep_values`
  names the values with a network of their own (at the grid's default value it is the grid's).

What the runs show (paired comparisons, the sweeps' summaries, the gates' class specificity) is
measured by :mod:`chattn.analysis`.

Example::

    >>> from chattn import pretrained
    >>> sorted({r["seed"] for r in pretrained.records() if r["attn"] == "se"})
    [0, 1, 2, 3, 4]
"""
from __future__ import annotations

from pathlib import Path

from . import _validate
from .data import TASKS
from .models.small import SmallResNet
from .runs import EPOCHS, are_defaults, check_attn, configs, curve_epochs, default_option, load_records, \
    load_weights, ship_dir, stem

_name = check_attn

#: The sweeps, per module the option trained at several values and those values (seeds per value:
#: :data:`SWEEP_SEEDS`), in ``weights/<task>/epochs<E>/sweep/``. The grid's own value need not be
#: trained again: the grid's runs stand in for it (same code, same recipe) when the sweep has none
#: (:func:`sweep_records`). :func:`chattn.analysis.sweep` summarises a sweep,
#: ``load(attn, **{option: value})`` loads its seed-0 network.
SWEEPS: dict[str, tuple[str, tuple]] = {
    "se": ("reduction", (2, 4, 8, 16, 32)),
    "eca": ("k_size", (1, 3, 5, 7, 9)),
    "fca": ("reduction", (2, 4, 8, 16)),
    "bilinear": ("reduction", (4, 8, 16, 32)),
    "rcan_ca": ("reduction", (2, 4, 8, 16)),
    "dia": ("reduction", (2, 4, 8, 16)),
    "soca": ("reduction", (2, 4, 8, 16)),
}

#: How many seeds each sweep trained per value, three for every sweep (``--seeds 3``), so that each
#: value is compared with the default value paired by seed (:func:`chattn.analysis.compare_sweep`).
SWEEP_SEEDS: dict[str, int] = {"se": 3, "eca": 3, "fca": 3, "bilinear": 3, "rcan_ca": 3, "dia": 3, "soca": 3}


def own_sweep_values(attn: str) -> tuple:
    """The values of ``attn``'s sweep (:data:`SWEEPS`) that the sweep trains a network of its own
    for: every value but the grid's default (:func:`chattn.runs.default_option`), whose network is
    the grid's (same code, same recipe; :func:`weights_path` returns the grid's file for it).

    Args:
        attn: a swept module, a key of :data:`SWEEPS`.

    Example::

        >>> own_sweep_values("se"), own_sweep_values("eca")
        ((2, 8, 16, 32), (1, 3, 5, 7, 9))
    """
    name, key, values = _sweep(attn)
    default = default_option(name, key)
    return tuple(v for v in values if v != default)


def _sweep(attn) -> tuple[str, str, tuple]:
    """``(name, option, values)`` of ``attn``'s sweep (any case); a ``TypeError`` for a non-str, a
    ``ValueError`` for a module that has no sweep, both naming ``attn`` and the swept modules."""
    if not isinstance(attn, str):
        raise TypeError(f"attn must be a str, one of the swept modules {sorted(SWEEPS)}, got {type(attn).__name__}")
    name = attn.lower()
    if name not in SWEEPS:
        raise ValueError(f"attn must be one of the swept modules {sorted(SWEEPS)}, got {attn!r}")
    return (name, *SWEEPS[name])


def weights_path(attn: str | None, *, epochs: int | None = None, **options) -> Path:
    """Path of the shipped seed-0 weights of ``attn`` (``None`` or ``'none'``: the plain ResNet,
    the grid's network) on the photo patches at :data:`chattn.runs.EPOCHS`; with ``options`` (e.g.
    ``reduction=8``) the sweep's network trained with them, or, when the sweep has none and the
    options are the grid's defaults (:func:`chattn.runs.are_defaults`), the grid's.

    Args:
        attn: a module name, or ``None`` / ``'none'`` for the plain ResNet.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.
        **options: module options of a sweep's network, e.g. ``reduction=8``; none: the grid's.

    Example::

        >>> weights_path("se", reduction=8).relative_to(ship_dir()).as_posix()
        'sweep/small_resnet_se_reduction8.safetensors'
    """
    name = _name(attn)
    if options and name == "none":
        raise ValueError(f"options {sorted(options)} given for attn={attn!r}, which has no module")
    grid = ship_dir(epochs=epochs) / (stem(name) + ".safetensors")
    if not options:
        return grid
    path = ship_dir("patches", options, epochs=epochs) / (stem(name, options=options) + ".safetensors")
    return grid if not path.is_file() and are_defaults(name, options) else path


def shipped(epochs: int | None = None) -> list[str]:
    """Configs whose weights are shipped, in the order of :func:`chattn.runs.configs`.

    Args:
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.
    """
    return [c for c in configs() if weights_path(c, epochs=epochs).is_file()]


def load(attn: str | None, *, epochs: int | None = None, **options) -> SmallResNet:
    """The shipped :class:`~chattn.models.SmallResNet` for ``attn``, in eval mode; with
    ``options``, the sweep's network trained with them (``load("se", reduction=8)``; see
    :data:`SWEEPS`).

    The file holds the state_dict (buffers included) and, as metadata, the constructor
    arguments; both are read with safetensors (no pickle, no code execution;
    :func:`chattn.runs.load_weights`).

    Args:
        attn: a module name, or ``None`` / ``'none'`` for the plain ResNet.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.
        **options: module options of a sweep's network, e.g. ``reduction=8``; none: the grid's.

    Raises:
        FileNotFoundError: no weights are shipped for ``attn`` and ``options``.

    Example::

        >>> net = load("eca")
        >>> net.training, net.attn_name
        (False, 'eca')
    """
    path = weights_path(attn, epochs=epochs, **options)
    if not path.is_file():
        opts = "".join(f" --opt {k}={v}" for k, v in sorted(options.items()))
        raise FileNotFoundError(f"no shipped weights for attn={attn!r}{f', options {options}' if options else ''} "
                                f"at {path}; train them with python -m chattn.train --attn {attn or 'none'}{opts} "
                                f"--epochs {EPOCHS['patches'] if epochs is None else epochs} --ship")
    return load_weights(path)


def records(task: str = "patches", epochs: int | None = None) -> list[dict]:
    """Every shipped run record of the grid (all configs, all seeds) at the recipe's epochs
    (:data:`chattn.runs.EPOCHS`), as dicts, sorted by config and seed; ``task="recoloured"``: the grid
    trained on :func:`chattn.data.recolour`'s task.

    Keys: ``attn, seed, epochs, train_accuracy, test_accuracy, params, seconds, torch, python,
    chattn, date, model`` (the config), ``weights`` (file name, seed 0 only) and the training
    settings.

    Args:
        task: one of :data:`chattn.data.TASKS`, default ``"patches"``.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.
    """
    _validate.one_of(task, "task", TASKS)
    where = ship_dir(task, epochs=epochs)
    if not where.is_dir():
        grids = sorted(int(p.name[len("epochs"):]) for p in where.parent.glob("epochs*") if p.name[6:].isdigit())
        raise ValueError(f"epochs={where.name[len('epochs'):]}: no grid is shipped for task={task!r} at that "
                         f"epoch count (shipped: {grids})")
    return load_records(where)


def control_records(task: str = "patches", epochs: int | None = None) -> list[dict]:
    """The capacity controls at the recipe's epochs: plain networks of other widths or depths
    (``weights/<task>/epochs<E>/control/``), sorted by width, depth and seed; ``[]`` when none is
    shipped.

    Args:
        task: one of :data:`chattn.data.TASKS`, default ``"patches"``.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.
    """
    where = ship_dir(task, epochs=epochs) / "control"             # the layout of chattn.runs.ship_dir
    return load_records(where) if where.is_dir() else []


def curve_records(task: str = "patches") -> dict[int, list[dict]]:
    """The plain network trained for other epoch counts: ``{epochs: records}`` for every
    ``weights/<task>/curve/epochs<N>/``, ascending in N.

    Args:
        task: one of :data:`chattn.data.TASKS`, default ``"patches"``.
    """
    return {n: load_records(ship_dir(task, epochs=n, curve=True)) for n in curve_epochs(task)}


def sweep_records(attn: str, epochs: int | None = None) -> list[dict]:
    """Every run of ``attn``'s sweep (:data:`SWEEPS`), each record with ``value`` (the swept
    option's value) and ``source`` (``"sweep"`` or ``"grid"``, the folder it was read from) added,
    sorted by value and seed.

    The grid's own value (:func:`chattn.runs.default_option`, when it is one of the sweep's values) comes from
    the sweep's folder when the sweep trained it, else from the grid's runs of ``attn`` (the same
    network, code and recipe: a sweep need not train it again).

    Args:
        attn: a swept module, a key of :data:`SWEEPS`.
        epochs: the runs trained for this many epochs; ``None``: :data:`chattn.runs.EPOCHS`.
    """
    name, key, values = _sweep(attn)
    sweep_dir = ship_dir("patches", {key: values[0]}, epochs=epochs)
    out = []
    for r in load_records(sweep_dir) if sweep_dir.is_dir() else []:
        if r["attn"] != name:
            continue
        options = r["model"].get("options") or {}
        value = options.get(key)
        if value in values and set(options) == {key}:
            out.append({**r, "value": value, "source": "sweep"})
    default = default_option(name, key)
    if default in values and not any(r["value"] == default for r in out):
        out += [{**r, "value": default, "source": "grid"} for r in records(epochs=epochs)
                if r["attn"] == name and not r["model"].get("options")]
    return sorted(out, key=lambda r: (values.index(r["value"]), r["seed"]))


# The sweeps' summaries (sweep, SweepPoint) and the gates' statistics (gate_statistics,
# class_specificity) live in chattn.analysis.
_MOVED = {"sweep": "chattn.analysis.sweep", "SweepPoint": "chattn.analysis.SweepPoint",
          "class_specificity": "chattn.analysis.class_specificity", "BlockGates": "chattn.analysis.BlockGates",
          "GateStatistics": "chattn.analysis.GateStatistics", "gate_statistics": "chattn.analysis.gate_statistics"}


def __getattr__(name):
    if name in _MOVED:
        raise AttributeError(f"chattn.pretrained.{name} has moved: use {_MOVED[name]}")
    raise AttributeError(f"module 'chattn.pretrained' has no attribute {name!r}")
