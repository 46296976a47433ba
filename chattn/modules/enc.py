r"""EncNet's Context Encoding Module (Zhang et al., CVPR 2018, https://arxiv.org/abs/1803.08904)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..base import ChannelAttention
from ..registry import register
from ..squeeze import Encoding
from .. import _validate


class Mean(nn.Module):
    """Mean over one dimension (EncNet's ``encoding.nn.Mean``).

    Args:
        dim: the dimension to average.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.mean(self.dim)


@register("enc")
class EncModule(ChannelAttention):
    r"""Context Encoding Module: encode the feature map against K learned codewords, gate the
    channels with the encoding.

    .. math::
        U = \delta(\mathrm{BN}(W_0 X)),

        e_k = \sum_i a_{ik}(u_i - d_k), \quad a_{ik} = \mathrm{softmax}_k(s_k \lVert u_i - d_k\rVert^2)

        e = \tfrac1K \sum_k \delta(\mathrm{BN}_K(e_k)) \in \mathbb{R}^{B\times C}, \qquad
        \gamma = \sigma(W e + b), \qquad Y = \delta(X + X\cdot\gamma)

    The official module adds the gated map to X and applies a ReLU; :meth:`attention` returns the
    factor :math:`1 + \gamma` that multiplies X before that ReLU. With ``num_classes`` the forward
    also returns the SE-loss logits :math:`W_{se} e + b_{se}`.

    ``2C² + 3C + KC + 3K`` parameters (+ ``C·nclass + nclass``). state_dict as the official
    ``EncModule``: ``encoding.0`` (1x1 conv), ``encoding.1`` (BN), ``encoding.3.codewords``,
    ``encoding.3.scale``, ``encoding.4`` (BatchNorm1d(K)), ``fc.0``, ``selayer``.

    Args:
        channels: C (= D of the Encoding layer).
        ncodes: K codewords, default 32.
        num_classes: if given, build the SE-loss head and return ``(y, logits)``.

    Shape: ``(B, C, H, W) -> (B, C, H, W)`` (and ``(B, num_classes)``); ``attention(x)``: ``(B, C, 1, 1)``.

    Example::

        >>> enc = EncModule(64, ncodes=8, num_classes=5)
        >>> y, logits = enc(torch.randn(2, 64, 8, 8))
        >>> y.shape, logits.shape
        (torch.Size([2, 64, 8, 8]), torch.Size([2, 5]))
    """

    def __init__(self, channels: int, ncodes: int = 32, num_classes: int | None = None):
        super().__init__()
        self.channels = c = _validate.positive_int(channels, "channels")
        self.ncodes = _validate.positive_int(ncodes, "ncodes")
        self.encoding = nn.Sequential(
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            Encoding(D=c, K=ncodes), nn.BatchNorm1d(ncodes), nn.ReLU(inplace=True),
            Mean(dim=1))
        self.fc = nn.Sequential(nn.Linear(c, c), nn.Sigmoid())
        self.num_classes = None
        if num_classes is not None:
            self.num_classes = _validate.positive_int(num_classes, "num_classes")
            self.selayer = nn.Linear(c, num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoded context ``e``: ``(B, C, H, W) -> (B, C)``."""
        self.check(x)
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            _validate.batch_for_norm(x, self, "BatchNorm2d over a 1x1 map")
        return self.encoding(x)

    def assignments(self, x: torch.Tensor) -> torch.Tensor:
        """Soft assignment of every position to every codeword: ``(B, C, H, W) -> (B, H·W, K)``."""
        self.check(x)
        u = self.encoding[2](self.encoding[1](self.encoding[0](x)))
        return self.encoding[3].assignments(u)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        r"""The factor :math:`1 + \gamma` that multiplies X before the ReLU: ``(B, C, 1, 1)``."""
        gamma = self.fc(self.encode(x))                 # (B, C)
        return 1.0 + gamma[:, :, None, None]            # (B, C, 1, 1)

    def forward(self, x: torch.Tensor):
        en = self.encode(x)                             # (B, C)
        gamma = self.fc(en)[:, :, None, None]           # (B, C, 1, 1)
        self.gate(1.0 + gamma)                          # s = 1 + γ, for hooks: y = δ(X)·s
        y = F.relu(x + x * gamma)                       # the official sum (bit for bit)
        if self.num_classes is not None:
            return y, self.selayer(en)
        return y
