r"""The shipped small ResNets (one per attention module, trained by :mod:`chattn.train`) and
their run records.

- :func:`load` builds the network of ``chattn/weights/small_resnet_{attn}.safetensors`` (the seed-0
  run) from the config stored in the file and loads the weights, without pickle.
- :func:`records` returns the JSON record of every run of the grid (all seeds), or of the grid on
  another task (``records(task="recoloured")``: :func:`chattn.data.recolour`, records only).
- :data:`SWEEPS` lists the option each module was trained with at several values (SE's reduction,
  ECA's kernel size, ...); :func:`sweep_records` lists their runs and ``load(attn, **options)``
  loads the seed-0 network of one value (``load("se", reduction=8)``).

What the runs show (paired comparisons, the sweeps' summaries, the gates' class specificity) is
measured by :mod:`chattn.analysis`.

Example::

    >>> from chattn import pretrained
    >>> sorted({r["seed"] for r in pretrained.records() if r["attn"] == "se"})
    [0, 1, 2]
"""
from __future__ import annotations

import inspect
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from . import _validate
from .data import TASKS
from .models.resnet import flops
from .models.small import SmallResNet, small_options, small_resnet
from .registry import _REGISTRY
from .train import WEIGHTS_DIR, configs, load_records, ship_dir, stem

#: The sweeps, per module the option trained at several values and those values (seeds per value:
#: :data:`SWEEP_SEEDS`). Every value is trained by the sweep itself (``chattn/weights/sweep/``), the grid's default
#: among them, since the grid in ``chattn/weights/`` was trained by an earlier version of the
#: code, whose seeds draw other initial weights, so its runs do not stand in for a sweep point.
#: :func:`chattn.analysis.sweep` summarises a sweep, ``load(attn, **{option: value})`` loads its seed-0 network.
SWEEPS: dict[str, tuple[str, tuple]] = {
    "se": ("reduction", (2, 4, 8, 16, 32)),
    "eca": ("k_size", (1, 3, 5, 7, 9)),
    "fca": ("reduction", (2, 4, 8, 16)),
    "bilinear": ("reduction", (4, 8, 16, 32)),
    "rcan_ca": ("reduction", (2, 4, 8, 16)),
    "dia": ("reduction", (2, 4, 8, 16)),
    "soca": ("reduction", (2, 4, 8, 16)),
}

#: How many seeds each sweep trained per value. Three for the ablations of the SE and ECA papers
#: (reduction and kernel size), two for the other five (the CPU time of this project's machine;
#: ``--seeds 3 --skip-existing`` adds the third).
SWEEP_SEEDS: dict[str, int] = {"se": 3, "eca": 3, "fca": 2, "bilinear": 2, "rcan_ca": 2, "dia": 2, "soca": 2}


def _name(attn) -> str:
    name = "none" if attn is None else attn
    if not isinstance(name, str):
        raise TypeError(f"attn must be None or a str, got {type(attn).__name__}")
    name = name.lower()
    if name not in configs():
        raise ValueError(f"attn must be None or one of {configs()}, got {attn!r}")
    return name


def default_option(attn: str, key: str):
    """The value of module option ``key`` in the grid's network of ``attn`` (the small net's
    :func:`~chattn.models.small.small_options`, else the module's own default).

    Example::

        >>> default_option("se", "reduction"), default_option("bilinear", "reduction")
        (4, 16)
    """
    name = _name(attn)
    if name == "none":
        raise ValueError("attn='none' has no module options")
    stages = _stage_options(name)
    if key in stages[0]:
        values = [s[key] for s in stages]
        if len(set(values)) > 1:
            raise ValueError(f"{name}'s {key} is set per stage by the small net ({values} in stages 1-3); "
                             "it has no single default")
        return values[0]
    params = inspect.signature(_REGISTRY[name].__init__).parameters
    if key not in params or key in ("self", "channels"):
        raise ValueError(f"{name} has no option {key!r}; options: "
                         f"{[k for k in params if k not in ('self', 'channels')]}")
    return params[key].default


