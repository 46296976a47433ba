r"""FcaNet's multi-spectral channel attention (Qin et al., ICCV 2021, https://arxiv.org/abs/2012.11879)."""
from __future__ import annotations

import torch

from ..base import ChannelAttention
from ..excite import MLP
from ..registry import register
from ..squeeze import MultiSpectralPool
from .. import _validate


@register("fca")
class FcaNet(ChannelAttention):
    r"""Multi-spectral channel attention: SE whose squeeze is a set of 2-D DCT coefficients.

    Channels are split into ``n`` groups; group ``g`` is pooled with the DCT basis of frequency
    :math:`(u_g, v_g)`:

    .. math::
        y_c = \sum_{h,w} X_{c,h,w}\, B_{u_g, v_g}[h, w], \qquad
        s = \sigma(W_2\,\delta(W_1 y)), \qquad Y = s \cdot X

    GAP is the special case :math:`(u, v) = (0, 0)`, up to the factor :math:`\sqrt{HW}`:
    :math:`B_{0,0} = 1/\sqrt{HW}`. Inputs larger than ``(dct_h, dct_w)`` are average-pooled to it;
    the scale applies to the original X. state_dict: ``dct_layer.weight`` (a buffer, ``(C, dct_h, dct_w)``),
    ``fc.0.weight``, ``fc.2.weight`` (bias-free, ``2C²/r`` parameters).

    Args:
        channels: C, divisible by the number of frequencies.
        dct_h, dct_w: DCT size, >= 7 (the official ResNets use 56, 28, 14, 7 by stage).
        reduction: r, default 16.
        freq_sel_method: ``top16`` (default), ``top1`` to ``top32``, ``low*``, ``bot*``.

    Shape: ``(B, C, H, W)`` with ``H >= dct_h``, ``W >= dct_w`` -> same; ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> fca = FcaNet(64, dct_h=7, dct_w=7)
        >>> fca(torch.randn(2, 64, 7, 7)).shape
        torch.Size([2, 64, 7, 7])
    """

    def __init__(self, channels: int, dct_h: int = 7, dct_w: int = 7, reduction: int = 16,
                 freq_sel_method: str = "top16"):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.reduction = reduction
        self.dct_layer = MultiSpectralPool(channels, dct_h, dct_w, freq_sel_method)
        self.fc = MLP(channels, reduction, bias=False)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        y = self.dct_layer(x)                   # (B, C)   multi-spectral squeeze
        s = self.fc(y)                          # (B, C)
        return s[:, :, None, None]              # (B, C, 1, 1)
