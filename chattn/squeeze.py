r"""Squeeze operators: what each module summarises a (B, C, H, W) feature map into.

Plain functions (and two thin modules that own buffers or parameters). Each one is the
formula of the paper it comes from, with the official code's conventions:

======================  ===============================  ==================
operator                output                           used by
======================  ===============================  ==================
global_avg_pool         (B, C)                           SE, ECA, RCAN, DIA
multi_spectral_pool     (B, C)                           FcaNet
style_pool              (B, C, 2): mean, std             SRM
channel_embedding       (B, C): l2 / l1 norm             GCT
covariance_pool         (B, C, C)                        GSoP, SoCA
newton_schulz_sqrt      (B, C, C)                        SoCA (MPN-COV)
encoding_aggregate      (B, K, D)                        EncNet
bilinear_triangle       (B, c(c+1)/2, H, W)              bilinear attention
======================  ===============================  ==================
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import _validate

__all__ = [
    "global_avg_pool", "dct_basis_1d", "dct_filters", "freq_indices", "multi_spectral_pool",
    "MultiSpectralPool", "style_pool", "channel_embedding", "covariance_pool", "newton_schulz_sqrt",
    "encoding_aggregate", "Encoding", "bilinear_triangle", "triangle_indices",
]


# --- first order -----------------------------------------------------------------------------

def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    r"""Global average pooling, :math:`z_c = \frac{1}{HW}\sum_{h,w} X_{c,h,w}`.

    Args:
        x: the feature map ``(B, C, H, W)``.

    Shape: ``(B, C, H, W) -> (B, C)``.
    """
    return x.mean((2, 3))


# --- frequency: the 2-D DCT (FcaNet) -----------------------------------------------------------

# FcaNet's frequency tables (``get_freq_indices``): (u, v) on a 7x7 grid, best first.
_FREQ_TABLES = {
    "top": ([0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1],
            [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3]),
    "low": ([0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4],
            [0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3]),
    "bot": ([6, 1, 3, 3, 2, 4, 1, 2, 4, 4, 5, 1, 4, 6, 2, 5, 6, 1, 6, 2, 2, 4, 3, 3, 5, 5, 6, 2, 5, 5, 3, 6],
            [6, 4, 4, 6, 6, 3, 1, 4, 4, 5, 6, 5, 2, 2, 5, 1, 4, 3, 5, 0, 3, 1, 1, 2, 4, 2, 1, 1, 5, 3, 3, 3]),
}
FREQ_METHODS = tuple(f"{kind}{n}" for kind in ("top", "low", "bot") for n in (1, 2, 4, 8, 16, 32))


def freq_indices(method: str = "top16") -> tuple[list[int], list[int]]:
    """The ``n`` (u, v) frequency pairs of FcaNet's ``freq_sel_method`` on the 7x7 grid.

    ``u`` indexes the height axis, ``v`` the width axis. ``method`` is ``top|low|bot`` followed by
    ``1, 2, 4, 8, 16`` or ``32``.

    Args:
        method: ``top|low|bot`` and a count, e.g. ``top16``.
    """
    _validate.one_of(method, "freq_sel_method", FREQ_METHODS)
    n = int(method[3:])
    xs, ys = _FREQ_TABLES[method[:3]]
    return xs[:n], ys[:n]


def dct_basis_1d(length: int, freq: int, dtype=torch.float32) -> torch.Tensor:
    r"""Orthonormal DCT-II basis vector :math:`b_f(p) = \cos(\pi f (p + \tfrac12)/L)/\sqrt{L}`,
    times :math:`\sqrt2` for :math:`f \neq 0`. Shape ``(L,)``.

    Args:
        length: L, the number of positions.
        freq: f, the frequency.
        dtype: of the result (computed in float64).
    """
    pos = torch.arange(length, dtype=torch.float64)
    b = torch.cos(math.pi * freq * (pos + 0.5) / length) / math.sqrt(length)
    if freq != 0:
        b = b * math.sqrt(2.0)
    return b.to(dtype)


def dct_filters(dct_h: int, dct_w: int, us, vs, channels: int) -> torch.Tensor:
    r"""FcaNet's DCT weight: channel group ``g`` gets the 2-D basis
    :math:`B_{u_g, v_g}[h, w] = b_{u_g}(h)\, b_{v_g}(w)`.

    Channels are split into ``n = len(us)`` contiguous groups of ``C / n``. Shape ``(C, dct_h, dct_w)``.

    Args:
        dct_h: height of the basis.
        dct_w: width of the basis.
        us: the height frequency of each group.
        vs: the width frequency of each group.
        channels: C, divisible by ``len(us)``.
    """
    n = len(us)
    if len(vs) != n:
        raise ValueError(f"us and vs must have the same length, got {len(us)} and {len(vs)}")
    if channels % n != 0:
        raise ValueError(f"channels={channels} must be divisible by the number of frequencies ({n})")
    weight = torch.empty(channels, dct_h, dct_w)
    part = channels // n
    for g, (u, v) in enumerate(zip(us, vs)):
        weight[g * part:(g + 1) * part] = torch.outer(dct_basis_1d(dct_h, u), dct_basis_1d(dct_w, v))
    return weight


def multi_spectral_pool(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Multi-spectral pooling, :math:`y_c = \sum_{h,w} X_{c,h,w}\, B_{g(c)}[h, w]`.

    With the DC basis (u = v = 0) this is :math:`\sqrt{HW}\cdot\mathrm{GAP}(X)`, not GAP.

    Computed as C batched (1 x HW) @ (HW x B) products on a view of X: no copy of X.

    Args:
        x: the feature map ``(B, C, H, W)``.
        weight: the DCT weight ``(C, H, W)`` (:func:`dct_filters`).

    Shape: ``x (B, C, H, W)``, ``weight (C, H, W)`` -> ``(B, C)``.
    """
    b, c = x.shape[:2]
    w = weight.to(x.dtype).reshape(c, 1, -1)            # (C, 1, HW)
    xt = x.reshape(b, c, -1).permute(1, 2, 0)           # (C, HW, B)
    return torch.bmm(w, xt)[:, 0, :].t()                # (B, C)


