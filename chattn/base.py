r"""The frame every module shares: squeeze, excite, scale.

.. math::
    s = F(X; \theta) = \mathrm{excite}(\mathrm{squeeze}(X)), \qquad Y = s \cdot X

A subclass implements :meth:`ChannelAttention.attention`, which returns ``s``: the tensor that
multiplies ``X`` (shape ``(B, C, 1, 1)``, or ``(B, C, H, W)`` for attention that varies over
space). ``forward`` applies it. :class:`Compose` builds a module from any squeeze and any
excitation in one line.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import _validate


class ChannelAttention(nn.Module):
    """Base class: ``forward(x) = x * self.attention(x)``.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``, same dtype and memory format as the input.
    """

    channels: int

    def attention(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Return ``s``, the tensor that multiplies ``x``: ``(B, C, 1, 1)``, or ``(B, C, H, W)``
        when the attention varies over space."""
        raise NotImplementedError

    def check(self, x: torch.Tensor, min_size=(1, 1)) -> torch.Tensor:
        """Raise a clear error unless ``x`` is a floating (B, C, H, W) tensor with ``self.channels``."""
        return _validate.feature_map(x, self.channels, min_size=min_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


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