def _stage_options(name: str) -> list[dict]:
    """:func:`~chattn.models.small.small_options` of the grid's three stages (32, 64, 128 channels
    on 32, 16, 8 pixel maps)."""
    return [small_options(name, 32 * 2 ** i, 32 // 2 ** i) for i in range(3)]


def _grid_options(name: str, options: dict) -> bool:
    """Whether ``options`` describe the grid's network (none, or only defaults; an option the small
    net sets per stage, as FcaNet's dct_h, is the grid's only if every stage has that value)."""
    stages = _stage_options(name)
    return all(all(s[k] == v for s in stages) if k in stages[0] else default_option(name, k) == v
               for k, v in options.items())


def weights_path(attn: str | None, **options) -> Path:
    """Path of the shipped seed-0 weights of ``attn`` (``None`` or ``'none'``: the plain ResNet,
    the grid's network); with ``options`` (e.g. ``reduction=8``) the sweep's network trained with
    them, or, when the sweep has none and the options are the grid's defaults, the grid's."""
    name = _name(attn)
    if options and name == "none":
        raise ValueError(f"options {sorted(options)} given for attn={attn!r}, which has no module")
    grid = WEIGHTS_DIR / (stem(name) + ".safetensors")
    if not options:
        return grid
    path = ship_dir("patches", options) / (stem(name, options=options) + ".safetensors")
    return grid if not path.is_file() and _grid_options(name, options) else path


def shipped() -> list[str]:
    """Configs whose weights are shipped, in the order of :func:`chattn.train.configs`."""
    return [c for c in configs() if weights_path(c).is_file()]


def load(attn: str | None, **options) -> SmallResNet:
    """The shipped :class:`~chattn.models.SmallResNet` for ``attn``, in eval mode; with
    ``options``, the sweep's network trained with them (``load("se", reduction=8)``; see
    :data:`SWEEPS`).

    The file holds the state_dict (buffers included) and, as metadata, the constructor
    arguments; both are read with safetensors (no pickle, no code execution).

    Example::

        >>> net = load("eca")
        >>> net.training, net.attn_name
        (False, 'eca')
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = weights_path(attn, **options)
    if not path.is_file():
        opts = "".join(f" --opt {k}={v}" for k, v in sorted(options.items()))
        raise FileNotFoundError(f"no shipped weights for attn={attn!r}{f', options {options}' if options else ''} "
                                f"at {path}; train them with python -m chattn.train --attn {attn or 'none'}{opts} --ship")
    with safe_open(str(path), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    model = small_resnet(None if config["attn"] == "none" else config["attn"], config["num_classes"],
                         config["width"], depth=config["depth"], input_size=config["input_size"],
                         **config["options"])
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


def records(task: str = "patches") -> list[dict]:
    """Every shipped run record of the grid (all configs, all seeds), as dicts, sorted by config
    and seed; ``task="recoloured"``: the grid trained on :func:`chattn.data.recolour`'s task.

    Keys: ``attn, seed, epochs, train_accuracy, test_accuracy, params, seconds, torch, python,
    chattn, date, model`` (the config), ``weights`` (file name, seed 0 only) and the training
    settings.
    """
    _validate.one_of(task, "task", TASKS)
    return load_records(ship_dir(task))


def sweep_records(attn: str) -> list[dict]:
    """Every run of ``attn``'s sweep (:data:`SWEEPS`), each record with ``value`` (the swept
    option's value) added, sorted by value and seed."""
    name = _name(attn)
    if name not in SWEEPS:
        raise ValueError(f"attn must be one of the swept modules {sorted(SWEEPS)}, got {attn!r}")
    key, values = SWEEPS[name]
    sweep_dir = ship_dir("patches", {key: values[0]})
    out = []
    for r in load_records(sweep_dir) if sweep_dir.is_dir() else []:
        if r["attn"] != name:
            continue
        options = r["model"].get("options") or {}
        value = options.get(key)
        if value in values and set(options) == {key}:
            out.append({**r, "value": value})
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
