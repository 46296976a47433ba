r"""Pictures of the modules and the helpers the book's chapters share.

**Diagrams drawn from the code.** :func:`trace` runs a real input through a channel-attention
module and records, in call order, every squeeze operator (:mod:`chattn.squeeze`), every
excitation operator (:mod:`chattn.excite`), every other layer and every arithmetic step on the
way from ``X`` to ``Y``, with the shape of each tensor that flows between them. :func:`diagram`
draws that record as boxes and arrows (matplotlib): nothing in the picture is typed by hand, so
it cannot drift from the module. How the steps are found:

- forward hooks on the module's sub-modules (a plain ``nn.Sequential`` is looked into, its
  layers are steps; an ``MLP`` or a ``DimChange`` is one step);
- the functions of :mod:`chattn.squeeze` and :mod:`chattn.excite` the module calls
  (``global_avg_pool``, ``covariance_pool``, ``gct_gate`` ...) are wrapped for the duration
  of the trace;
- a :class:`torch.overrides.TorchFunctionMode` sees the torch operations between them
  (``relu``, ``mean``, ``×``, ``+``, ``σ``); views and indexing only pass a tensor on.

Each step gets a role. Operators of :mod:`chattn.squeeze` are the **squeeze**, those of
:mod:`chattn.excite` the **excitation**. The other steps take the role of where they stand:
before the first squeeze operator they prepare the squeeze (GSoP's 1x1 convolution, bilinear
attention's ``dimReduceLayer1``); in the same container as a squeeze operator, or parameter-free
right after one, they finish it (EncNet's BN-ReLU-mean over the codewords, SoCA's column mean,
GCT's ``× alpha``); a layer with parameters after the squeeze starts the excitation (bilinear
attention's two branches, EncNet's ``fc``); the first step that uses ``X`` again is the
**scale** (``Y = s · X``; EncNet's ``ReLU(X + X·γ)``). Modules without a plain squeeze/excite
split come out as what they compute: GCT as embedding → ``× alpha`` → ``gct_gate``; SRM as
``style_pool`` → ``style_integration``; DIANet's LSTM cell as one excitation step that also
returns the state ``(h, c)`` passed to the next block; bilinear attention as two branches from
the per-pixel products that meet in ``σ(m × L)``; SoCA as covariance → Newton–Schulz → mean.

**Shared helpers.** :func:`n_params`, :func:`attention_calls` / :func:`attention_inputs` (what
each attention module of a network receives and returns), :func:`class_means`,
:func:`class_specificity` (η²), :func:`nearest_mean_accuracy`, :func:`test_crop`,
:func:`descriptors` and :func:`block_label` (stages and blocks are numbered from 1).

Every figure returned here has passed :func:`chattn.interactive.check_figure_text` (no ``nan`` or
``inf`` in any text), and :func:`show` puts every other figure of a chapter through the same check
before it is shown.

Example::

    >>> import chattn, torch
    >>> from chattn import viz
    >>> [s.role for s in viz.trace(chattn.create("se", 64), torch.randn(2, 64, 8, 8))]
    ['squeeze', 'excitation', 'scale']
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import excite as _excite
from . import squeeze as _squeeze
from .base import ChannelAttention, Gate
from .interactive import check_figure_text

__all__ = ["Step", "INPUT", "STATE", "trace", "diagram", "frame_diagram", "show", "ROLE_COLORS", "n_params", "AttentionCall",
           "attention_calls", "attention_inputs", "class_means", "class_specificity",
           "nearest_mean_accuracy", "test_crop", "descriptors", "block_label", "sweep_plot", "sweep_table"]

INPUT = -1
STATE = -2                      # the recurrent state a step receives from the previous block (DIA)
ROLE_COLORS = {"squeeze": "#cfe2f3", "excitation": "#fce5cd", "scale": "#d9ead3", "other": "#eeeeee"}

_SQUEEZE_FUNCS = {getattr(_squeeze, n) for n in _squeeze.__all__ if inspect.isfunction(getattr(_squeeze, n))}
_EXCITE_FUNCS = {getattr(_excite, n) for n in _excite.__all__ if inspect.isfunction(getattr(_excite, n))}
_SQUEEZE_TYPES = tuple(getattr(_squeeze, n) for n in _squeeze.__all__ if inspect.isclass(getattr(_squeeze, n)))
_EXCITE_TYPES = tuple(getattr(_excite, n) for n in _excite.__all__ if inspect.isclass(getattr(_excite, n)))
# Torch operations that are a step of their own; every other op (view, indexing, .to) passes
# its input on.
_OPS = {"mul": "×", "__mul__": "×", "__rmul__": "×", "add": "+", "__add__": "+", "__radd__": "+",
        "sub": "−", "__sub__": "−", "__rsub__": "−", "div": "÷", "__truediv__": "÷",
        "sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "relu_": "ReLU", "softmax": "softmax",
        "mean": "mean", "sum": "sum", "bmm": "bmm", "matmul": "matmul", "__matmul__": "matmul"}


@dataclass
class Step:
    """One box of a diagram.

    Attributes:
        label: what runs (``global_avg_pool``, ``fc: MLP``, ``× alpha`` ...).
        detail: a second line (the operator's family, or the layers inside a container).
        role: ``squeeze``, ``excitation``, ``scale`` or ``other``.
        kind: ``function``, ``module`` or ``op``; ``merged`` for a chain of plain steps.
        parents: indices of the steps whose outputs it reads (``-1``: the input X).
        in_shapes: the shape of each tensor it reads, in the order of ``parents``.
        out_shape: the shape of what it returns (a tuple of shapes for several tensors).
        container: the dotted name of the sub-module it was called in (``""``: the module itself).
        has_params: it is a layer with learnable parameters.
        typed: it is an operator of :mod:`chattn.squeeze` or :mod:`chattn.excite`.
        short: the label inside a merged box.
        names: the sub-module names of a (merged) box.
    """

    label: str
    detail: str
    role: str
    kind: str
    parents: list = field(default_factory=list)
    in_shapes: list = field(default_factory=list)
    out_shape: Any = None
    container: str = ""
    has_params: bool = False
    typed: bool = False
    short: str = ""
    names: list = field(default_factory=list)


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _shape(obj):
    if isinstance(obj, torch.Tensor):
        return tuple(obj.shape)
    if isinstance(obj, (tuple, list)):
        return tuple(_shape(o) for o in obj if isinstance(o, (torch.Tensor, tuple, list)))
    return None


class _Recorder(TorchFunctionMode):
    """Records the steps of one forward pass (see :func:`trace`)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.steps: list[Step] = []
        self.depth = 0
        self.producer: dict[int, int] = {}
        self.keep: list[torch.Tensor] = []        # keep tensors alive: ids stay unique
        self.params = {p.untyped_storage().data_ptr(): n.split(".")[-1]
                       for n, p in module.named_parameters()}

    # -- the graph --------------------------------------------------------------------------
    def produced(self, out, index: int) -> None:
        for t in _tensors(out):
            self.producer[id(t)] = index
            self.keep.append(t)

    def add(self, step: Step, inputs) -> int | None:
        seen = []
        for t in _tensors(inputs):
            p = self.producer.get(id(t))
            if p is not None and p not in seen:
                seen.append(p)
                step.parents.append(p)
                step.in_shapes.append(tuple(t.shape))
        if not step.parents:
            return None
        self.steps.append(step)
        return len(self.steps) - 1

    # -- torch operations between the hooked steps --------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth != 0 or not isinstance(out, torch.Tensor):
            return out
        name = getattr(func, "__name__", "")
        tracked = [t for t in _tensors((args, kwargs)) if id(t) in self.producer]
        if not tracked:
            return out
        if name in _OPS:
            label = _OPS[name]
            if label in ("×", "+", "−", "÷"):
                other = [a for a in args if not (isinstance(a, torch.Tensor) and id(a) in self.producer)]
                if other and isinstance(other[0], (int, float)):
                    label = f"{label} {other[0]:g}"
                elif other and isinstance(other[0], torch.Tensor):
                    label = f"{label} {self.params.get(other[0].untyped_storage().data_ptr(), 'tensor')}"
            elif name in ("mean", "sum"):
                dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
                label = f"{label}(dim={dim})" if dim is not None else label
            index = self.add(Step(label, "", "other", "op", short=label), (args, kwargs))
            if index is not None:
                self.steps[index].out_shape = _shape(out)
                self.produced(out, index)
        else:                                               # a view, an index, a cast: pass on
            self.producer[id(out)] = self.producer[id(tracked[0])]
            self.keep.append(out)
        return out


def _wrap(fn, rec: _Recorder, role: str):
    def wrapper(*args, **kwargs):
        index = None
        if rec.depth == 0:
            index = rec.add(Step(fn.__name__, f"chattn.{role_module[role]}", role, "function", typed=True,
                                 short=fn.__name__),
                            (args, kwargs))
        rec.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            rec.depth -= 1
        if index is not None:
            rec.steps[index].out_shape = _shape(out)
            rec.produced(out, index)
        return out
    wrapper.__wrapped__ = fn
    return wrapper


role_module = {"squeeze": "squeeze", "excitation": "excite"}


def _module_step(name: str, mod: nn.Module) -> Step:
    kind_role = ("squeeze" if isinstance(mod, _SQUEEZE_TYPES)
                 else "excitation" if isinstance(mod, _EXCITE_TYPES) else "other")
    leaves = [type(c).__name__ for c in mod.modules() if c is not mod and not list(c.children())]
    detail = " · ".join(leaves) if 0 < len(leaves) <= 4 else ""
    if kind_role != "other" and not detail:
        detail = f"chattn.{role_module[kind_role]}.{type(mod).__name__}"
    container = name.rsplit(".", 1)[0] if "." in name else ""
    return Step(f"{name}: {type(mod).__name__}", detail, kind_role, "module", container=container,
                has_params=any(True for _ in mod.parameters()), typed=kind_role != "other",
                short=type(mod).__name__, names=[name])


def _hook_modules(module: nn.Module, rec: _Recorder) -> list:
    handles = []
    for name, mod in module.named_modules():
        if mod is module or type(mod) in (nn.Sequential, nn.ModuleList, nn.ModuleDict, Gate):
            continue                    # containers are looked into; the gate passes s on
        stack: list = []

        def pre(m, args, kwargs, name=name, stack=stack):
            index = rec.add(_module_step(name, m), (args, kwargs)) if rec.depth == 0 else None
            stack.append(index)
            rec.depth += 1

        def post(m, args, kwargs, out, stack=stack):
            rec.depth -= 1
            index = stack.pop()
            if index is not None:
                rec.steps[index].out_shape = _shape(out)
                rec.produced(out, index)

        handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(mod.register_forward_hook(post, with_kwargs=True))
    return handles


def _patch_functions(module: nn.Module, rec: _Recorder) -> list:
    """Wrap the squeeze/excite functions the module's source file and attributes refer to."""
    undo = []
    targets = [vars(sys.modules[type(module).__module__])]
    targets.append(module.__dict__)                 # e.g. Compose keeps its squeeze as an attribute
    for space in targets:
        for key, value in list(space.items()):
            role = ("squeeze" if value in _SQUEEZE_FUNCS else
                    "excitation" if value in _EXCITE_FUNCS else None) if callable(value) else None
            if role is not None:
                space[key] = _wrap(value, rec, role)
                undo.append((space, key, value))
    return undo


def _merge(steps: list[Step]) -> list[Step]:
    """Merge chains of plain steps (one reads only the other, same container) into one box."""
    children: dict[int, list[int]] = {}
    for i, s in enumerate(steps):
        for p in s.parents:
            children.setdefault(p, []).append(i)
    new_index: dict[int, int] = {INPUT: INPUT, STATE: STATE}
    out: list[Step] = []
    for i, s in enumerate(steps):
        prev = i - 1
        real_parents = [p for p in s.parents if p != INPUT or s.role != "scale"]
        if (prev >= 0 and not s.typed and not steps[prev].typed and real_parents == [prev]
                and children.get(prev) == [i] and s.container == steps[prev].container
                and s.role == steps[prev].role and s.role != "scale" or
                prev >= 0 and s.role == "scale" and steps[prev].role == "scale" and prev in s.parents):
            m = out[new_index[prev]]
            if m.kind != "merged":
                m.label, m.detail = m.short, ""
            m.label = f"{m.label} · {s.short}"
            m.names = m.names + s.names
            m.detail = ", ".join(m.names)
            m.out_shape = s.out_shape
            m.has_params = m.has_params or s.has_params
            m.kind = "merged"
            new_index[i] = new_index[prev]
            continue
        s.parents = [new_index[p] for p in s.parents]
        new_index[i] = len(out)
        out.append(s)
    for s in out:                                       # a merged box reads each input once
        pairs = [(p, sh) for p, sh in zip(s.parents, s.in_shapes) if p != out.index(s)]
        seen, s.parents, s.in_shapes = set(), [], []
        for p, sh in pairs:
            if p not in seen:
                seen.add(p)
                s.parents.append(p)
                s.in_shapes.append(sh)
    return out


def _assign_roles(steps: list[Step]) -> None:
    squeezes = [i for i, s in enumerate(steps) if s.typed and s.role == "squeeze"]
    if not squeezes:
        return
    first = squeezes[0]
    sq_containers = {steps[i].container for i in squeezes if steps[i].container}
    exciting = False
    scaling = False
    for i, s in enumerate(steps):
        if i < first:
            s.role = "squeeze"
            continue
        if i > first and INPUT in s.parents:
            scaling = True
        if scaling:
            s.role = "scale"
            continue
        if s.typed:
            exciting = exciting or s.role == "excitation"
            continue
        if s.container and s.container in sq_containers:
            s.role = "squeeze"
        elif exciting or s.has_params:
            s.role = "excitation"
            exciting = True
        else:
            s.role = "squeeze"


def trace(module: nn.Module, x: torch.Tensor, state=None) -> list[Step]:
    """The steps of ``module(x)`` from ``X`` to ``Y``, in call order, each with its role and the
    shapes of what it reads and returns.

    The module runs once in eval mode without gradients (its training mode is restored, BatchNorm
    statistics are not updated). See the module docstring for how steps are found and given a role.

    Args:
        module: a channel-attention module (any ``nn.Module`` whose forward takes ``(B, C, H, W)``).
        x: a real input, ``(B, C, H, W)``.
        state: passed on as ``module(x, state)`` when given (DIA's ``(h, c)``, each ``(B, C)``):
            a step that reads it has the parent ``-2``.

    Returns:
        A list of :class:`Step`; ``parents`` index into it, ``-1`` is ``X``, ``-2`` the state.

    Example::

        >>> steps = trace(chattn.create("eca", 64), torch.randn(2, 64, 8, 8))
        >>> [(s.label, s.out_shape) for s in steps]
        [('global_avg_pool', (2, 64)), ('conv: ChannelConv1d', (2, 64)), ('×', (2, 64, 8, 8))]
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    rec = _Recorder(module)
    rec.producer[id(x)] = INPUT
    for t in _tensors(state):
        rec.producer[id(t)] = STATE
    handles = _hook_modules(module, rec)
    undo = _patch_functions(module, rec)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), rec:
            out = module(x) if state is None else module(x, state)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
        for space, key, value in undo:
            space[key] = value
    steps = rec.steps
    # The output: y (the first tensor of a tuple such as DIA's (y, state)).
    y = next(_tensors(out), None)
    if y is None or not steps:
        raise ValueError(f"{type(module).__name__} returned no tensor derived from x; nothing to draw")
    _assign_roles(steps)
    return _merge(steps)


def _fmt(shape) -> str:
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], tuple):
        return "(" + ", ".join(_fmt(s) for s in shape) + ")"
    return "×".join(str(n) for n in shape)


_ORIGIN_X = {INPUT: 0.5, STATE: 0.85}       # where X and the incoming state are drawn


def _layout(steps: list[Step]) -> tuple[list[int], list[float]]:
    rows = []
    for s in steps:
        rows.append(1 + max((0 if p < 0 else rows[p]) for p in s.parents))
    xs = [0.5] * len(steps)
    for row in sorted(set(rows)):
        members = [i for i, r in enumerate(rows) if r == row]
        want = {i: sum(_ORIGIN_X.get(p, 0) if p < 0 else xs[p] for p in steps[i].parents) / len(steps[i].parents)
                for i in members}
        members.sort(key=lambda i: want[i])
        if len(members) == 1:
            xs[members[0]] = want[members[0]]
        else:
            for k, i in enumerate(members):
                xs[i] = 0.3 + 0.42 * k / (len(members) - 1)
    return rows, xs


def diagram(module: nn.Module, x: torch.Tensor | None = None, title: str | None = None):
    """Draw ``module`` as squeeze → excitation → scale boxes, the tensor shape on every arrow.

    The boxes are the :func:`trace` of a real forward pass; colours give the role (blue squeeze,
    orange excitation, green scale), the arrow from ``X`` on the left is the input that the scale
    multiplies. A recurrent module (a forward with a ``state``, DIA) is traced on a state from a
    seeded generator: the ``(h, c)`` coming in from the previous block is drawn at the top right,
    the ``(h, c)`` going out to the next block at the bottom right.

    Args:
        module: a channel-attention module, e.g. ``chattn.create("se", 64)``, or a registered
            name (``"se"``): then ``chattn.create(name, 64)``, built without touching the global
            random number generator (a chapter's later random numbers do not change).
        x: the input ``(B, C, H, W)``; default ``torch.randn(2, C, 8, 8)`` from its own seeded
            generator, with ``C = module.channels``.
        title: the figure title (default: the class name and the input shape).

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` (checked: no nan/inf in its text).

    Example::

        >>> fig = diagram(chattn.create("se", 64))
        >>> state = torch.random.get_rng_state()
        >>> fig = diagram("gct")                    # by name: the global generator is not used
        >>> torch.equal(state, torch.random.get_rng_state())
        True
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if isinstance(module, str):
        from .registry import create

        with torch.random.fork_rng():           # the caller's random numbers stay as they were
            module = create(module, 64)
    if x is None:
        channels = getattr(module, "channels", None)
        if not isinstance(channels, int):
            raise ValueError("x is required when module has no int attribute 'channels'")
        x = torch.randn(2, channels, 8, 8, generator=torch.Generator().manual_seed(0))
    state = None
    if "state" in inspect.signature(module.forward).parameters:       # recurrent: DIA's (h, c)
        g = torch.Generator().manual_seed(1)
        state = (torch.rand(x.shape[:2], generator=g, dtype=x.dtype), torch.randn(x.shape[:2], generator=g, dtype=x.dtype))
    steps = trace(module, x, state)
    rows, xs = _layout(steps)
    n_rows = max(rows) + 2
    fig = plt.figure(figsize=(5.4, 0.95 * n_rows + 0.7))
    ax = fig.add_axes((0, 0, 1, 0.93 if title != "" else 1.0))
    ax.set_xlim(0, 1)
    ax.set_ylim(-(n_rows - 0.5), 0.55)
    ax.axis("off")
    box = dict(boxstyle="round,pad=0.45", lw=0.8, ec="#555555")

    def node(xc, yc, text, color, size=8.5):
        return ax.text(xc, yc, text, ha="center", va="center", fontsize=size, color="black",
                       bbox=dict(box, fc=color), zorder=3, linespacing=1.3)

    x_box = node(0.5, 0, f"X   {_fmt(tuple(x.shape))}", ROLE_COLORS["other"], 9)
    state_box = None
    if state is not None:
        state_box = node(_ORIGIN_X[STATE], 0, "(h, c) from the\nprevious block", ROLE_COLORS["other"], 8.5)
    boxes = []
    for s, r, xc in zip(steps, rows, xs):
        text = s.label if not s.detail else f"{s.label}\n{s.detail}"
        if s.role == "scale" and s.label == "×":
            text = "×\nY = s · X"
        if s.out_shape and isinstance(s.out_shape[0], tuple) and STATE in s.parents:
            text += "\nreturns (h, c): h scales X, both go on"
        elif s.out_shape and isinstance(s.out_shape[0], tuple):
            text += f"\nreturns {len(s.out_shape)} tensors {_fmt(s.out_shape)}; the first goes on"
        boxes.append(node(xc, -r, text, ROLE_COLORS.get(s.role, ROLE_COLORS["other"])))
    last = len(steps) - 1
    y_box = node(0.5, -(max(rows) + 1), f"Y   {_fmt(steps[last].out_shape if isinstance(steps[last].out_shape, tuple) and steps[last].out_shape and isinstance(steps[last].out_shape[0], int) else tuple(x.shape))}",
                 ROLE_COLORS["other"], 9)
    arrow = dict(arrowstyle="-|>", color="#333333", lw=0.9, shrinkA=2, shrinkB=2)
    label_box = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9)
    fig.canvas.draw()
    inv = ax.transData.inverted()

    def extent(artist):
        bb = artist.get_bbox_patch().get_window_extent()
        (x0, y0), (x1, y1) = inv.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
        return x0, y0, x1, y1

    def connect(src, dst, shape_text, xc_src, xc_dst, r_src, r_dst):
        ax.annotate("", xy=(0.5, 1), xycoords=dst, xytext=(0.5, 0), textcoords=src, arrowprops=arrow,
                    zorder=2)
        if shape_text:
            ax.text((xc_src + xc_dst) / 2 + 0.015, -(r_src + r_dst) / 2, shape_text, fontsize=7.5,
                    ha="left", va="center", color="#1f3b73", bbox=label_box, zorder=4)

    for i, s in enumerate(steps):
        for p, shp in zip(s.parents, s.in_shapes):
            if p == INPUT and s.role == "scale" and i != 0:
                continue                                    # drawn as the skip arrow below
            src = {INPUT: x_box, STATE: state_box}.get(p) or boxes[p]
            shp = _shape(state) if p == STATE else shp
            connect(src, boxes[i], _fmt(shp), _ORIGIN_X.get(p, 0) if p < 0 else xs[p], xs[i],
                    0 if p < 0 else rows[p], rows[i])
    connect(boxes[last], y_box, _fmt(steps[last].out_shape), xs[last], 0.5, rows[last], max(rows) + 1)
    if state_box is not None:                               # the new state goes on to the next block
        i = next(i for i, s in enumerate(steps) if any(p == STATE for p in s.parents))
        out_box = node(_ORIGIN_X[STATE], -(max(rows) + 1), "(h, c) to the\nnext block", ROLE_COLORS["other"], 8.5)
        connect(boxes[i], out_box, _fmt(steps[i].out_shape), xs[i], _ORIGIN_X[STATE], rows[i], max(rows) + 1)
    scale = [i for i, s in enumerate(steps) if s.role == "scale" and INPUT in s.parents]
    if scale:
        i = scale[0]
        x0, _, _, _ = extent(x_box)
        bx0, by0, _, by1 = extent(boxes[i])
        margin = min(0.04, x0 - 0.02)
        ax.plot([x0, margin, margin], [0, 0, -rows[i]], color="#2e7d32", lw=0.9, zorder=1)
        ax.annotate("", xy=(bx0, -rows[i]), xytext=(margin, -rows[i]),
                    arrowprops=dict(arrow, color="#2e7d32"), zorder=2)
        ax.text(margin + 0.01, -rows[i] / 2, f"X  {_fmt(tuple(x.shape))}", fontsize=7.5, rotation=90,
                ha="left", va="center", color="#2e7d32", bbox=label_box, zorder=4)
    handles = [Patch(fc=ROLE_COLORS[k], ec="#555555", label=k) for k in ("squeeze", "excitation", "scale")]
    ax.legend(handles=handles, loc="upper right" if state is None else "lower left", fontsize=8, frameon=False)
    if title != "":
        fig.suptitle(title or f"{type(module).__name__}, traced on X of shape {_fmt(tuple(x.shape))}",
                     fontsize=10, y=0.995)
    check_figure_text(fig)
    return fig


def frame_diagram(channels: int = 64, reduction: int = 16):
    r"""The frame every module shares, drawn like the modules: :class:`chattn.Compose` of
    :func:`chattn.squeeze.global_avg_pool` and :class:`chattn.excite.MLP` (i.e. SE),
    :math:`s = F(X;\theta)`, :math:`Y = s\cdot X`. Returns a Figure.

    Args:
        channels: C.
        reduction: r of the MLP.
    """
    from .base import Compose

    with torch.random.fork_rng():
        module = Compose(channels, _squeeze.global_avg_pool, _excite.MLP(channels, reduction))
    return diagram(module, title=f"The frame: Compose(squeeze, excite), C = {channels}, r = {reduction}")


def show() -> None:
    """``plt.show()`` after :func:`chattn.interactive.check_figure_text` on every open figure: a
    figure whose title, labels or ticks show ``nan``/``inf`` raises ``ValueError`` (and is closed)
    instead of being shown. The chapters call it wherever they would call ``plt.show()``."""
    import matplotlib.pyplot as plt

    try:
        for num in plt.get_fignums():
            check_figure_text(plt.figure(num))
    except ValueError:
        plt.close("all")
        raise
    plt.show()


# --- helpers the chapters share ------------------------------------------------------------------

def n_params(module: nn.Module) -> int:
    """Learnable parameters of ``module`` (buffers such as BN statistics or FcaNet's DCT basis are
    not counted; a module shared by several blocks counts once).

    Example::

        >>> n_params(chattn.create("se", 256))
        8192
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters())


def block_label(stage: int, index: int) -> str:
    """How the book names a block: stages and blocks both from 1 (``index`` is the 0-based
    ``block.index`` of :func:`chattn.models.small.small_resnet`'s blocks). ``block_label(2, 0) == 'stage 2, block 1'``."""
    return f"stage {stage}, block {index + 1}"


class AttentionCall(NamedTuple):
    """One call of a channel-attention module inside a network: ``name`` (its dotted path, the
    first one for a shared module), the ``module``, its ``input`` ``(N, C, H, W)`` and ``output``."""
    name: str
    module: nn.Module
    input: torch.Tensor
    output: Any


def attention_calls(model: nn.Module, x: torch.Tensor) -> tuple[list[AttentionCall], torch.Tensor]:
    """Run ``model(x)`` without gradients; return every call of a :class:`chattn.ChannelAttention`
    sub-module, in call order, and the model's output.

    Modules are found by type, not by attribute path: a module shared by the blocks of a stage
    (DIANet) appears once per call, GCT's gates once per convolution they precede.

    Shape: ``x (N, 3, S, S)`` -> calls with ``input (N, C, H, W)``; output ``(N, classes)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    calls: list[AttentionCall] = []
    names: dict[int, str] = {}
    for name, m in model.named_modules():
        if isinstance(m, ChannelAttention) and id(m) not in names:
            names[id(m)] = name
    hooks = [m.register_forward_hook(lambda mod, args, out: calls.append(
                 AttentionCall(names[id(mod)], mod, args[0], out)))
             for name, m in model.named_modules() if isinstance(m, ChannelAttention) and names[id(m)] == name]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return calls, out


def attention_inputs(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The input of every attention call of ``model(x)``, in call order, and the model's output:
    ``(inputs, logits)``. See :func:`attention_calls`.

    Example::

        >>> from chattn.models import small_resnet
        >>> inputs, logits = attention_inputs(small_resnet("se").eval(), torch.randn(2, 3, 32, 32))
        >>> [tuple(u.shape[1:]) for u in inputs][::2]
        [(32, 32, 32), (64, 16, 16), (128, 8, 8)]
    """
    calls, out = attention_calls(model, x)
    return [c.input for c in calls], out


def _labels(labels, n: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.dtype.is_floating_point:
        raise TypeError("labels must be a 1-D integer tensor of class indices")
    if labels.shape[0] != n:
        raise ValueError(f"labels has {labels.shape[0]} entries for {n} samples")
    return labels


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """The mean over the samples of each class: ``values (N, ...)``, ``labels (N,)`` ->
    ``(num_classes, ...)`` (default ``labels.max() + 1``); a class without samples raises.

    Example::

        >>> class_means(torch.tensor([[1.], [3.], [5.]]), torch.tensor([0, 0, 1]))
        tensor([[2.],
                [5.]])
    """
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"values must be a tensor (N, ...), got {type(values).__name__}")
    labels = _labels(labels, values.shape[0])
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    missing = [c for c in range(k) if not bool((labels == c).any())]
    if missing:
        raise ValueError(f"labels has no sample of classes {missing} (num_classes={k})")
    return torch.stack([values[labels == c].mean(0) for c in range(k)])


def class_specificity(values: torch.Tensor, labels: torch.Tensor) -> float:
    r"""η², the share of the variance of ``values (N, C)`` that the class explains:
    :math:`\sum_k n_k \lVert\mu_k-\mu\rVert^2 / \sum_i \lVert v_i-\mu\rVert^2` (0 for constant
    values). The same function as :func:`chattn.pretrained.class_specificity`."""
    from .pretrained import class_specificity as eta2

    _labels(labels, values.shape[0])
    return eta2(values, labels)


def nearest_mean_accuracy(f_train: torch.Tensor, y_train: torch.Tensor, f_test: torch.Tensor,
                          y_test: torch.Tensor) -> float:
    """Accuracy of the nearest class mean on standardised features: each feature is centred and
    scaled by the training set's mean and standard deviation, a test sample gets the class whose
    training mean is nearest (Euclidean).

    Shape: ``f_train (N, F)``, ``f_test (M, F)``, labels ``(N,)``, ``(M,)`` -> a float in [0, 1].
    """
    for name, f in (("f_train", f_train), ("f_test", f_test)):
        if not isinstance(f, torch.Tensor) or f.dim() != 2:
            raise ValueError(f"{name} must be a (samples, features) tensor")
    if f_train.shape[1] != f_test.shape[1]:
        raise ValueError(f"f_train has {f_train.shape[1]} features, f_test {f_test.shape[1]}")
    _labels(y_test, f_test.shape[0])
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    centres = class_means((f_train - mu) / sd, y_train)
    return ((torch.cdist((f_test - mu) / sd, centres).argmin(1) == y_test).float().mean().item())


def test_crop(name: str, size: int = 128, centre: bool = False) -> torch.Tensor:
    """A ``size`` x ``size`` crop of the test region of photograph ``name`` (values in [0, 1]):
    the middle rows, starting at the region's first column, or its middle with ``centre=True``.

    Shape: ``(3, size, size)``.
    """
    from .data import PHOTOS, load_photo, split_columns

    if name not in PHOTOS:
        raise ValueError(f"name must be one of {list(PHOTOS)}, got {name!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    img = load_photo(name)
    start, stop = split_columns(name, "test")
    if size > img.shape[1] or size > stop - start:
        raise ValueError(f"size={size} is larger than the test region of {name!r}")
    top = (img.shape[1] - size) // 2
    left = (start + stop - size) // 2 if centre else start
    return img[:, top:top + size, left:left + size]


def descriptors(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feature map a second-order or encoding squeeze works on, from the module's own layers:
    EncNet's :math:`U = \\delta(\\mathrm{BN}(W_0 X))` (what the Encoding layer sees, ``(B, C, H, W)``),
    GSoP's :math:`Z = \\delta(\\mathrm{BN}(W_{DR}\\,\\delta(X)))` (``(B, d, H', W')``, whose
    covariance is Σ). Without gradients."""
    from torch.nn import functional as F
    from .modules import EncModule, GSoP

    with torch.no_grad():
        if isinstance(module, EncModule):
            module.check(x)
            return module.encoding[2](module.encoding[1](module.encoding[0](x)))
        if isinstance(module, GSoP):
            module.check(x)
            return F.relu(module.bn_for_DR(module.conv_for_DR(F.relu(x))))
    raise TypeError(f"descriptors takes an EncModule or a GSoP module, got {type(module).__name__}")


def _sweep(attn, points) -> tuple:
    """The swept option of ``attn`` and its sweep points (``points``, or read from the weights)."""
    from . import pretrained

    if not isinstance(attn, str):
        raise TypeError(f"attn must be a str, one of {sorted(pretrained.SWEEPS)}, got {type(attn).__name__}")
    if attn.lower() not in pretrained.SWEEPS:
        raise ValueError(f"attn must be one of the swept modules {sorted(pretrained.SWEEPS)}, got {attn!r}")
    points = pretrained.sweep(attn) if points is None else list(points)
    if not points:
        raise ValueError(f"no sweep points for {attn!r}: nothing is shipped in chattn/weights/sweep/")
    return pretrained.SWEEPS[attn.lower()][0], points


def sweep_plot(ax, attn: str, value, points=None) -> None:
    r"""Draw ``attn``'s sweep (:func:`chattn.pretrained.sweep`) on the matplotlib axes ``ax``: test
    accuracy per value of the swept option, every seed as a dot, the mean ± std (sample std over
    seeds) as a bar, ``value`` ringed, and the plain ResNet's mean ± std as a band. The x labels
    give each value's parameters (exact: ECA's values differ by a few) and MFLOPs (one 32x32
    patch, three decimals: the excitation's share of the FLOPs is small), so one slider frame
    shows accuracy and cost together; the option's name is the axis label, so the tick labels
    stay short. A value trained with one seed only has no bar and its title says "1 seed".

    Args:
        ax: matplotlib axes.
        attn: a module of :data:`chattn.pretrained.SWEEPS`.
        value: the value to ring (one of the sweep's).
        points: :func:`~chattn.pretrained.sweep`'s output, if already computed.

    Example::

        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> sweep_plot(ax, "se", 8)
        >>> len(ax.containers), ax.get_xticklabels()[2].get_text().splitlines()[0], ax.get_xlabel()
        (5, '8', 'reduction (parameters, MFLOPs per patch)')
    """
    from . import pretrained

    key, points = _sweep(attn, points)
    values = [p.value for p in points]
    if value not in values:
        raise ValueError(f"value must be one of the trained values {values} of {attn}'s {key}, got {value!r}")
    plain = [r["test_accuracy"] for r in pretrained.records() if r["attn"] == "none"]
    if plain:
        import statistics
        m = 100 * statistics.fmean(plain)
        s = 100 * statistics.stdev(plain) if len(plain) > 1 else 0.0
        ax.axhspan(m - s, m + s, color="0.85", zorder=0)
        ax.axhline(m, color="0.5", lw=1, ls="--", zorder=1)
        ax.text(len(points) - 0.5, m, " plain\n ResNet", va="center", ha="left", fontsize=8, color="0.4")
    for i, p in enumerate(points):
        ax.scatter([i] * len(p.accuracies), [100 * a for a in p.accuracies], s=14, color="0.55", zorder=2)
        ax.errorbar(i, 100 * p.mean, yerr=100 * p.std if len(p.accuracies) > 1 else None, fmt="o", color="C0",
                    capsize=4, ms=6, zorder=3)
    i = values.index(value)
    ax.scatter([i], [100 * points[i].mean], s=260, facecolors="none", edgecolors="C3", lw=2, zorder=4)
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels([f"{p.value}\n{p.params:,d} p.\n{p.flops / 1e6:.3f}" for p in points], fontsize=7)
    ax.set_xlim(-0.5, len(points) - 0.5)
    ax.set_xlabel(f"{key} (parameters, MFLOPs per patch)", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    p = points[i]
    n = len(p.accuracies)
    spread = f" ± {100 * p.std:.1f}% over {n} seeds" if n > 1 else "% (1 seed)"
    ax.set_title(f"{key} = {value}: {100 * p.mean:.1f}{spread}", fontsize=10)


def sweep_table(attn: str, points=None) -> str:
    """``attn``'s sweep as a text table: value, seeds, test accuracy mean ± std (in %), parameters,
    MFLOPs (one 32x32 patch, three decimals, as :func:`sweep_plot`); ``points`` as in
    :func:`sweep_plot`.

    Example::

        >>> print(sweep_table("eca").splitlines()[0])
            k_size  seeds  test acc (%)    params    MFLOPs
    """
    key, points = _sweep(attn, points)
    lines = [f"{key:>10s}  seeds  test acc (%)    params    MFLOPs"]
    for p in points:
        lines.append(f"{p.value!s:>10s}  {len(p.accuracies):5d}  {100 * p.mean:5.1f} ± {100 * p.std:4.1f}  "
                     f"{p.params:8,d}  {p.flops / 1e6:8.3f}")
    return "\n".join(lines)
