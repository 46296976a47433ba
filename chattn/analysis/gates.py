r"""What the gates of a trained network do: per block, the gate :math:`s` of every sample, its
class means and how much of its variance the class explains (the SE paper's "excitation by
depth", Hu et al., Fig. 6), plus the small measurements the chapters share.

Gates are read through one mechanism, ``chattn.base.record_gates`` (a forward hook on the
``gate`` submodule of every attention module, whose output is the ``s`` the module scales by).

Example::

    >>> from chattn import pretrained
    >>> from chattn.data import make_dataset
    >>> x, y = make_dataset("test", per_class=10)
    >>> stats = gate_statistics(pretrained.load("se"), x, y)
    >>> [block_label(b.stage, b.index) for b in stats.blocks][:2]
    ['stage 1, block 1', 'stage 1, block 2']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ..base import ChannelAttention, record_gates

__all__ = ["n_params", "block_label", "AttentionCall", "attention_calls", "attention_inputs", "class_means",
           "class_specificity", "nearest_mean_accuracy", "descriptors", "BlockGates", "GateStatistics",
           "gate_statistics"]


def n_params(module: nn.Module) -> int:
    """Learnable parameters of ``module`` (buffers such as BN statistics or FcaNet's DCT basis are
    not counted; a module shared by several blocks counts once).

    Args:
        module: any ``nn.Module``.

    Example::

        >>> import chattn
        >>> n_params(chattn.create("se", 256))
        8192
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters())


def block_label(stage: int, index: int) -> str:
    """How the book names a block: stages and blocks both from 1.

    Args:
        stage: the stage, from 1 (``BlockRef.stage`` of :meth:`chattn.models.small.SmallResNet.blocks`).
        index: the block's 0-based ``block.index`` within its stage.

    Example::

        >>> block_label(2, 0)
        'stage 2, block 1'
    """
    return f"stage {stage}, block {index + 1}"


# --- what each attention module receives ---------------------------------------------------------

class AttentionCall(NamedTuple):
    """One call of a channel-attention module inside a network."""
    #: Its dotted path in the network (the first one for a shared module).
    name: str
    #: The attention module.
    module: nn.Module
    #: Its input ``(N, C, H, W)``.
    input: torch.Tensor
    #: What it returned (for DIA, the gated map and its state).
    output: Any


def attention_calls(model: nn.Module, x: torch.Tensor) -> tuple[list[AttentionCall], torch.Tensor]:
    """Run ``model(x)`` without gradients; return every call of a :class:`~chattn.base.ChannelAttention`
    sub-module, in call order, and the model's output.

    Modules are found by type, not by attribute path: a module shared by the blocks of a stage
    (DIANet) appears once per call, GCT's gates once per convolution they precede.

    Args:
        model: any ``nn.Module`` holding attention modules.
        x: its input, e.g. ``(N, 3, S, S)`` patches.

    Shape: ``x (N, 3, S, S)`` -> calls with ``input (N, C, H, W)``; output ``(N, classes)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    calls: list[AttentionCall] = []
    hooks = [m.register_forward_hook(lambda mod, args, out, name=name: calls.append(
                 AttentionCall(name, mod, args[0], out)))
             for name, m in _attention_modules(model)]
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

    Args:
        model: any ``nn.Module`` holding attention modules.
        x: its input.

    Example::

        >>> from chattn.models import small_resnet
        >>> inputs, logits = attention_inputs(small_resnet("se").eval(), torch.randn(2, 3, 32, 32))
        >>> [tuple(u.shape[1:]) for u in inputs][::2]
        [(32, 32, 32), (64, 16, 16), (128, 8, 8)]
    """
    calls, out = attention_calls(model, x)
    return [c.input for c in calls], out


def _attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every :class:`ChannelAttention` of ``model`` once, under its first dotted name."""
    seen, out = set(), []
    for name, m in model.named_modules():
        if isinstance(m, ChannelAttention) and id(m) not in seen:
            seen.add(id(m))
            out.append((name, m))
    return out


# --- class structure of features and gates -------------------------------------------------------

def _labels(labels, n: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.dtype.is_floating_point:
        raise TypeError("labels must be a 1-D integer tensor of class indices")
    if labels.shape[0] != n:
        raise ValueError(f"labels has {labels.shape[0]} entries for {n} samples")
    return labels


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """The mean over the samples of each class; a class without samples raises.

    Args:
        values: ``(N, ...)``, one entry per sample.
        labels: ``(N,)`` class indices.
        num_classes: K (default ``labels.max() + 1``).

    Shape: ``(N, ...)`` -> ``(K, ...)``.

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
    r"""Fraction of the variance of ``values`` explained by the class (:math:`\eta^2`, in [0, 1]):

    .. math::
        \eta^2 = \frac{\sum_k n_k \lVert \mu_k - \mu \rVert^2}{\sum_i \lVert v_i - \mu \rVert^2}

    with :math:`\mu_k` the mean vector of class k, :math:`n_k` its count and :math:`\mu` the overall
    mean. 0: the values ignore the class; 1: they are a function of the class alone. 0 for
    constant values. Computed in float64.

    Args:
        values: ``(N, C)``, e.g. the gates of N samples.
        labels: ``(N,)`` class indices.

    Example::

        >>> class_specificity(torch.eye(3)[[0, 0, 1, 1, 2]], torch.tensor([0, 0, 1, 1, 2]))
        1.0
    """
    if not isinstance(values, torch.Tensor) or values.dim() != 2:
        raise ValueError(f"values must be a (N, C) tensor, got {getattr(values, 'shape', type(values).__name__)}")
    labels = _labels(labels, values.shape[0])
    v = values.double()
    mu = v.mean(0)                                                         # (C,)
    total = (v - mu).pow(2).sum()
    if total == 0:
        return 0.0
    between = sum((labels == k).sum() * (v[labels == k].mean(0) - mu).pow(2).sum() for k in labels.unique())
    return float(between / total)


