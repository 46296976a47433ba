r"""GSoP: the channel Global Second-order Pooling block (Gao et al., CVPR 2019, https://arxiv.org/abs/1811.12006)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..base import ChannelAttention
from ..excite import rowwise_excitation
from ..registry import register
from ..squeeze import covariance_pool
from .. import _validate


@register("gsop")
class GSoP(ChannelAttention):
    r"""Channel GSoP block (GSoP-Net1): a covariance squeeze and a row-wise convolution excitation.

    .. math::
        Z = \delta(\mathrm{BN}(W_{DR}\,\delta(X))) \in \mathbb{R}^{B\times d\times H'\times W'},

        \Sigma = \tfrac{1}{M}(Z-\mu)(Z-\mu)^\top \in \mathbb{R}^{B\times d\times d}

        q = \mathrm{RowConv}(\mathrm{BN}_d(\Sigma)) \in \mathbb{R}^{B\times 4d},

        a = \sigma(W q + b) \in \mathbb{R}^{B\times C}, \qquad Y = a \cdot X

    The official ``Covpool`` multiplies by an M x M centering matrix; centring the features first
    is the same covariance without the O(M²) memory. ``5dC + C + 4d² + 9d`` parameters; state_dict
    ``conv_for_DR``, ``bn_for_DR``, ``row_bn``, ``row_conv_group``, ``fc_adapt_channels`` as in the
    official Bottleneck.

    Args:
        channels: C.
        att_dim: d, default 128.
        stride: stride of the dimension-reduction conv (2 in the official first stage, else 1).

    Shape: ``(B, C, H, W) -> (B, C, H, W)``, needs at least 2 positions after the stride;
    ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> sum(p.numel() for p in GSoP(256).parameters())
        230784
    """

    def __init__(self, channels: int, att_dim: int = 128, stride: int = 1):
        super().__init__()
        self.channels = c = _validate.positive_int(channels, "channels")
        self.att_dim = d = _validate.positive_int(att_dim, "att_dim")
        self.stride = _validate.positive_int(stride, "stride")
        self.conv_for_DR = nn.Conv2d(c, d, kernel_size=1, stride=stride, bias=True)
        self.bn_for_DR = nn.BatchNorm2d(d)
        self.row_bn = nn.BatchNorm2d(d)
        self.row_conv_group = nn.Conv2d(d, 4 * d, kernel_size=(d, 1), groups=d, bias=True)
        self.fc_adapt_channels = nn.Conv2d(4 * d, c, kernel_size=1, bias=True)

    def covariance(self, x: torch.Tensor) -> torch.Tensor:
        """The squeeze: ``(B, C, H, W) -> Σ (B, d, d)``."""
        self.check(x)
        h, w = ((n - 1) // self.stride + 1 for n in x.shape[2:])
        if h * w < 2:
            raise ValueError(f"x has spatial size {tuple(x.shape[2:])}; a covariance over positions needs at "
                             f"least 2 positions after the stride-{self.stride} reduction")
        z = F.relu(self.bn_for_DR(self.conv_for_DR(F.relu(x))))   # (B, d, H', W')
        return covariance_pool(z)                                  # (B, d, d)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.covariance(x)                                                        # (B, d, d)
        a = rowwise_excitation(cov, self.row_bn, self.row_conv_group, self.fc_adapt_channels)  # (B, C)
        return a[:, :, None, None]                                                      # (B, C, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, att_dim={self.att_dim}, stride={self.stride}"
