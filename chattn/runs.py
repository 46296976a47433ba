r"""The runs of :mod:`chattn.train` as files: their names, where they are shipped, their records, and
the networks rebuilt from them. :mod:`chattn.train` writes with it, :mod:`chattn.pretrained` reads
with it; it imports neither.

A run is a module (``attn``), its module options (``{"reduction": 8}``), the network's options
(``width``, ``depth``), a task, a number of epochs and a seed. Its files are named by :func:`stem`
and shipped (``python -m chattn.train --ship``) under :data:`WEIGHTS_DIR` by :func:`ship_dir`:

.. code-block:: text

    weights/<task>/epochs<E>/            the grid: seed-0 weights small_resnet_<attn>.safetensors,
                                         the record of every seed small_resnet_<attn>_seed<s>.json
    weights/<task>/epochs<E>/sweep/      runs with module options (seed-0 weights + records)
    weights/<task>/epochs<E>/control/    plain networks of other widths or depths (capacity control)
    weights/<task>/curve/epochs<N>/      the plain network trained for other epoch counts (records)

with ``<task>`` one of :data:`chattn.data.TASKS`; :data:`EPOCHS` is the recipe's ``E`` per task,
the one the book's chapters read.

Example::

    >>> stem("se", 1, options={"reduction": 8}), stem("none", 0, network={"width": 48})
    ('small_resnet_se_reduction8_seed1', 'small_resnet_none_width48_seed0')
    >>> ship_dir("patches", {"reduction": 8}).relative_to(WEIGHTS_DIR).as_posix()
    'patches/epochs24/sweep'
"""
from __future__ import annotations

import hashlib
import inspect
import json
import statistics
from pathlib import Path

from . import __version__, _validate
from .data import TASKS
from .models.small import SmallResNet, small_options
from .registry import _REGISTRY, available

#: Where ``--ship`` writes and :mod:`chattn.pretrained` reads (the layout above).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: The recipe's number of epochs per task, E. The shipped grid, sweeps and controls the chapters
#: read are those trained for this many epochs (``weights/<task>/epochs<E>/``).
EPOCHS: dict[str, int] = {"patches": 24, "recoloured": 48}

#: The network options of :class:`~chattn.models.SmallResNet` a run's file names carry when they
#: differ from these, the network's own defaults (read from its signature: one place).
NETWORK_DEFAULTS: dict[str, int] = {k: inspect.signature(SmallResNet.__init__).parameters[k].default
                                    for k in ("width", "depth")}


def configs() -> list[str]:
    """The grid: ``'none'`` and every registered module."""
    return ["none"] + available()


def check_attn(attn) -> str:
    """``attn`` as a grid name: ``None`` -> ``'none'``, lower case; a ``TypeError`` or ``ValueError``
    naming ``attn`` otherwise.

    Args:
        attn: ``None``, ``'none'`` or a registered module name (any case).
    """
    name = "none" if attn is None else attn
    if not isinstance(name, str):
        raise TypeError(f"attn must be None or a str, got {type(attn).__name__}")
    name = name.lower()
    if name not in configs():
        raise ValueError(f"attn must be None or one of {configs()}, got {attn!r}")
    return name


# --- option defaults: one place --------------------------------------------------------------------

