r"""SE: Squeeze-and-Excitation (Hu et al., CVPR 2018, https://arxiv.org/abs/1709.01507)."""
from __future__ import annotations

import torch

from ..base import ChannelAttention
from ..excite import MLP
from ..registry import register
from ..squeeze import global_avg_pool
from .. import _validate


@register("se")
class SE(ChannelAttention):
    r"""Squeeze-and-Excitation.

    .. math::
        z = \mathrm{GAP}(X) \in \mathbb{R}^{B\times C}, \qquad
        s = \sigma(W_2\,\delta(W_1 z)), \qquad Y = s \cdot X

    with :math:`W_1 \in \mathbb{R}^{(C/r)\times C}`, :math:`W_2 \in \mathbb{R}^{C\times(C/r)}`.
    The default is bias-free, as the notes and senet.pytorch (state_dict ``fc.0.weight``,
    ``fc.2.weight``); ``bias=True`` adds :math:`b_1, b_2` as the Caffe original
    (``2C²/r + C/r + C`` parameters).

    Args:
        channels: C.
        reduction: r, default 16 (hidden width ``C // r``).
        bias: biases in both FC layers (Caffe SENet).

    Shape:
        - Input: ``(B, C, H, W)``;  Output: ``(B, C, H, W)``;  ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> se = SE(256, reduction=16)
        >>> se(torch.randn(2, 256, 14, 14)).shape
        torch.Size([2, 256, 14, 14])
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = False):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.reduction = reduction
        self.fc = MLP(channels, reduction, bias=bias)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        z = global_avg_pool(x)                  # (B, C)      squeeze
        s = self.fc(z)                          # (B, C)      excitation
        return s[:, :, None, None]              # (B, C, 1, 1)
