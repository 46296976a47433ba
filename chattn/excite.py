r"""Excitation operators: from the squeezed descriptor to the per-channel gate.

Small modules (and the functions they wrap), each with the official parameter names so the
named modules built from them load official checkpoints:

==================  ========================================  ======================
excitation          map                                       used by
==================  ========================================  ======================
MLP                 σ(W2 δ(W1 z + b1) + b2)                   SE, FcaNet, RCAN, SoCA
ChannelConv1d       σ(conv1d_k(z)) across channels            ECA
style_integration   σ(BN(w_{c,0} μ_c + w_{c,1} σ_c))          SRM
RowwiseConv         σ(W · rowconv(BN(Σ)))                     GSoP
DIALSTMCell         LSTM step shared across blocks            DIANet
gct_gate, TanhGate  1 + tanh(γ · CN(α s) + β)                 GCT
==================  ========================================  ======================
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import _validate

__all__ = ["MLP", "ChannelConv1d", "eca_kernel_size", "style_integration", "StyleIntegration",
           "RowwiseConv", "rowwise_excitation", "DIALSTMCell", "gct_gate", "TanhGate"]


class MLP(nn.Sequential):
    r"""The bottleneck of SE: :math:`s = \sigma(W_2\,\delta(W_1 z + b_1) + b_2)`,
    :math:`W_1 \in \mathbb{R}^{(C/r)\times C}`, :math:`W_2 \in \mathbb{R}^{C\times(C/r)}`.

    Layers ``0`` (reduce), ``1`` ReLU, ``2`` (expand), ``3`` sigmoid: the layout of SE's ``fc`` and
    RCAN's ``conv_du``. ``conv=True`` uses 1x1 convolutions (RCAN, SoCA), else ``nn.Linear``.

    Args:
        channels: C.
        reduction: r (hidden width ``C // r``).
        bias: biases on both layers.
        conv: 1x1 ``nn.Conv2d`` instead of ``nn.Linear`` (same maths, other weight shapes).

    Shape: ``(B, C) -> (B, C)``.
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = False, conv: bool = False):
        channels = _validate.positive_int(channels, "channels")
        hidden = _validate.reduced_width(channels, reduction)
        if conv:
            layers = [nn.Conv2d(channels, hidden, 1, bias=bias), nn.ReLU(inplace=True),
                      nn.Conv2d(hidden, channels, 1, bias=bias), nn.Sigmoid()]
        else:
            layers = [nn.Linear(channels, hidden, bias=bias), nn.ReLU(inplace=True),
                      nn.Linear(hidden, channels, bias=bias), nn.Sigmoid()]
        super().__init__(*layers)
        self.conv = conv

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.conv:
            return super().forward(z[:, :, None, None])[:, :, 0, 0]
        return super().forward(z)


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    r"""ECA's adaptive kernel size :math:`k = \psi(C) = |\log_2(C)/\gamma + b/\gamma|_{odd}`,
    computed as the paper's code: ``t = int(|(log2 C + b) / γ|)``, ``k = t`` if odd else ``t + 1``.

    C = 64, 128, 256, 512, 1024, 2048 give 3, 5, 5, 5, 5, 7 (and C < 8 gives 1).

    Args:
        channels: C.
        gamma: γ, 2.
        b: b, 1.
    """
    channels = _validate.positive_int(channels, "channels")
    t = int(abs((math.log(channels, 2) + b) / gamma))
    return t if t % 2 else t + 1


class ChannelConv1d(nn.Conv1d):
    r"""ECA's excitation: a 1-D convolution across the channel axis, then a sigmoid.

    .. math::
        \omega_c = \sigma\Big(\sum_{j=0}^{k-1} w_j\, z_{c + j - (k-1)/2}\Big), \qquad z_{<0} = z_{\geq C} = 0

    One ``Conv1d(1, 1, k, padding=(k-1)//2, bias=False)``: its ``weight`` has shape ``(1, 1, k)``.

    Args:
        k_size: odd kernel size k.

    Shape: ``(B, C) -> (B, C)``.
    """

    def __init__(self, k_size: int = 3):
        k_size = _validate.positive_int(k_size, "k_size")
        if k_size % 2 == 0:
            raise ValueError(f"k_size must be odd so the convolution is centred on each channel, got {k_size}")
        super().__init__(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(z[:, None, :])[:, 0, :])


