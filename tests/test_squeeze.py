"""Unit tests of chattn.squeeze: each operator against the formula of the spec, computed naively."""
import math

import pytest
import torch

from chattn import squeeze

torch.set_num_threads(1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- global average pooling -------------------------------------------------------------------------

def test_global_avg_pool_is_mean_over_positions():
    x = torch.randn(2, 3, 4, 5, generator=gen(), dtype=torch.float64)
    expected = torch.stack([torch.stack([x[b, c].sum() / 20 for c in range(3)]) for b in range(2)])
    z = squeeze.global_avg_pool(x)
    assert z.shape == (2, 3)
    torch.testing.assert_close(z, expected)


# --- DCT (FcaNet) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [7, 8, 14])
def test_dct_basis_1d_is_orthonormal(length):
    basis = torch.stack([squeeze.dct_basis_1d(length, f, torch.float64) for f in range(length)])
    torch.testing.assert_close(basis @ basis.T, torch.eye(length, dtype=torch.float64), atol=1e-12, rtol=0)


def test_dct_basis_1d_values():
    # b_0 = 1/sqrt(L);  b_f(p) = sqrt(2/L) cos(pi f (p + 1/2) / L)
    L = 7
    torch.testing.assert_close(squeeze.dct_basis_1d(L, 0, torch.float64),
                               torch.full((L,), 1 / math.sqrt(L), dtype=torch.float64))
    b3 = squeeze.dct_basis_1d(L, 3, torch.float64)
    assert b3[2].item() == pytest.approx(math.sqrt(2 / L) * math.cos(math.pi * 3 * 2.5 / L), abs=1e-14)
    assert squeeze.dct_basis_1d(L, 3).dtype == torch.float32


def test_dct_filters_grouping():
    # C = 12 channels, n = 3 frequencies: g(c) = c // (C / n) = c // 4 (contiguous groups)
    us, vs = [0, 2, 5], [1, 0, 3]
    h, w, C = 7, 8, 12
    weight = squeeze.dct_filters(h, w, us, vs, C)
    assert weight.shape == (C, h, w)
    for c in range(C):
        g = c // (C // len(us))
        expected = torch.outer(squeeze.dct_basis_1d(h, us[g], torch.float64),
                               squeeze.dct_basis_1d(w, vs[g], torch.float64))
        torch.testing.assert_close(weight[c].double(), expected, atol=1e-7, rtol=0)


def test_dct_filters_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="channels"):
        squeeze.dct_filters(7, 7, [0, 1, 2], [0, 0, 0], 16)


def test_multi_spectral_pool_dc_is_sqrt_hw_times_gap():
    h, w = 7, 9
    x = torch.randn(2, 4, h, w, generator=gen(), dtype=torch.float64)
    weight = squeeze.dct_filters(h, w, [0], [0], 4).double()
    y = squeeze.multi_spectral_pool(x, weight)
    torch.testing.assert_close(y, math.sqrt(h * w) * x.mean((2, 3)))


def test_multi_spectral_pool_is_weighted_sum():
    x = torch.randn(2, 4, 7, 7, generator=gen(1))
    weight = torch.randn(4, 7, 7, generator=gen(2))
    expected = (x * weight[None]).sum((2, 3))
    torch.testing.assert_close(squeeze.multi_spectral_pool(x, weight), expected, atol=1e-5, rtol=1e-5)


def test_multi_spectral_pool_module_pools_to_dct_size_first():
    pool = squeeze.MultiSpectralPool(16, 7, 7, "top16")
    x = torch.randn(2, 16, 14, 14, generator=gen())
    expected = squeeze.multi_spectral_pool(torch.nn.functional.avg_pool2d(x, 2), pool.weight)
    torch.testing.assert_close(pool(x), expected)


def test_multi_spectral_pool_module_rescales_frequencies_to_the_7x7_grid():
    # (u, v) on the 7x7 grid becomes (u * dct_h // 7, v * dct_w // 7)
    pool = squeeze.MultiSpectralPool(16, 14, 21, "top16")
    us, vs = squeeze.freq_indices("top16")
    assert pool.us == [2 * u for u in us]
    assert pool.vs == [3 * v for v in vs]
    g = 2  # top16 pair 2 is (6, 0): channel 2 of 16 is in group 2
    expected = torch.outer(squeeze.dct_basis_1d(14, 12), squeeze.dct_basis_1d(21, 0))
    torch.testing.assert_close(pool.weight[g], expected)


