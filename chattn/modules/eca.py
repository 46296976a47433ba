r"""ECA: Efficient Channel Attention (Wang et al., CVPR 2020, https://arxiv.org/abs/1910.03151)."""
from __future__ import annotations

import torch

from ..base import ChannelAttention
from ..excite import ChannelConv1d, eca_kernel_size
from ..registry import register
from ..squeeze import global_avg_pool
from .. import _validate


@register("eca")
class ECA(ChannelAttention):
    r"""Efficient Channel Attention: a 1-D convolution across channels replaces SE's MLP.

    .. math::
        z = \mathrm{GAP}(X), \qquad
        \omega_c = \sigma\Big(\sum_{j=0}^{k-1} w_j\, z_{c+j-(k-1)/2}\Big), \qquad Y = \omega \cdot X

    ``k`` parameters, no bias (state_dict ``conv.weight`` of shape ``(1, 1, k)``).

    Args:
        channels: C.
        k_size: odd kernel size. ``None`` (default) uses the paper's
            :math:`k = \psi(C) = |\log_2(C)/\gamma + b/\gamma|_{odd}` (see :func:`chattn.excite.eca_kernel_size`).
            The official ResNet code never computes ψ: it passes ``k_size`` per stage
            (released ResNet-50: 3, 5, 5, 7).
        gamma, b: the constants of ψ (2 and 1).

    Shape: ``(B, C, H, W) -> (B, C, H, W)``; ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> ECA(256).conv.kernel_size      # ψ(256) = 5
        (5,)
    """

    def __init__(self, channels: int, k_size: int | None = None, gamma: float = 2, b: float = 1):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        if k_size is None:
            k_size = eca_kernel_size(channels, gamma, b)
        self.k_size = k_size
        self.conv = ChannelConv1d(k_size)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        z = global_avg_pool(x)                  # (B, C)
        w = self.conv(z)                        # (B, C)   σ(conv1d across channels)
        return w[:, :, None, None]              # (B, C, 1, 1)
