r"""The shipped small ResNets (one per attention module, trained by :mod:`chattn.train`) and
what their gates do on real patches.

- :func:`load` builds the network of ``small_resnet_{attn}.safetensors`` (the seed-0 run, in
  ``chattn/weights/patches/epochs<E>/``, :mod:`chattn.runs`) from the config stored in the file
  and loads the weights, without pickle.
- :func:`records` returns the JSON record of every run of the grid (all seeds), or of the grid on
  another task (``records(task="recoloured")``: :func:`chattn.data.recolour`, records only).
- :data:`SWEEPS` lists the option each module was trained with at several values (SE's reduction,
  ECA's kernel size, ...); :func:`sweep` summarises them per value and ``load(attn, **options)``
  loads the seed-0 network of one value (``load("se", reduction=8)``).
- :func:`gate_statistics` measures, block by block, how much the gate depends on the class: the
  SE paper's "excitation by depth" (Hu et al., Fig. 6): similar across classes in early stages,
  class-specific in late ones.

Example::

    >>> from chattn import pretrained
    >>> from chattn.data import make_dataset
    >>> net = pretrained.load("se")
    >>> x, y = make_dataset("test", per_class=50)
    >>> stats = pretrained.gate_statistics(net, x, y)
    >>> sorted(stats.stages)
    [1, 2, 3]
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from . import _validate
from .data import TASKS
from .models.resnet import flops
from .models.small import SmallResNet, small_resnet
from .runs import EPOCHS, are_defaults, check_attn, configs, curve_epochs, default_option, load_records, \
    load_weights, ship_dir, stem

_name = check_attn

#: The sweeps, per module the option trained at several values and those values (seeds per value:
#: :data:`SWEEP_SEEDS`), in ``weights/<task>/epochs<E>/sweep/``. The grid's own value need not be
#: trained again: the grid's runs stand in for it (same code, same recipe) when the sweep has none
#: (:func:`sweep_records`). :func:`sweep` summarises a sweep, ``load(attn, **{option: value})``
#: loads its seed-0 network.
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


def weights_path(attn: str | None, **options) -> Path:
    """Path of the shipped seed-0 weights of ``attn`` (``None`` or ``'none'``: the plain ResNet,
    the grid's network) on the photo patches at :data:`chattn.runs.EPOCHS`; with ``options`` (e.g.
    ``reduction=8``) the sweep's network trained with them, or, when the sweep has none and the
    options are the grid's defaults (:func:`chattn.runs.are_defaults`), the grid's.

    Example::

        >>> weights_path("se", reduction=8).relative_to(ship_dir()).as_posix()
        'sweep/small_resnet_se_reduction8.safetensors'
    """
    name = _name(attn)
    if options and name == "none":
        raise ValueError(f"options {sorted(options)} given for attn={attn!r}, which has no module")
    grid = ship_dir() / (stem(name) + ".safetensors")
    if not options:
        return grid
    path = ship_dir("patches", options) / (stem(name, options=options) + ".safetensors")
    return grid if not path.is_file() and are_defaults(name, options) else path


def shipped() -> list[str]:
    """Configs whose weights are shipped, in the order of :func:`chattn.runs.configs`."""
    return [c for c in configs() if weights_path(c).is_file()]


def load(attn: str | None, **options) -> SmallResNet:
    """The shipped :class:`~chattn.models.SmallResNet` for ``attn``, in eval mode; with
    ``options``, the sweep's network trained with them (``load("se", reduction=8)``; see
    :data:`SWEEPS`).

    The file holds the state_dict (buffers included) and, as metadata, the constructor
    arguments; both are read with safetensors (no pickle, no code execution;
    :func:`chattn.runs.load_weights`).

    Example::

        >>> net = load("eca")
        >>> net.training, net.attn_name
        (False, 'eca')
    """
    path = weights_path(attn, **options)
    if not path.is_file():
        opts = "".join(f" --opt {k}={v}" for k, v in sorted(options.items()))
        raise FileNotFoundError(f"no shipped weights for attn={attn!r}{f', options {options}' if options else ''} "
                                f"at {path}; train them with python -m chattn.train --attn {attn or 'none'}{opts} "
                                f"--epochs {EPOCHS['patches']} --ship")
    return load_weights(path)


def records(task: str = "patches") -> list[dict]:
    """Every shipped run record of the grid (all configs, all seeds) at the recipe's epochs
    (:data:`chattn.runs.EPOCHS`), as dicts, sorted by config and seed; ``task="recoloured"``: the grid
    trained on :func:`chattn.data.recolour`'s task.

    Keys: ``attn, seed, epochs, train_accuracy, test_accuracy, params, seconds, torch, python,
    chattn, date, model`` (the config), ``weights`` (file name, seed 0 only) and the training
    settings.
    """
    _validate.one_of(task, "task", TASKS)
    return load_records(ship_dir(task))


def control_records(task: str = "patches") -> list[dict]:
    """The capacity controls at the recipe's epochs: plain networks of other widths or depths
    (``weights/<task>/epochs<E>/control/``), sorted by width, depth and seed; ``[]`` when none is
    shipped."""
    where = ship_dir(task) / "control"             # the layout of chattn.runs.ship_dir
    return load_records(where) if where.is_dir() else []


def curve_records(task: str = "patches") -> dict[int, list[dict]]:
    """The plain network trained for other epoch counts: ``{epochs: records}`` for every
    ``weights/<task>/curve/epochs<N>/``, ascending in N."""
    return {n: load_records(ship_dir(task, epochs=n, curve=True)) for n in curve_epochs(task)}


def sweep_records(attn: str) -> list[dict]:
    """Every run of ``attn``'s sweep (:data:`SWEEPS`), each record with ``value`` (the swept
    option's value) added, sorted by value and seed.

    The grid's own value (:func:`chattn.runs.default_option`, when it is one of the sweep's values) comes from
    the sweep's folder when the sweep trained it, else from the grid's runs of ``attn`` (the same
    network, code and recipe: a sweep need not train it again).
    """
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
    default = default_option(name, key)
    if default in values and not any(r["value"] == default for r in out):
        out += [{**r, "value": default} for r in records() if r["attn"] == name and not r["model"].get("options")]
    return sorted(out, key=lambda r: (values.index(r["value"]), r["seed"]))


@dataclass
class SweepPoint:
    """One value of a sweep: its runs' test accuracies (one per seed), their mean and sample std,
    the network's parameters and FLOPs (one 32x32 patch; MACs = FLOPs / 2), and its seed-0
    weights (``None`` when not shipped)."""
    value: object
    accuracies: list[float]
    mean: float
    std: float
    params: int
    flops: int
    weights: Path | None


def sweep(attn: str) -> list[SweepPoint]:
    """:func:`sweep_records` summarised per value, in the order of :data:`SWEEPS`.

    Example::

        >>> [p.value for p in sweep("se")]
        [2, 4, 8, 16, 32]
    """
    name = _name(attn)
    key, values = SWEEPS.get(name, (None, ()))
    runs = sweep_records(name)
    points = []
    for v in values:
        rs = [r for r in runs if r["value"] == v]
        if not rs:
            continue
        acc = [r["test_accuracy"] for r in rs]
        path = weights_path(name, **{key: v})
        config = rs[0]["model"]
        net = small_resnet(name, config["num_classes"], config["width"], depth=config["depth"],
                           input_size=config["input_size"], **{**config["options"], key: v})
        points.append(SweepPoint(v, acc, statistics.fmean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0,
                                 rs[0]["params"], flops(net, (1, 3, config["input_size"], config["input_size"])),
                                 path if path.is_file() else None))
    return points


def class_specificity(g: torch.Tensor, y: torch.Tensor) -> float:
    r"""Fraction of the gates' variance explained by the class (:math:`\eta^2`, in [0, 1]):

    .. math::
        \eta^2 = \frac{\sum_k n_k \lVert \mu_k - \mu \rVert^2}{\sum_i \lVert g_i - \mu \rVert^2}

    with :math:`\mu_k` the mean gate vector of class k and :math:`\mu` the overall mean. 0: the
    gate ignores the class; 1: it is a function of the class alone. 0 for constant gates.

    Shape: ``g (N, C)``, ``y (N,)``.

    Example::

        >>> class_specificity(torch.eye(3)[[0, 0, 1, 1, 2]], torch.tensor([0, 0, 1, 1, 2]))
        1.0
    """
    if not isinstance(g, torch.Tensor) or g.dim() != 2:
        raise ValueError(f"g must be a (N, C) tensor, got {getattr(g, 'shape', type(g).__name__)}")
    if not isinstance(y, torch.Tensor) or y.shape != g.shape[:1]:
        raise ValueError(f"y must be a (N,) tensor matching g's {g.shape[0]} rows")
    g = g.double()
    mu = g.mean(0)                                                     # (C,)
    total = (g - mu).pow(2).sum()
    if total == 0:
        return 0.0
    between = sum((y == k).sum() * (g[y == k].mean(0) - mu).pow(2).sum() for k in y.unique())
    return float(between / total)


@dataclass
class BlockGates:
    """Gates of one block: ``class_means (K, C)`` (NaN rows for absent classes), ``counts (K,)``,
    ``specificity`` (:func:`class_specificity`)."""
    stage: int
    index: int
    class_means: torch.Tensor
    counts: torch.Tensor
    specificity: float


@dataclass
class GateStatistics:
    """``blocks``: one :class:`BlockGates` per block, in forward order; ``stages``: stage -> mean
    specificity of its blocks."""
    blocks: list[BlockGates]
    stages: dict[int, float]


@torch.no_grad()
def gate_statistics(model: SmallResNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 400) -> GateStatistics:
    r"""Per block, the gate :math:`s` (``attn.attention`` of the block's ``bn3`` output, averaged
    over space when it varies over space) for every sample of ``x``, summarised per class.

    The model runs in eval mode (its mode is restored afterwards). For DIA the gate of each block
    is computed with the LSTM state that block received. For GCT, which gates the input of every
    convolution (``block.attn`` is a ``ModuleDict``), it is the gate before ``conv1``: the gate of
    the block's input, ``(N, C_in)``.

    Args:
        model: a :class:`~chattn.models.SmallResNet` with an attention module.
        x: ``(N, 3, S, S)`` normalised patches.  y: ``(N,)`` class indices in ``[0, num_classes)``.

    Returns: :class:`GateStatistics`.
    """
    if not isinstance(model, SmallResNet):
        raise TypeError(f"model must be a SmallResNet, got {type(model).__name__}")
    if model.attn_name is None:
        raise ValueError("model has no attention module (attn=None): there are no gates")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (N, 3, S, S) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != x.shape[:1]:
        raise ValueError(f"y must be an int64 (N,) tensor with N = {x.shape[0]} (x's batch)")
    if len(y) and (y.min() < 0 or y.max() >= model.num_classes):
        raise ValueError(f"y must hold class indices in [0, {model.num_classes})")

    refs = model.blocks()
    gates: list[list[torch.Tensor]] = [[] for _ in refs]
    handles, states = [], {}
    for i, (_, block, attn) in enumerate(refs):
        if isinstance(attn, torch.nn.ModuleDict):       # GCT: the gate before conv1, on the block's input
            def on_input(module, args, out, i=i):
                gates[i].append(module.attention(args[0]).mean((2, 3)))
            handles.append(attn["conv1"].register_forward_hook(on_input))
            continue

        def pre(module, args, i=i):
            states[i] = args[1] if len(args) > 1 else None          # DIA's (h, c) entering the block

        def after_bn3(module, args, out, i=i, attn=attn):
            s = attn.attention(out, states[i]) if model.attn_name == "dia" else attn.attention(out)
            gates[i].append(s.mean((2, 3)))                            # (B, C)

        handles += [block.register_forward_pre_hook(pre), block.bn3.register_forward_hook(after_bn3)]
    was_training = model.training
    model.eval()
    try:
        for j in range(0, len(x), batch_size):
            model(x[j:j + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    k = model.num_classes
    counts = torch.bincount(y, minlength=k)
    blocks = []
    for (stage, block, _), gs in zip(refs, gates):
        g = torch.cat(gs)                                              # (N, C)
        means = torch.full((k, g.shape[1]), float("nan"))
        means.index_copy_(0, counts.nonzero()[:, 0], torch.stack([g[y == c].mean(0) for c in range(k) if counts[c]]))
        blocks.append(BlockGates(stage, block.index, means, counts, class_specificity(g, y)))
    stages = {}
    for b in blocks:
        stages.setdefault(b.stage, []).append(b.specificity)
    return GateStatistics(blocks, {s: sum(v) / len(v) for s, v in stages.items()})