SPEC_TABLES = {  # the official get_freq_indices tables, from the spec
    "top": ([0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1],
            [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3]),
    "low": ([0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4],
            [0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3]),
    "bot": ([6, 1, 3, 3, 2, 4, 1, 2, 4, 4, 5, 1, 4, 6, 2, 5, 6, 1, 6, 2, 2, 4, 3, 3, 5, 5, 6, 2, 5, 5, 3, 6],
            [6, 4, 4, 6, 6, 3, 1, 4, 4, 5, 6, 5, 2, 2, 5, 1, 4, 3, 5, 0, 3, 1, 1, 2, 4, 2, 1, 1, 5, 3, 3, 3]),
}


def test_freq_indices_top16_pairs():
    us, vs = squeeze.freq_indices("top16")
    assert list(zip(us, vs)) == [(0, 0), (0, 1), (6, 0), (0, 5), (0, 2), (1, 0), (1, 2), (4, 0),
                                 (5, 0), (1, 6), (3, 0), (0, 4), (0, 6), (0, 3), (3, 5), (2, 2)]


@pytest.mark.parametrize("kind", ["top", "low", "bot"])
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
def test_freq_indices_tables(kind, n):
    us, vs = squeeze.freq_indices(f"{kind}{n}")
    assert list(us) == SPEC_TABLES[kind][0][:n]
    assert list(vs) == SPEC_TABLES[kind][1][:n]


@pytest.mark.parametrize("method", ["top3", "mid16", "top", "TOP16", "top64"])
def test_freq_indices_rejects_unknown_method(method):
    with pytest.raises(ValueError, match="freq_sel_method"):
        squeeze.freq_indices(method)


# --- style pooling (SRM) -------------------------------------------------------------------------------

def test_style_pool_is_mean_and_unbiased_std():
    x = torch.randn(3, 5, 4, 6, generator=gen())
    t = squeeze.style_pool(x.double())
    assert t.shape == (3, 5, 2)
    x64 = x.double().reshape(3, 5, -1)
    torch.testing.assert_close(t[..., 0], x64.mean(-1))
    torch.testing.assert_close(t[..., 1], torch.sqrt(torch.var(x64, dim=-1, unbiased=True) + 1e-5))


def test_style_pool_float32_matches_float64_reference():
    x = torch.randn(2, 4, 8, 8, generator=gen())
    t = squeeze.style_pool(x)
    x64 = x.double().reshape(2, 4, -1)
    ref = torch.sqrt(torch.var(x64, dim=-1) + 1e-5)
    torch.testing.assert_close(t[..., 1].double(), ref, atol=1e-6, rtol=1e-6)


def test_style_pool_is_stable_with_a_large_mean():
    # float32 x = 1e4 + noise: E[x²] - E[x]² would lose every digit of the variance (ulp(1e8) = 8)
    x = 1e4 + torch.randn(2, 4, 16, 16, generator=gen())
    t = squeeze.style_pool(x)
    ref = torch.sqrt(torch.var(x.double().reshape(2, 4, -1), dim=-1) + 1e-5)
    rel = ((t[..., 1].double() - ref).abs() / ref).max().item()
    assert rel < 1e-4
    torch.testing.assert_close(t[..., 0].double(), x.double().mean((2, 3)), atol=1e-3, rtol=0)


def test_style_pool_is_finite_on_1x1_maps():
    x = torch.randn(2, 3, 1, 1, generator=gen())
    t = squeeze.style_pool(x)
    assert torch.isfinite(t).all()
    torch.testing.assert_close(t[..., 0], x[:, :, 0, 0])
    torch.testing.assert_close(t[..., 1], torch.full((2, 3), math.sqrt(1e-5)))


# --- channel embedding (GCT) ---------------------------------------------------------------------------

def test_channel_embedding_l2():
    x = torch.randn(2, 3, 4, 4, generator=gen(), dtype=torch.float64)
    e = squeeze.channel_embedding(x, "l2", epsilon=1e-5)
    torch.testing.assert_close(e, torch.sqrt((x ** 2).sum((2, 3)) + 1e-5))


def test_channel_embedding_l1():
    x = torch.randn(2, 3, 4, 4, generator=gen(), dtype=torch.float64)
    torch.testing.assert_close(squeeze.channel_embedding(x, "l1"), x.abs().sum((2, 3)))
    # after_relu skips the absolute value: a signed sum
    torch.testing.assert_close(squeeze.channel_embedding(x, "l1", after_relu=True), x.sum((2, 3)))


