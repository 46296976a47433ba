r"""The frame every module shares: squeeze, excite, scale.

.. math::
    s = F(X; \theta) = \mathrm{excite}(\mathrm{squeeze}(X)), \qquad Y = s \cdot X

A subclass implements :meth:`ChannelAttention.attention`, which returns ``s``: the tensor that
multiplies ``X`` (shape ``(B, C, 1, 1)``, or ``(B, C, H, W)`` for attention that varies over
space). ``forward`` passes it through ``self.gate`` (a :class:`Gate`) and applies it, so one
forward hook on ``gate`` reads ``s``; :func:`record_gates` puts such a hook on every module of a
network. :class:`Compose` builds a module from any squeeze and any excitation in one line.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple

import torch
from torch import nn

from . import _validate


class Gate(nn.Module):
    r"""The point where ``s`` is final: ``forward(s) = s``, the tensor that scales ``X``.

    Every :class:`ChannelAttention` passes its ``s`` through ``self.gate`` before scaling, so a
    forward hook on ``gate`` sees ``s`` (timm's ``SEModule`` ends in ``self.gate`` for the same
    reason). It holds no parameters: state_dict keys and random initialisation are those of the
    official modules.

    Shape: ``(B, C, 1, 1)`` or ``(B, C, H, W)``, returned unchanged.
    """

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return s


class ChannelAttention(nn.Module):
    r"""Base class: ``forward(x) = x * self.gate(self.attention(x))``.

    Every subclass has ``self.gate`` (:class:`Gate`), whose output is the ``s`` of
    :math:`Y = s \cdot X`. Two modules with their own forward keep the official computation:

    - :class:`~chattn.EncModule` returns :math:`\delta(X + X\gamma)`; its gate outputs
      :math:`s = 1 + \gamma`, and since :math:`s > 0`, :math:`\delta(X + X\gamma) = \delta(X)\,s`
      (equal up to rounding, not bit for bit: the forward still computes ``x + x * gamma``).
    - :class:`~chattn.DIA` returns ``(x * s, state)`` with :math:`s = h_t`.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``, same dtype and memory format as the input.
    """

    channels: int

    def __init__(self):
        super().__init__()
        self.gate = Gate()

    def attention(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Return ``s``, the tensor that multiplies ``x``: ``(B, C, 1, 1)``, or ``(B, C, H, W)``
        when the attention varies over space."""
        raise NotImplementedError

    def check(self, x: torch.Tensor, min_size=(1, 1)) -> torch.Tensor:
        """Raise a clear error unless ``x`` is a floating (B, C, H, W) tensor with ``self.channels``.

        Args:
            x: the input.
            min_size: the smallest ``(H, W)`` the module accepts.
        """
        return _validate.feature_map(x, self.channels, min_size=min_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.attention(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class GateCall(NamedTuple):
    """One call of an attention module, as :func:`record_gates` saw it."""

    name: str
    """The attention module's dotted path in the model (``""`` for the model itself)."""
    module: nn.Module
    """The attention module."""
    s: torch.Tensor
    """The output of its gate, the ``s`` it scales by (``(N, C, 1, 1)``, or ``(N, C, H, W)`` for bilinear
    attention)."""


@contextlib.contextmanager
def record_gates(model: nn.Module) -> Iterator[list[GateCall]]:
    r"""Within the block, every forward call of an attention module of ``model`` appends a
    :class:`GateCall` ``(name, module, s)`` to the yielded list, in call order.

    A module called several times gives one entry per call: DIANet's module, shared by the blocks
    of a stage, gives one per block (all with the stage's name, e.g. ``stages.0.dia``). ``s`` is
    the gate's output as it is (with its graph, if gradients are on): ``(N, C, 1, 1)`` for every
    module but bilinear attention, whose ``s`` is ``(N, C, H, W)``; ``s.mean((2, 3))`` gives
    ``(N, C)`` for all. Calls of ``module.attention(x)`` are not forward calls: they are not seen.

    Args:
        model: any ``nn.Module``; its :class:`ChannelAttention` submodules (or itself) are read.

    Example::

        >>> from chattn.models import small_resnet
        >>> net = small_resnet("se")
        >>> with record_gates(net) as calls:
        ...     logits = net(torch.randn(2, 3, 32, 32))
        >>> [(c.name, tuple(c.s.shape)) for c in calls][:2]
        [('stages.0.0.attn', (2, 32, 1, 1)), ('stages.0.1.attn', (2, 32, 1, 1))]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    calls: list[GateCall] = []
    handles = []
    for name, module in model.named_modules():      # each module once, under its first name
        if isinstance(module, ChannelAttention):
            def keep(gate, args, s, name=name, module=module):
                calls.append(GateCall(name, module, s))
            handles.append(module.gate.register_forward_hook(keep))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


class Compose(ChannelAttention):
    r"""A channel-attention module from a squeeze function and an excitation module.

    .. math::
        z = \mathrm{squeeze}(X) \in \mathbb{R}^{B\times C},\quad
        s = \mathrm{excite}(z) \in \mathbb{R}^{B\times C},\quad Y = s \cdot X

    Args:
        channels: C.
        squeeze: a callable ``(B, C, H, W) -> (B, C)`` (a function from :mod:`chattn.squeeze`
            or a module such as :class:`chattn.squeeze.MultiSpectralPool`).
        excite: a module ``(B, C) -> (B, C)`` that ends in a gate (e.g. a sigmoid).

    Example::

        >>> from chattn import Compose, squeeze, excite
        >>> fca_eca = Compose(64, squeeze.MultiSpectralPool(64, 7, 7, "top16"), excite.ChannelConv1d(3))
        >>> fca_eca(torch.randn(2, 64, 7, 7)).shape
        torch.Size([2, 64, 7, 7])
    """

    def __init__(self, channels: int, squeeze: Callable[[torch.Tensor], torch.Tensor], excite: nn.Module):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        if not callable(squeeze):
            raise TypeError(f"squeeze must be callable (B, C, H, W) -> (B, C), got {type(squeeze).__name__}")
        if not isinstance(excite, nn.Module):
            raise TypeError(f"excite must be an nn.Module (B, C) -> (B, C), got {type(excite).__name__}")
        self.squeeze = squeeze
        self.excite = excite

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        z = self.squeeze(x)                     # (B, C)
        s = self.excite(z)                      # (B, C)
        return s[:, :, None, None]              # (B, C, 1, 1)