def _stage_options(name: str) -> list[dict]:
    """:func:`~chattn.models.small.small_options` of the default network's three stages (w, 2w, 4w
    channels on 32, 16, 8 pixel maps)."""
    width = NETWORK_DEFAULTS["width"]
    return [small_options(name, width * 2 ** i, 32 // 2 ** i) for i in range(3)]


def default_option(attn: str, key: str):
    """The value of module option ``key`` in the grid's network of ``attn`` (the small net's
    :func:`~chattn.models.small.small_options`, else the module's own default).

    Args:
        attn: a registered module name (not ``'none'``).
        key: the name of one of the module's options, e.g. ``"reduction"``.

    Example::

        >>> default_option("se", "reduction"), default_option("bilinear", "reduction")
        (4, 16)
    """
    name = check_attn(attn)
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


def are_defaults(attn: str, options: dict) -> bool:
    """Whether module ``options`` describe the grid's network of ``attn`` (none, or only default
    values; an option the small net sets per stage, as FcaNet's ``dct_h``, never does).

    Args:
        attn: a grid name (see :func:`check_attn`).
        options: module options, name -> value.

    Example::

        >>> are_defaults("se", {"reduction": 4}), are_defaults("se", {"reduction": 8})
        (True, False)
    """
    stages = _stage_options(check_attn(attn))
    return all(all(s[k] == v for s in stages) if k in stages[0] else default_option(attn, k) == v
               for k, v in options.items())


def network_options(config: dict) -> dict:
    """The network options of a model config (``record["model"]``, or any dict with ``width`` /
    ``depth``) that differ from :data:`NETWORK_DEFAULTS`; ``{}`` for the default network.

    Args:
        config: a model config; keys other than ``width`` and ``depth`` are ignored.

    Example::

        >>> network_options({"width": 48, "depth": 2}), network_options({"arch": "resnet50"})
        ({'width': 48}, {})
    """
    return {k: config[k] for k, v in NETWORK_DEFAULTS.items() if config.get(k, v) != v}


# --- names and places -------------------------------------------------------------------------------

def _option_text(value) -> str:
    return str(value).replace(".", "p").replace("-", "m")


def stem(attn: str, seed: int | None = None, arch: str = "small", options: dict | None = None,
         network: dict | None = None) -> str:
    """File stem of a run: ``small_resnet_se_seed1``, or ``small_resnet_se`` for shipped weights
    (``resnet50_se_seed1`` for ``arch="resnet50"``). Module options follow the name, sorted
    (``small_resnet_se_reduction8_seed1``, ``small_resnet_eca_k_size5``; in a value, ``.`` is
    written ``p`` and ``-`` ``m``), then the network options that differ from
    :data:`NETWORK_DEFAULTS` (``small_resnet_none_width48_seed0``).

    Args:
        attn: the module's name (``'none'``: the plain network).
        seed: the run's seed; ``None`` for the name of shipped (seed-0) weights.
        arch: ``"small"`` or ``"resnet50"``.
        options: the module options.
        network: the network options (``width``, ``depth``); defaults are left out of the name.

    Example::

        >>> stem("se", 1, options={"reduction": 8}), stem("gct", options={"epsilon": 0.5})
        ('small_resnet_se_reduction8_seed1', 'small_resnet_gct_epsilon0p5')
    """
    opts = "".join(f"_{k}{_option_text(v)}" for k, v in sorted((options or {}).items()))
    opts += "".join(f"_{k}{_option_text(v)}" for k, v in network_options(network or {}).items())
    return ("small_resnet" if arch == "small" else arch) + f"_{attn}{opts}" + ("" if seed is None else f"_seed{seed}")


def ship_dir(task: str = "patches", options: dict | None = None, *, epochs: int | None = None,
             network: dict | None = None, curve: bool = False) -> Path:
    """Where ``--ship`` writes a run and :mod:`chattn.pretrained` reads it (the layout above).

    Args:
        task: one of :data:`chattn.data.TASKS`.
        options: the module options; any: ``sweep/``.
        epochs: the run's epochs; ``None``: the recipe's, :data:`EPOCHS` ``[task]``.
        network: the network options; any that differ from :data:`NETWORK_DEFAULTS`: ``control/``.
        curve: the plain network trained for another epoch count: ``<task>/curve/epochs<N>/``
            (with neither module nor network options).

    Example::

        >>> [ship_dir(t, o, network=n).relative_to(WEIGHTS_DIR).as_posix() for t, o, n in
        ...  [("patches", {}, {}), ("recoloured", {"k_size": 5}, {}), ("patches", {}, {"width": 48})]]
        ['patches/epochs24', 'recoloured/epochs48/sweep', 'patches/epochs24/control']
    """
    _validate.one_of(task, "task", TASKS)
    epochs = EPOCHS[task] if epochs is None else _validate.positive_int(epochs, "epochs")
    network = network_options(network or {})
    if curve:
        if options or network:
            raise ValueError(f"curve=True is the plain network at the grid's options; got options={options!r}, "
                             f"network={network!r}")
        return WEIGHTS_DIR / task / "curve" / f"epochs{epochs}"
    base = WEIGHTS_DIR / task / f"epochs{epochs}"
    if network:
        return base / "control"
    return base / "sweep" if options else base


def curve_epochs(task: str = "patches") -> list[int]:
    """The epoch counts shipped under ``<task>/curve/``, ascending.

    Args:
        task: one of :data:`chattn.data.TASKS`, default ``"patches"``.

    Example::

        >>> isinstance(curve_epochs(), list)
        True
    """
    _validate.one_of(task, "task", TASKS)
    root = WEIGHTS_DIR / task / "curve"
    found = [p.name[len("epochs"):] for p in root.glob("epochs*") if p.is_dir()] if root.is_dir() else []
    return sorted(int(n) for n in found if n.isdigit())


# --- records -----------------------------------------------------------------------------------------

def load_records(directory) -> list[dict]:
    """Every run record (``small_resnet_*_seed*.json``) in ``directory`` (not its sub-folders),
    sorted by config (the grid's order), module options (numbers by value), network options and
    seed.

    Args:
        directory: the folder (a path or str) to read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory={str(directory)!r} is not a directory")
    recs = [json.loads(p.read_text()) for p in sorted(directory.glob("small_resnet_*_seed*.json"))]
    order = {name: i for i, name in enumerate(configs())}
    return sorted(recs, key=lambda r: (order.get(r["attn"], len(order)), r["attn"], _options_order(r),
                                       _by_value(network_options(r.get("model") or {})), r["seed"]))


def _by_value(options: dict) -> tuple:
    """Sort key of options: by name, numbers by value (reduction 2 before 16)."""
    return tuple((k, 0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (k, 1, 0, str(v))
                 for k, v in sorted(options.items()))


def _options_order(record: dict) -> tuple:
    return _by_value((record.get("model") or {}).get("options") or {})


def summarize(records: list[dict]) -> list[dict]:
    """Per module, module options and network options: runs, parameters, test accuracy mean and
    std (sample std, 0 for one run), mean train accuracy and seconds.

    Args:
        records: run records, as :func:`load_records` returns them.

    Returns:
        One row per group (in order of first appearance), a dict with ``attn``, ``options``,
        ``network``, ``runs``, ``params``, ``test_mean``, ``test_std``, ``train_mean`` and ``seconds``.
    """
    rows = {}
    for r in records:
        model = r.get("model") or {}
        key = (r["attn"], json.dumps(model.get("options") or {}, sort_keys=True), json.dumps(network_options(model)))
        rows.setdefault(key, []).append(r)
    out = []
    for (attn, options, network), rs in rows.items():
        acc = [r["test_accuracy"] for r in rs]
        out.append(dict(attn=attn, options=json.loads(options), network=json.loads(network), runs=len(rs),
                        params=rs[0]["params"], test_mean=statistics.fmean(acc),
                        test_std=statistics.stdev(acc) if len(acc) > 1 else 0.0,
                        train_mean=statistics.fmean(r["train_accuracy"] for r in rs),
                        seconds=statistics.fmean(r["seconds"] for r in rs)))
    return out


def label(attn: str, options: dict | None = None, network: dict | None = None) -> str:
    """A run in words: the module, its options (sorted), then the network options that differ from
    :data:`NETWORK_DEFAULTS`.

    Args:
        attn: the module's name (``'none'``: the plain network).
        options: the module options.
        network: the network options (``width``, ``depth``); defaults are left out.

    Example::

        >>> label("se", {"reduction": 8}), label("none", network={"width": 44, "depth": 2})
        ('se reduction=8', 'none width=44')
    """
    pairs = [*sorted((options or {}).items()), *network_options(network or {}).items()]
    return " ".join([attn] + [f"{k}={v}" for k, v in pairs])


def format_summary(rows: list[dict]) -> str:
    """A Markdown table of :func:`summarize`.

    Args:
        rows: the rows of :func:`summarize`.
    """
    lines = ["| module | runs | params | test acc (mean ± std) | train acc | s/run |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {label(r['attn'], r.get('options'), r.get('network'))} | {r['runs']} | {r['params']:,} | "
                     f"{100 * r['test_mean']:.2f} ± {100 * r['test_std']:.2f} | {100 * r['train_mean']:.2f} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)


# --- weights -------------------------------------------------------------------------------------------

def build(config: dict) -> SmallResNet:
    """The :class:`~chattn.models.SmallResNet` a model config describes (``record["model"]``, or the
    config stored in a weights file), freshly initialised (seed it first to reproduce a run).

    Args:
        config: a dict with ``attn``, ``num_classes``, ``width``, ``depth``, ``input_size`` and,
            optionally, ``options`` (the module options).

    Example::

        >>> build({"attn": "se", "num_classes": 8, "width": 16, "depth": 1, "input_size": 32,
        ...        "options": {"reduction": 8}}).config()["options"]
        {'reduction': 8}
    """
    attn = config["attn"]
    return SmallResNet(None if attn == "none" else attn, config["num_classes"], config["width"],
                       depth=config["depth"], input_size=config["input_size"], **(config.get("options") or {}))


def save_weights(model, path, config: dict | None = None) -> str:
    """Write ``model.state_dict()`` (buffers included) with safetensors, the config
    (``model.config()`` unless given) as metadata; return the file's sha256.

    Args:
        model: the network, e.g. a :class:`~chattn.models.SmallResNet`.
        path: the file to write (a path or str), conventionally ``*.safetensors``.
        config: the model config to store; default: ``model.config()``.
    """
    from safetensors.torch import save_file
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = model.config() if config is None else config
    save_file(state, str(path), metadata={"config": json.dumps(config), "chattn": __version__})
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_config(path) -> dict:
    """The model config stored in a weights file's metadata (read without loading the tensors).

    Args:
        path: a weights file (a path or str) written by :func:`save_weights`.
    """
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["config"])


def load_weights(path) -> SmallResNet:
    """The network of a weights file written by :func:`save_weights`, in eval mode: built from the
    config in its metadata (:func:`build`), the state_dict loaded strictly; safetensors throughout
    (no pickle, no code execution).

    Args:
        path: a weights file (a path or str) written by :func:`save_weights`.
    """
    from safetensors.torch import load_file
    model = build(read_config(path))
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()