def style_integration(t: torch.Tensor, cfc: torch.Tensor, bn: nn.Module) -> torch.Tensor:
    r"""SRM's excitation: channel-wise FC, BatchNorm over the batch, sigmoid.

    .. math::
        z_c = w_{c,0}\,\mu_c + w_{c,1}\,\sigma_c, \qquad g = \sigma(\mathrm{BN}(z))

    Args:
        t: the style ``(B, C, 2)`` (:func:`chattn.squeeze.style_pool`).
        cfc: the channel-wise weights ``(C, 2)``.
        bn: a ``BatchNorm2d(C)``.

    Shape: ``t (B, C, 2)``, ``cfc (C, 2)`` -> ``(B, C)``.
    """
    z = (t * cfc[None].to(t.dtype)).sum(dim=2)             # (B, C)
    return torch.sigmoid(bn(z[:, :, None, None]))[:, :, 0, 0]


class StyleIntegration(nn.Module):
    """:func:`style_integration` as a module: ``cfc (C, 2)`` initialised to zero and a
    ``BatchNorm2d(C)``, so the gate is 0.5 at initialisation. Shape ``(B, C, 2) -> (B, C)``.

    Args:
        channels: C.
    """

    def __init__(self, channels: int):
        super().__init__()
        channels = _validate.positive_int(channels, "channels")
        self.cfc = nn.Parameter(torch.zeros(channels, 2))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return style_integration(t, self.cfc, self.bn)


class RowwiseConv(nn.Module):
    r"""GSoP's excitation of a d x d covariance: row-wise BatchNorm, row-wise convolution, a
    1x1 convolution to C channels, sigmoid.

    .. math::
        P = \mathrm{BN}_d(\Sigma),\quad q_{4i+n} = \textstyle\sum_j P_{ij} K_{4i+n,j} + \beta_{4i+n},\quad
        a = \sigma(W q + b)

    The row-wise convolution is ``Conv2d(d, 4d, kernel_size=(d, 1), groups=d)`` on Σ viewed as
    ``(B, d, d, 1)``: each row i of Σ gives 4 numbers. Parameters ``row_bn``, ``row_conv_group``,
    ``fc_adapt_channels`` as in the official Bottleneck.

    Args:
        att_dim: d, the covariance's side.
        channels: C, the gate's width.

    Shape: ``(B, d, d) -> (B, C)``.
    """

    def __init__(self, att_dim: int, channels: int):
        super().__init__()
        d = _validate.positive_int(att_dim, "att_dim")
        channels = _validate.positive_int(channels, "channels")
        self.row_bn = nn.BatchNorm2d(d)
        self.row_conv_group = nn.Conv2d(d, 4 * d, kernel_size=(d, 1), groups=d, bias=True)
        self.fc_adapt_channels = nn.Conv2d(4 * d, channels, kernel_size=1, bias=True)

    def forward(self, cov: torch.Tensor) -> torch.Tensor:
        return rowwise_excitation(cov, self.row_bn, self.row_conv_group, self.fc_adapt_channels)


def rowwise_excitation(cov: torch.Tensor, row_bn: nn.Module, row_conv_group: nn.Module,
                       fc_adapt_channels: nn.Module) -> torch.Tensor:
    """The maths of :class:`RowwiseConv`, given its three layers. ``(B, d, d) -> (B, C)``.

    Args:
        cov: the covariance ``(B, d, d)``.
        row_bn: ``BatchNorm2d(d)``.
        row_conv_group: ``Conv2d(d, 4d, (d, 1), groups=d)``.
        fc_adapt_channels: ``Conv2d(4d, C, 1)``.
    """
    p = row_bn(cov[:, :, :, None])                          # (B, d, d, 1)
    q = row_conv_group(p)                                   # (B, 4d, 1, 1)
    return torch.sigmoid(fc_adapt_channels(q))[:, :, 0, 0]  # (B, C)


class _SmallCell(nn.Module):
    """DIANet's ``small_cell``: Linear(C, C/4) -> ReLU -> Linear(C/4, 4H) (a bottleneck in place
    of the LSTM's full input and hidden matrices)."""

    def __init__(self, input_size: int, hidden_size: int, reduction: int = 4):
        super().__init__()
        mid = _validate.reduced_width(input_size, reduction)
        self.seq = nn.Sequential(nn.Linear(input_size, mid), nn.ReLU(inplace=True),
                                 nn.Linear(mid, 4 * hidden_size))

    def forward(self, x):
        return self.seq(x)