def test_channel_embedding_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        squeeze.channel_embedding(torch.randn(1, 2, 3, 3), "l3")


# --- covariance pooling (GSoP, SoCA) -----------------------------------------------------------------

def test_covariance_pool_equals_centering_matrix_formula():
    b, c, h, w = 2, 5, 3, 4
    m = h * w
    x = torch.randn(b, c, h, w, generator=gen(), dtype=torch.float64)
    i_bar = torch.eye(m, dtype=torch.float64) - torch.ones(m, m, dtype=torch.float64) / m   # Ī = I - 11ᵀ/M
    xs = x.reshape(b, c, m)
    expected = xs @ i_bar @ xs.transpose(1, 2) / m                                         # (1/M) X Ī Xᵀ
    cov = squeeze.covariance_pool(x)
    assert cov.shape == (b, c, c)
    torch.testing.assert_close(cov, expected)
    for k in range(b):
        torch.testing.assert_close(cov[k], torch.cov(xs[k], correction=0))


def test_covariance_pool_with_offset_is_accurate_in_float32():
    x = torch.randn(1, 3, 8, 8, generator=gen())
    cov = squeeze.covariance_pool(x + 1e3)
    ref = torch.cov(x[0].double().reshape(3, -1), correction=0)
    torch.testing.assert_close(cov[0].double(), ref, atol=1e-3, rtol=1e-3)


# --- Newton-Schulz matrix square root (SoCA / MPN-COV) -------------------------------------------------

def spd(n=6, lo=1.0, hi=3.0, dtype=torch.float64, seed=0):
    """A well-conditioned SPD matrix Q diag(λ) Qᵀ with λ in [lo, hi], and its exact square root."""
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen(seed), dtype=torch.float64))
    lam = torch.linspace(lo, hi, n, dtype=torch.float64)
    a = q @ torch.diag(lam) @ q.T
    root = q @ torch.diag(lam.sqrt()) @ q.T
    return a[None].to(dtype), root[None].to(dtype)


def test_newton_schulz_reference_is_the_eigendecomposition_root():
    a, root = spd()
    lam, vec = torch.linalg.eigh(a[0])
    torch.testing.assert_close(root[0], vec @ torch.diag(lam.sqrt()) @ vec.T)


def test_newton_schulz_converges_to_the_square_root():
    a, root = spd()
    errors = [((squeeze.newton_schulz_sqrt(a, k) - root).norm() / root.norm()).item() for k in range(1, 21)]
    assert all(later <= earlier * (1 + 1e-9) + 1e-14 for earlier, later in zip(errors, errors[1:])), errors
    assert errors[0] > 1e-1          # one step is far from the root ...
    assert errors[14] < 1e-8         # ... 15 steps are at it
    assert errors[19] < 1e-12


def test_newton_schulz_is_not_exact_at_five_iterations_on_a_sample_covariance():
    # the spec: 5 steps on a 16x16 sample covariance of 49 positions are ~5% off sqrtm
    x = torch.randn(1, 16, 7, 7, generator=gen(3), dtype=torch.float64)
    cov = squeeze.covariance_pool(x)
    lam, vec = torch.linalg.eigh(cov[0])
    root = vec @ torch.diag(lam.clamp_min(0).sqrt()) @ vec.T
    rel5 = ((squeeze.newton_schulz_sqrt(cov, 5)[0] - root).norm() / root.norm()).item()
    rel20 = ((squeeze.newton_schulz_sqrt(cov, 20)[0] - root).norm() / root.norm()).item()
    assert rel5 > 1e-2
    assert rel20 < rel5 / 10


def test_newton_schulz_one_iteration_is_the_y_iterate():
    a, _ = spd(5, seed=1)
    tr = a.diagonal(dim1=-2, dim2=-1).sum(-1)[:, None, None]
    an = a / tr
    eye = torch.eye(5, dtype=a.dtype)
    expected_y = 0.5 * an @ (3 * eye - an) * tr.sqrt()      # ½A(3I − A)·√tr
    official_z = 0.5 * (3 * eye - an) * tr.sqrt()           # ½(3I − A)·√tr, the official iterN=1 bug
    out = squeeze.newton_schulz_sqrt(a, 1)
    torch.testing.assert_close(out, expected_y)
    assert not torch.allclose(out, official_z, atol=1e-3)


def test_newton_schulz_works_in_float64():
    a, root = spd(8, seed=2)
    out = squeeze.newton_schulz_sqrt(a, 20)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, root, atol=1e-12, rtol=1e-12)


