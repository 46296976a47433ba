r"""SoCA: second-order channel attention of SAN (Dai et al., CVPR 2019)."""
from __future__ import annotations

import torch

from ..base import ChannelAttention
from ..excite import MLP
from ..registry import register
from ..squeeze import covariance_pool, newton_schulz_sqrt
from .. import _validate


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop each spatial side longer than ``size`` to ``size``, independently.

    SAN's crop treated a side of exactly ``size`` as longer than it (negative start index): a
    1000 x 500 map became 1000 x 250. Here a side is cropped only when it exceeds ``size``.

    Args:
        x: the feature map ``(B, C, H, W)``.
        size: the largest side kept.
    """
    h, w = x.shape[-2:]
    top = (h - size) // 2 if h > size else 0
    left = (w - size) // 2 if w > size else 0
    return x[:, :, top:top + min(h, size), left:left + min(w, size)]


@register("soca")
class SOCA(ChannelAttention):
    r"""Second-order channel attention: the RCAN gate on a matrix-square-root-normalised covariance.

    .. math::
        \Sigma = \tfrac1M (X-\mu)(X-\mu)^\top, \qquad
        \hat Y = \sqrt{\mathrm{tr}\,\Sigma}\; \mathrm{NS}_N(\Sigma/\mathrm{tr}\,\Sigma) \approx \Sigma^{1/2}

        z_c = \tfrac1C \textstyle\sum_i \hat Y_{i,c}, \qquad
        w = \sigma(\mathrm{Conv}_U(\delta(\mathrm{Conv}_D(z)))), \qquad Y = w \cdot X

    :math:`\mathrm{NS}_N` is N coupled Newton–Schulz steps (:func:`chattn.squeeze.newton_schulz_sqrt`),
    N = 5 as SAN: an approximation, not an exact square root. The covariance is computed on the
    central ``crop x crop`` region of large maps, the scale applies to all of X.
    ``2C²/r + C/r + C`` parameters; state_dict ``conv_du.*`` as the official ``SOCA``.

    Args:
        channels: C.
        reduction: r, default 16 (the ``SOCA`` class default is 8, but SAN builds every SOCA with
            ``--reduction 16``).
        iterN: Newton–Schulz iterations, 5.
        crop: side of the region the covariance sees, 1000.

    Shape: ``(B, C, H, W) -> (B, C, H, W)`` with ``H·W >= 2``; ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> sum(p.numel() for p in SOCA(64).parameters())
        580
    """

    def __init__(self, channels: int, reduction: int = 16, iterN: int = 5, crop: int = 1000):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.reduction = reduction
        self.iterN = _validate.positive_int(iterN, "iterN")
        self.crop = _validate.positive_int(crop, "crop")
        self.conv_du = MLP(channels, reduction, bias=True, conv=True)

    def covariance_sqrt(self, x: torch.Tensor) -> torch.Tensor:
        """The squeeze before the mean: ``(B, C, H, W) -> Σ^{1/2} (B, C, C)``."""
        self.check(x)
        if x.shape[2] * x.shape[3] < 2:
            raise ValueError(f"x has spatial size {tuple(x.shape[2:])}; a covariance over positions needs "
                             "at least 2 positions")
        cov = covariance_pool(center_crop(x, self.crop))    # (B, C, C)
        return newton_schulz_sqrt(cov, self.iterN)          # (B, C, C)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        z = self.covariance_sqrt(x).mean(dim=1)             # (B, C)   column means
        return self.conv_du(z)[:, :, None, None]            # (B, C, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, iterN={self.iterN}"
