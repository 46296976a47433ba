r"""Bi-attention of BAT-net (Fang et al., ICCV 2019, "Bilinear Attention Networks for Person Retrieval")."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..base import ChannelAttention
from ..registry import register
from ..squeeze import bilinear_triangle, global_avg_pool
from .. import _validate


class ConvBlock(nn.Module):
    """1x1 conv (with bias) -> BatchNorm -> ReLU, the official ``ConvBlock``.

    Args:
        in_c: input channels.
        out_c: output channels.
    """

    def __init__(self, in_c: int, out_c: int):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, 1)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class DimChange(nn.Sequential):
    """The official ``_dim_change``: a Sequential holding one ConvBlock named ``conv``.

    Args:
        in_c: input channels.
        out_c: output channels.
    """

    def __init__(self, in_c: int, out_c: int):
        super().__init__()
        self.add_module("conv", ConvBlock(in_c, out_c))


@register("bilinear")
class BilinearAttention(ChannelAttention):
    r"""Bi-attention: second-order statistics inside every pixel, attention-in-attention.

    .. math::
        R = \phi(X) \in \mathbb{R}^{B\times c\times H\times W}, \quad c = C/16,

        \tilde x_p = \mathrm{Vec}(\mathrm{Utri}(r_p r_p^\top)) \in \mathbb{R}^{c(c+1)/2}

        m = \omega(\mathrm{GAP}(\tilde x)) \in \mathbb{R}^{B\times C},\qquad
        L = \varphi(\tilde x) \in \mathbb{R}^{B\times C\times H\times W},

        s = \sigma(m \cdot L), \qquad Y = s \cdot X

    :math:`\phi, \omega, \varphi` are 1x1 conv + BN + ReLU blocks, so :math:`m, L \geq 0` and
    :math:`s \in [0.5, 1)`. The attention varies over space: ``attention(x)`` is ``(B, C, H, W)``.
    ``Cc + 3c + 2 c_2 C + 6C`` parameters (:math:`c_2 = c(c+1)/2`); state_dict
    ``dimReduceLayer1/2/3.conv.conv|bn.*`` as the official ``BilinearAttention``.

    Args:
        channels: C.
        reduction: 16 (c = C // 16), fixed in the official code.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``. Training needs B >= 2 (BN over pooled statistics).

    Example::

        >>> sum(p.numel() for p in BilinearAttention(480).parameters())
        463770
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.channels = c = _validate.positive_int(channels, "channels")
        mid = _validate.reduced_width(c, reduction)
        pairs = mid * (mid + 1) // 2
        self.dimReduceLayer1 = DimChange(c, mid)
        self.dimReduceLayer2 = DimChange(pairs, c)
        self.dimReduceLayer3 = DimChange(pairs, c)

    def bilinear_features(self, x: torch.Tensor) -> torch.Tensor:
        """The squeeze before pooling: ``(B, C, H, W) -> (B, c(c+1)/2, H, W)``."""
        self.check(x)
        return bilinear_triangle(self.dimReduceLayer1(x))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        _validate.batch_for_norm(x, self, "BatchNorm over the pooled (B, c(c+1)/2, 1, 1) products")
        b = self.bilinear_features(x)                                   # (B, c2, H, W)
        m = self.dimReduceLayer3(global_avg_pool(b)[:, :, None, None])  # (B, C, 1, 1)  inner attention
        outer = self.dimReduceLayer2(b)                                 # (B, C, H, W)  outer attention
        return torch.sigmoid(m * outer)                                 # (B, C, H, W)