class DIALSTMCell(nn.Module):
    r"""DIANet's modified LSTM cell, one step.

    .. math::
        (i, f, g, o) = \phi_{ih}(m_t) + \phi_{hh}(h_{t-1}),

        c_t = \sigma(f) c_{t-1} + \sigma(i) \tanh(g), \qquad h_t = \sigma(o)\,\sigma(c_t)

    :math:`\phi(v) = W_b\,\delta(W_a v + a) + b` with a C/4 bottleneck. The last line is the paper's
    change to the LSTM: :math:`\sigma(c_t)` instead of :math:`\tanh(c_t)`, so :math:`h_t \in (0, 1)`
    is a gate. Parameters ``w_ih.0.seq.*``, ``w_hh.0.seq.*`` as the official ``LSTMCell(C, C, 1)``
    (its dropout acts only between stacked layers: none with one layer).

    Args:
        input_size: C of the pooled input m.
        hidden_size: C of h and c.
        reduction: bottleneck of the small FCs, 4.

    Shape: ``m (B, C)``, ``(h, c)`` each ``(B, C)`` -> ``(h, c)``.
    """

    def __init__(self, input_size: int, hidden_size: int, reduction: int = 4):
        super().__init__()
        self.input_size = _validate.positive_int(input_size, "input_size")
        self.hidden_size = _validate.positive_int(hidden_size, "hidden_size")
        self.w_ih = nn.ModuleList([_SmallCell(input_size, hidden_size, reduction)])
        self.w_hh = nn.ModuleList([_SmallCell(hidden_size, hidden_size, reduction)])

    def forward(self, m: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        gates = self.w_ih[0](m) + self.w_hh[0](h)           # (B, 4C)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.sigmoid(c)
        return h, c


def gct_gate(embedding: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
             mode: str = "l2", epsilon: float = 1e-5) -> torch.Tensor:
    r"""GCT's channel normalisation and gate, from the scaled embedding :math:`s = \alpha\,e`.

    ``l2``: :math:`n_c = \gamma_c / \sqrt{\mathrm{mean}_c(s_c^2) + \epsilon}`;
    ``l1``: :math:`n_c = \gamma_c / (\mathrm{mean}_c |s_c| + \epsilon)`;
    gate :math:`= 1 + \tanh(s_c n_c + \beta_c)`.

    Args:
        embedding: the scaled embedding :math:`s = \alpha e`, ``(B, C)``.
        gamma: γ, ``(C,)`` or ``(1, C)``.
        beta: β, same shape as gamma.
        mode: ``'l2'`` or ``'l1'``.
        epsilon: ε of the normalisation.

    Shape: ``embedding (B, C)``, ``gamma``/``beta`` ``(C,)`` or ``(1, C)`` -> ``(B, C)``.
    """
    if mode == "l2":
        norm = gamma / torch.sqrt(embedding.square().mean(dim=1, keepdim=True) + epsilon)
    else:
        norm = gamma / (embedding.abs().mean(dim=1, keepdim=True) + epsilon)
    return 1.0 + torch.tanh(embedding * norm + beta)


class TanhGate(nn.Module):
    r""":func:`gct_gate` as a module: :math:`g = 1 + \tanh(\gamma\, \mathrm{CN}(s) + \beta)` with
    learnable ``gamma`` and ``beta`` of shape ``(C,)``, both zero at initialisation (so ``g`` = 1).

    As an excitation for :class:`chattn.Compose` it takes GCT's embedding (e.g.
    :func:`chattn.squeeze.channel_embedding`) and returns a gate in (0, 2).

    Args:
        channels: C.
        mode: ``'l2'`` or ``'l1'``.
        epsilon: ε of the normalisation.

    Shape: ``(B, C) -> (B, C)``.
    """

    def __init__(self, channels: int, mode: str = "l2", epsilon: float = 1e-5):
        super().__init__()
        channels = _validate.positive_int(channels, "channels")
        self.mode = _validate.one_of(mode, "mode", ("l1", "l2"))
        self.epsilon = _validate.positive_float(epsilon, "epsilon")
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return gct_gate(s, self.gamma, self.beta, self.mode, self.epsilon)
