r"""GCT: Gated Channel Transformation (Yang et al., CVPR 2020, https://arxiv.org/abs/1909.11519)."""
from __future__ import annotations

import torch
from torch import nn

from ..base import ChannelAttention
from ..excite import gct_gate
from ..registry import register
from ..squeeze import channel_embedding
from .. import _validate


@register("gct")
class GCT(ChannelAttention):
    r"""Gated Channel Transformation: an l2 (or l1) embedding per channel, normalised across
    channels, through a tanh gate centred on 1.

    .. math::
        s_c = \alpha_c \sqrt{\textstyle\sum_{h,w} X_c^2 + \epsilon}, \qquad
        \hat s_c = \frac{\gamma_c\, s_c}{\sqrt{\mathrm{mean}_c(s_c^2) + \epsilon}},

        Y = X \cdot (1 + \tanh(\hat s + \beta))

    ``l1`` mode: :math:`s_c = \alpha_c \sum |X_c|`, :math:`\hat s_c = \gamma_c s_c / (\mathrm{mean}_c|s_c| + \epsilon)`.
    :math:`\alpha = 1, \gamma = \beta = 0` at init, so GCT starts as the identity. ``3C`` parameters:
    state_dict ``alpha``, ``gamma``, ``beta``, each ``(1, C, 1, 1)``.

    Args:
        channels: C.
        epsilon: ε, 1e-5.
        mode: ``'l2'`` or ``'l1'``.
        after_relu: in ``l1`` mode, skip the absolute value (the input is non-negative).

    Shape: ``(B, C, H, W) -> (B, C, H, W)``; ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> x = torch.randn(2, 64, 8, 8)
        >>> torch.equal(GCT(64)(x), x)
        True
    """

    def __init__(self, channels: int, epsilon: float = 1e-5, mode: str = "l2", after_relu: bool = False):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.epsilon = _validate.positive_float(epsilon, "epsilon")
        self.mode = _validate.one_of(mode, "mode", ("l1", "l2"))
        self.after_relu = bool(after_relu)
        self.alpha = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        c = self.channels
        e = channel_embedding(x, self.mode, self.epsilon, self.after_relu)          # (B, C)
        s = e * self.alpha.view(1, c).to(x.dtype)                                    # (B, C)
        gate = gct_gate(s, self.gamma.view(1, c).to(x.dtype), self.beta.view(1, c).to(x.dtype),
                        self.mode, self.epsilon)                                     # (B, C)
        return gate[:, :, None, None]                                                # (B, C, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, mode={self.mode!r}, epsilon={self.epsilon}"