def nearest_mean_accuracy(f_train: torch.Tensor, y_train: torch.Tensor, f_test: torch.Tensor,
                          y_test: torch.Tensor) -> float:
    """Accuracy of the nearest class mean on standardised features: each feature is centred and
    scaled by the training set's mean and standard deviation, a test sample gets the class whose
    training mean is nearest (Euclidean).

    Args:
        f_train: ``(N, F)`` training features.
        y_train: ``(N,)`` their classes.
        f_test: ``(M, F)`` test features.
        y_test: ``(M,)`` their classes.

    Returns: a float in [0, 1].
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


def descriptors(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    r"""The feature map a second-order or encoding squeeze works on, from the module's own layers:
    EncNet's :math:`U = \delta(\mathrm{BN}(W_0 X))` (what the Encoding layer sees, ``(B, C, H, W)``),
    GSoP's :math:`Z = \delta(\mathrm{BN}(W_{DR}\,\delta(X)))` (``(B, d, H', W')``, whose
    covariance is Σ). Without gradients.

    Args:
        module: an :class:`~chattn.modules.enc.EncModule` or a :class:`~chattn.modules.gsop.GSoP`.
        x: its input ``(B, C, H, W)``.
    """
    from torch.nn import functional as F
    from ..modules import EncModule, GSoP

    with torch.no_grad():
        if isinstance(module, EncModule):
            module.check(x)
            return module.encoding[2](module.encoding[1](module.encoding[0](x)))
        if isinstance(module, GSoP):
            module.check(x)
            return F.relu(module.bn_for_DR(module.conv_for_DR(F.relu(x))))
    raise TypeError(f"descriptors takes an EncModule or a GSoP module, got {type(module).__name__}")


# --- the gates of a trained network, block by block ----------------------------------------------

@dataclass
class BlockGates:
    """Gates of one block; ``label`` names the block as the book does (:func:`block_label`)."""
    #: The stage, from 1.
    stage: int
    #: The block's 0-based index in its stage.
    index: int
    #: The mean gate of each channel over the samples of each class, ``(K, C)`` (NaN rows for
    #: classes without a sample).
    class_means: torch.Tensor
    #: Samples per class, ``(K,)``.
    counts: torch.Tensor
    #: :math:`\eta^2` of the gates (:func:`class_specificity`).
    specificity: float

    @property
    def label(self) -> str:
        return block_label(self.stage, self.index)


@dataclass
class GateStatistics:
    """The gates of a network, block by block (:func:`gate_statistics`)."""
    #: One :class:`BlockGates` per block, in forward order.
    blocks: list[BlockGates]
    #: stage -> the mean specificity of its blocks.
    stages: dict[int, float]


@torch.no_grad()
def gate_statistics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 400) -> GateStatistics:
    r"""Per block, the gate :math:`s` of every sample of ``x`` (averaged over space where it varies
    over space, as bilinear attention's), summarised per class.

    The gates are read by ``chattn.base.record_gates`` during the network's own forward pass,
    so each is the ``s`` the block really scaled by: for DIA the one computed with the LSTM state
    the block received. For GCT, which gates the input of every convolution (``block.attn`` is a
    ``ModuleDict``), a block's gate is the one before ``conv1``: the gate of the block's input,
    ``(N, C_in)``. The model runs in eval mode (its mode is restored afterwards).

    Args:
        model: a :class:`~chattn.models.small.SmallResNet` with an attention module.
        x: ``(N, 3, S, S)`` normalised patches.
        y: ``(N,)`` class indices in ``[0, num_classes)``.
        batch_size: samples per forward pass.

    Returns: :class:`GateStatistics`.
    """
    from ..models.small import SmallResNet

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
    # the module whose gate stands for each block (GCT: the gate before conv1)
    gated = [attn["conv1"] if isinstance(attn, nn.ModuleDict) else attn for _, _, attn in refs]
    gates: list[list[torch.Tensor]] = [[] for _ in refs]
    was_training = model.training
    model.eval()
    try:
        for j in range(0, len(x), batch_size):
            with record_gates(model) as calls:
                model(x[j:j + batch_size])
            # a shared module (DIA's, one per stage) is called once per block, in block order
            queue: dict[int, list[torch.Tensor]] = {}
            for call in calls:
                queue.setdefault(id(call.module), []).append(call.s)
            for i, module in enumerate(gated):
                gates[i].append(queue[id(module)].pop(0).mean((2, 3)))        # (B, C)
    finally:
        model.train(was_training)

    k = model.num_classes
    counts = torch.bincount(y, minlength=k)
    blocks = []
    for (stage, block, _), gs in zip(refs, gates):
        g = torch.cat(gs)                                                    # (N, C)
        means = torch.full((k, g.shape[1]), float("nan"))
        present = counts.nonzero()[:, 0]
        if len(present):
            means.index_copy_(0, present, torch.stack([g[y == c].mean(0) for c in present.tolist()]))
        blocks.append(BlockGates(stage, block.index, means, counts, class_specificity(g, y)))
    stages: dict[int, list[float]] = {}
    for b in blocks:
        stages.setdefault(b.stage, []).append(b.specificity)
    return GateStatistics(blocks, {s: sum(v) / len(v) for s, v in stages.items()})
