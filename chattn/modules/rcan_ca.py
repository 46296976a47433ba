r"""RCAN's channel attention (Zhang et al., ECCV 2018, https://arxiv.org/abs/1807.02758)."""
from __future__ import annotations

import torch

from ..base import ChannelAttention
from ..excite import MLP
from ..registry import register
from ..squeeze import global_avg_pool
from .. import _validate


@register("rcan_ca")
class CALayer(ChannelAttention):
    r"""RCAN's CA layer: SE with 1x1 convolutions and biases, inside every residual block (RCAB)
    of a super-resolution network.

    .. math::
        z = \mathrm{GAP}(X), \qquad
        s = \sigma(\mathrm{Conv}_U(\delta(\mathrm{Conv}_D(z)))), \qquad Y = s \cdot X

    ``2C²/r + C/r + C`` parameters (C = 64, r = 16: 580). state_dict ``conv_du.0.weight``
    ``(C/r, C, 1, 1)``, ``conv_du.0.bias``, ``conv_du.2.weight``, ``conv_du.2.bias``.

    Args:
        channels: C (64 in RCAN).
        reduction: r, default 16.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``; ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> sum(p.numel() for p in CALayer(64).parameters())
        580
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.reduction = reduction
        self.conv_du = MLP(channels, reduction, bias=True, conv=True)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        z = global_avg_pool(x)                  # (B, C)
        return self.conv_du(z)[:, :, None, None]  # (B, C, 1, 1)