def test_newton_schulz_float32_and_batched():
    a1, r1 = spd(6, seed=4)
    a2, r2 = spd(6, lo=0.5, hi=2.0, seed=5)
    a, root = torch.cat([a1, a2]).float(), torch.cat([r1, r2]).float()
    out = squeeze.newton_schulz_sqrt(a, 20)
    assert out.dtype == torch.float32 and out.shape == (2, 6, 6)
    torch.testing.assert_close(out, root, atol=1e-5, rtol=1e-5)


def test_newton_schulz_zero_matrix_is_finite_zero():
    out = squeeze.newton_schulz_sqrt(torch.zeros(2, 4, 4), 5)
    assert torch.isfinite(out).all()
    assert torch.equal(out, torch.zeros(2, 4, 4))


# --- encoding (EncNet) -----------------------------------------------------------------------------------

def naive_encoding(x, codewords, scale):
    """The B x N x K x D computation of the official CPU kernel, softmax over the K codewords."""
    b, d = x.shape[:2]
    xs = x.reshape(b, d, -1).transpose(1, 2)                      # (B, N, D)
    r = xs[:, :, None, :] - codewords[None, None]                 # (B, N, K, D) residuals x_i - d_k
    sl = scale[None, None, :] * (r ** 2).sum(-1)                  # (B, N, K)
    a = torch.softmax(sl, dim=2)                                  # over K
    e = (a[..., None] * r).sum(1)                                 # (B, K, D)
    return e, a


def test_encoding_aggregate_equals_naive_computation():
    x = torch.randn(2, 6, 3, 4, generator=gen(), dtype=torch.float64)
    codewords = torch.randn(5, 6, generator=gen(1), dtype=torch.float64)
    scale = -torch.rand(5, generator=gen(2), dtype=torch.float64)
    e, a = squeeze.encoding_aggregate(x, codewords, scale)
    e_ref, a_ref = naive_encoding(x, codewords, scale)
    assert e.shape == (2, 5, 6) and a.shape == (2, 12, 5)
    torch.testing.assert_close(a, a_ref)
    torch.testing.assert_close(e, e_ref)


def test_encoding_softmax_is_over_codewords():
    x = torch.randn(2, 4, 5, 5, generator=gen())
    enc = squeeze.Encoding(D=4, K=3)
    a = enc.assignments(x)
    assert a.shape == (2, 25, 3)
    torch.testing.assert_close(a.sum(2), torch.ones(2, 25))          # sums to one over K
    assert not torch.allclose(a.sum(1), torch.ones(2, 3))            # not over the N positions


def test_encoding_module_init_ranges():
    torch.manual_seed(0)
    enc = squeeze.Encoding(D=8, K=4)
    bound = 1 / math.sqrt(4 * 8)
    assert enc.codewords.shape == (4, 8) and enc.scale.shape == (4,)
    assert enc.codewords.abs().max() <= bound
    assert ((enc.scale >= -1) & (enc.scale <= 0)).all()


# --- bilinear triangle (BAT-net) -------------------------------------------------------------------

def official_triangle(r):
    """The official per-pixel loop: outer product, then torch.diagonal(offset=-i) for i = 0..c-1."""
    b, c, h, w = r.shape
    p = r.permute(0, 2, 3, 1)                                     # (B, H, W, c)
    outer = p[..., :, None] * p[..., None, :]                     # (B, H, W, c, c)
    parts = [torch.diagonal(outer, offset=-i, dim1=-2, dim2=-1) for i in range(c)]
    return torch.cat(parts, dim=-1).permute(0, 3, 1, 2)           # (B, c(c+1)/2, H, W)


@pytest.mark.parametrize("c", [1, 2, 5])
def test_bilinear_triangle_order(c):
    r = torch.randn(2, c, 3, 4, generator=gen(c))
    out = squeeze.bilinear_triangle(r)
    assert out.shape == (2, c * (c + 1) // 2, 3, 4)
    torch.testing.assert_close(out, official_triangle(r))


def test_newton_schulz_zero_matrix_has_finite_gradient():
    # a constant feature map has a zero covariance; its gradient must not poison training with NaN
    a = torch.zeros(2, 4, 4, requires_grad=True)
    squeeze.newton_schulz_sqrt(a, 5).sum().backward()
    assert torch.isfinite(a.grad).all()


def test_newton_schulz_gradient_matches_finite_differences():
    a, _ = spd(4, seed=6)
    a = a.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m: squeeze.newton_schulz_sqrt((m + m.transpose(1, 2)) / 2, 5), (a,))
