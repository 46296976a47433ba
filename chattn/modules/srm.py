r"""SRM: Style-based Recalibration Module (Lee et al., ICCV 2019, https://arxiv.org/abs/1903.10829)."""
from __future__ import annotations

import torch
from torch import nn

from ..base import ChannelAttention
from ..excite import style_integration
from ..registry import register
from ..squeeze import style_pool
from .. import _validate


@register("srm")
class SRM(ChannelAttention):
    r"""Style-based recalibration: squeeze to the style (mean, std) of each channel, integrate
    them with a channel-wise FC, normalise over the batch, gate.

    .. math::
        t_c = (\mu_c, \sigma_c), \qquad z_c = w_{c,0}\mu_c + w_{c,1}\sigma_c, \qquad
        g = \sigma(\mathrm{BN}(z)), \qquad Y = g \cdot X

    :math:`\sigma_c = \sqrt{\mathrm{var}_{unbiased} + 10^{-5}}` (official code after f6221c7; finite on
    1x1 maps here). ``cfc`` starts at zero, so the gate is exactly 0.5 at initialisation.
    ``4C`` parameters: state_dict ``cfc (C, 2)`` and ``bn.*`` (``BatchNorm2d(C)``).

    Args:
        channels: C.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``; ``attention(x)``: ``(B, C, 1, 1)``. Training needs B >= 2.

    Example::

        >>> srm = SRM(64).eval()
        >>> srm.attention(torch.randn(1, 64, 8, 8)).unique().tolist()
        [0.5]
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.cfc = nn.Parameter(torch.zeros(channels, 2))
        self.bn = nn.BatchNorm2d(channels)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        _validate.batch_for_norm(x, self)
        t = style_pool(x)                               # (B, C, 2)   style pooling
        g = style_integration(t, self.cfc, self.bn)     # (B, C)      CFC + BN + σ
        return g[:, :, None, None]                      # (B, C, 1, 1)