class MultiSpectralPool(nn.Module):
    """FcaNet's squeeze as a module: adaptive-average-pool to ``(dct_h, dct_w)`` if needed, then
    :func:`multi_spectral_pool` with the fixed DCT weight (a persistent buffer named ``weight``,
    as in the official ``MultiSpectralDCTLayer``).

    Args:
        channels: C, divisible by the number of frequencies.
        dct_h, dct_w: DCT size (at least 7: frequencies live on a 7x7 grid scaled by ``dct_h // 7``).
        freq_sel_method: ``top16`` (default), ``low4``, ``bot32`` ...

    Shape: ``(B, C, H, W) -> (B, C)`` with ``H >= dct_h`` and ``W >= dct_w``.
    """

    def __init__(self, channels: int, dct_h: int = 7, dct_w: int = 7, freq_sel_method: str = "top16"):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.dct_h = _validate.positive_int(dct_h, "dct_h", minimum=7)
        self.dct_w = _validate.positive_int(dct_w, "dct_w", minimum=7)
        us, vs = freq_indices(freq_sel_method)
        if channels % len(us) != 0:
            raise ValueError(f"channels={channels} must be divisible by the number of frequencies "
                             f"of freq_sel_method={freq_sel_method!r} ({len(us)})")
        self.freq_sel_method = freq_sel_method
        # make the frequencies of every DCT size live on the same 7x7 grid: (2,2) at 14x14 is (1,1) at 7x7
        self.us = [u * (dct_h // 7) for u in us]
        self.vs = [v * (dct_w // 7) for v in vs]
        self.register_buffer("weight", dct_filters(dct_h, dct_w, self.us, self.vs, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < self.dct_h or w < self.dct_w:
            raise ValueError(f"x has spatial size {(h, w)}, smaller than the DCT size "
                             f"(dct_h, dct_w)={(self.dct_h, self.dct_w)}; build the module with a smaller DCT")
        if (h, w) != (self.dct_h, self.dct_w):
            x = nn.functional.adaptive_avg_pool2d(x, (self.dct_h, self.dct_w))
        return multi_spectral_pool(x, self.weight)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, dct=({self.dct_h}, {self.dct_w}), freq_sel_method={self.freq_sel_method!r}"


# --- style and norms -----------------------------------------------------------------------------

def style_pool(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r"""SRM's style pooling: per channel mean and standard deviation.

    .. math::
        \mu_c = \tfrac{1}{N}\textstyle\sum_{h,w} X_{c,h,w}, \qquad
        \sigma_c = \sqrt{\tfrac{1}{N-1}\textstyle\sum_{h,w} (X_{c,h,w}-\mu_c)^2 + \epsilon}

    with ``N = HW`` (unbiased, as the official code after commit f6221c7). On a 1x1 map the
    official code divides by ``N - 1 = 0`` (NaN); here the denominator is ``max(N - 1, 1)`` so
    the deviation is :math:`\sqrt{\epsilon}`.

    Two passes (mean, then the norm of the centred map) instead of ``torch.std``: as stable, and
    several times faster on a CPU.

    Args:
        x: the feature map ``(B, C, H, W)``.
        eps: added to the variance before the square root.

    Shape: ``(B, C, H, W) -> (B, C, 2)``.
    """
    n = x.shape[2] * x.shape[3]
    mu = x.mean((2, 3))                                                   # (B, C)
    ss = torch.linalg.vector_norm(x - mu[:, :, None, None], dim=(2, 3))   # (B, C)
    sigma = torch.sqrt(ss * ss / max(n - 1, 1) + eps)
    return torch.stack((mu, sigma), dim=2)                                # (B, C, 2)


def channel_embedding(x: torch.Tensor, mode: str = "l2", epsilon: float = 1e-5,
                      after_relu: bool = False) -> torch.Tensor:
    r"""GCT's global context embedding (before the learnable :math:`\alpha`).

    ``l2``: :math:`\sqrt{\sum_{h,w} X_c^2 + \epsilon}`;  ``l1``: :math:`\sum_{h,w} |X_c|`
    (the absolute value is skipped when ``after_relu``). Shape ``(B, C, H, W) -> (B, C)``.

    Args:
        x: the feature map ``(B, C, H, W)``.
        mode: ``'l2'`` or ``'l1'``.
        epsilon: added inside the square root (``l2``).
        after_relu: in ``l1`` mode, skip the absolute value (non-negative input).
    """
    _validate.one_of(mode, "mode", ("l1", "l2"))
    if mode == "l2":
        return torch.sqrt(torch.linalg.vector_norm(x, dim=(2, 3)).square() + epsilon)
    return x.sum((2, 3)) if after_relu else torch.linalg.vector_norm(x, ord=1, dim=(2, 3))


# --- second order -------------------------------------------------------------------------------

def covariance_pool(x: torch.Tensor) -> torch.Tensor:
    r"""Covariance of the channels over the ``M = HW`` positions (population, divided by M).

    .. math::
        \Sigma = \tfrac{1}{M} (X - \mu)(X - \mu)^\top

    This equals MPN-COV's :math:`\frac1M X \bar I X^\top` with :math:`\bar I = I - \frac1M 1 1^\top`
    without building the M x M matrix :math:`\bar I`.

    Args:
        x: the feature map ``(B, C, H, W)``.

    Shape: ``(B, C, H, W) -> (B, C, C)``.
    """
    b, c, h, w = x.shape
    z = x.reshape(b, c, h * w)
    z = z - z.mean(dim=2, keepdim=True)                 # (B, C, M), centred
    return torch.bmm(z, z.transpose(1, 2)) / (h * w)    # (B, C, C)


def newton_schulz_sqrt(a: torch.Tensor, iterations: int = 5, eps: float = 1e-12) -> torch.Tensor:
    r"""Matrix square root of SPD matrices by the coupled Newton–Schulz iteration (MPN-COV / iSQRT-COV).

    .. math::
        A = \Sigma / \mathrm{tr}\,\Sigma, \quad Y_0 = A,\; Z_0 = I,

        T_k = \tfrac12 (3I - Z_{k-1} Y_{k-1}),\; Y_k = Y_{k-1} T_k,\; Z_k = T_k Z_{k-1},

        Y_N = \tfrac12 Y_{N-1} (3I - Z_{N-1} Y_{N-1}), \qquad
        \sqrt{\Sigma} \approx \sqrt{\mathrm{tr}\,\Sigma}\; Y_N .

    With ``iterations = 1`` this is :math:`\frac12 A (3I - A)` (the official code returned the Z
    iterate there). A zero matrix (a constant feature map) has trace 0: the trace is clamped at
    ``eps``, so the result (zero) and its gradient are finite. Computes in the input's dtype.

    Args:
        a: SPD matrices ``(B, C, C)``.
        iterations: N, the Newton–Schulz steps.
        eps: the smallest trace divided by (a zero matrix stays finite).

    Shape: ``(B, n, n) -> (B, n, n)``.
    """
    iterations = _validate.positive_int(iterations, "iterations")
    n = a.shape[-1]
    eye = torch.eye(n, dtype=a.dtype, device=a.device).expand_as(a)
    trace = a.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(eps)      # (B,)  tr Σ, kept off zero
    y = a / trace[:, None, None]                                     # A = Σ / tr Σ
    z = eye
    for _ in range(iterations - 1):
        t = 0.5 * (3.0 * eye - z.bmm(y))
        y, z = y.bmm(t), t.bmm(z)
    y = 0.5 * y.bmm(3.0 * eye - z.bmm(y))
    return y * trace.sqrt()[:, None, None]


# --- encoding (EncNet) ------------------------------------------------------------------------------

def encoding_aggregate(x: torch.Tensor, codewords: torch.Tensor, scale: torch.Tensor):
    r"""EncNet's Encoding layer: soft-assign the N = HW descriptors to K codewords and aggregate
    the residuals.

    .. math::
        a_{ik} = \mathrm{softmax}_k\big(s_k \lVert x_i - d_k \rVert^2\big), \qquad
        e_k = \textstyle\sum_i a_{ik} (x_i - d_k)

    (the official code adds :math:`s_k`, initialised negative; the paper writes :math:`-s_k`).
    Computed as :math:`A^\top X - (\sum_i a_{ik}) d_k` without the (B, N, K, D) residual tensor.

    Args:
        x: the feature map ``(B, D, H, W)`` (N = HW descriptors).
        codewords: ``(K, D)``.
        scale: smoothing factors ``(K,)``.

    Shape: ``x (B, D, H, W)``, ``codewords (K, D)``, ``scale (K,)`` -> ``(E (B, K, D), A (B, N, K))``.
    """
    b, d = x.shape[:2]
    xt = x.reshape(b, d, -1).transpose(1, 2)                                     # (B, N, D)
    c = codewords.to(x.dtype)
    dist = (xt.square().sum(-1, keepdim=True) - 2 * xt @ c.t()
            + c.square().sum(-1)[None, None, :]).clamp_min(0)                    # (B, N, K) = ||x_i - d_k||²
    assign = torch.softmax(scale.to(x.dtype)[None, None, :] * dist, dim=2)       # (B, N, K)
    e = assign.transpose(1, 2) @ xt - assign.sum(1)[:, :, None] * c[None]        # (B, K, D)
    return e, assign


class Encoding(nn.Module):
    r"""EncNet's Encoding layer with the official parameters ``codewords (K, D)`` and ``scale (K,)``.

    Init as the official code: :math:`d_k \sim U(\pm 1/\sqrt{KD})`, :math:`s_k \sim U(-1, 0)`.

    Args:
        D: descriptor size (the channels C).
        K: number of codewords.

    Shape: ``(B, D, H, W) -> (B, K, D)``; :meth:`assignments` gives the ``(B, N, K)`` soft assignment.
    """

    def __init__(self, D: int, K: int):
        super().__init__()
        self.D = _validate.positive_int(D, "D")
        self.K = _validate.positive_int(K, "ncodes")
        self.codewords = nn.Parameter(torch.empty(K, D))
        self.scale = nn.Parameter(torch.empty(K))
        self.reset_parameters()

    def reset_parameters(self):
        std = 1.0 / math.sqrt(self.K * self.D)
        nn.init.uniform_(self.codewords, -std, std)
        nn.init.uniform_(self.scale, -1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return encoding_aggregate(x, self.codewords, self.scale)[0]

    def assignments(self, x: torch.Tensor) -> torch.Tensor:
        """Soft assignment :math:`a_{ik}` of each position to each codeword: ``(B, D, H, W) -> (B, N, K)``."""
        return encoding_aggregate(x, self.codewords, self.scale)[1]

    def extra_repr(self) -> str:
        return f"D={self.D}, K={self.K}"


# --- bilinear (BAT-net) --------------------------------------------------------------------------

def triangle_indices(c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the lower triangle of a c x c matrix, diagonal by diagonal
    (offsets 0, -1, ..., -(c-1)), as the official ``torch.diagonal(P, offset=-i)`` loop.

    Args:
        c: the matrix side.
    """
    rows = [j + i for i in range(c) for j in range(c - i)]
    cols = [j for i in range(c) for j in range(c - i)]
    return torch.tensor(rows), torch.tensor(cols)


def bilinear_triangle(r: torch.Tensor) -> torch.Tensor:
    r"""Per-pixel bilinear pooling :math:`b_p = \mathrm{Vec}(\mathrm{Utri}(r_p r_p^\top))`.

    Gathers the ``c(c+1)/2`` distinct products :math:`r_{p,i} r_{p,j}` directly, without the
    (B, H, W, c, c) outer product. Shape ``(B, c, H, W) -> (B, c(c+1)/2, H, W)``.

    Args:
        r: the reduced map ``(B, c, H, W)``.
    """
    rows, cols = triangle_indices(r.shape[1])
    return r[:, rows.to(r.device)] * r[:, cols.to(r.device)]
