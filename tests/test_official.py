"""Each chattn module against an independent transcription of its official implementation.

For every module: the state_dict has the official keys and shapes; a randomised official state_dict
loads with ``strict=True``; the outputs (and the BatchNorm running statistics a training step
leaves) agree in train and eval mode; the parameter count is the spec's formula
(from the official papers and code); ``chattn.create`` builds it from the official option names.
The references live in ``tests/reference.py``.
"""
from __future__ import annotations

import math
import os
import sys

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import chattn
from chattn import squeeze

sys.path.insert(0, os.path.dirname(__file__))
import reference as ref  # noqa: E402

torch.set_num_threads(1)

B = 3   # batch: >= 2 for the BatchNorms over pooled statistics


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layout(module: nn.Module) -> dict:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@torch.no_grad()
def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Move every parameter and BatchNorm statistic away from its initial value, keeping its scale:
    constant-initialised tensors (BN affine, GCT, SRM's zero cfc) get N(0, 0.5) noise, the others
    a random factor in [0.5, 1.5] plus noise of their own size."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        spread = p.std().item() if p.numel() > 1 else 0.0
        noise = torch.randn(p.shape, generator=g)
        if spread == 0.0:
            p.add_(0.5 * noise)
        else:
            p.mul_(0.5 + torch.rand(p.shape, generator=g)).add_(0.3 * spread * noise)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=g))
            m.num_batches_tracked.fill_(11)
    return module


def load_official(ours: nn.Module, official: nn.Module, seed: int = 0) -> None:
    """Same keys and shapes; every non-BN buffer (e.g. FcaNet's DCT weight) already equal before
    loading; then load the randomised official weights into ours with strict=True."""
    assert layout(ours) == layout(official)
    bn_stats = ("running_mean", "running_var", "num_batches_tracked")
    theirs = official.state_dict()
    for name, buf in ours.named_buffers():
        if not name.endswith(bn_stats):
            assert_close(buf, theirs[name], rtol=0, atol=1e-7, msg=f"buffer {name}")
    randomise(official, seed)
    ours.load_state_dict(official.state_dict(), strict=True)


def assert_same_outputs(ours, official, make_input, seed=1, outputs=lambda y: y):
    """Train step (outputs and the running statistics it leaves), then eval, on fresh inputs."""
    g = torch.Generator().manual_seed(seed)
    for training in (True, False):
        ours.train(training)
        official.train(training)
        x = make_input(g)
        got, want = outputs(ours(x.clone())), outputs(official(x.clone()))
        if not isinstance(got, tuple):
            got, want = (got,), (want,)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            assert b.std() > 0                      # not a trivially constant output
            assert_close(a, b)
        if training:
            assert_close(ours.state_dict(), official.state_dict())


def randn(*shape):
    return lambda g: torch.randn(*shape, generator=g)


# --- one equivalence test per module -------------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
def test_se(bias):
    official = ref.SELayer(32, reduction=8, bias=bias)
    ours = chattn.create("se", 32, reduction=8, bias=bias)
    assert set(layout(ours)) == ({"fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"} if bias
                                 else {"fc.0.weight", "fc.2.weight"})
    load_official(ours, official)
    assert_same_outputs(ours, official, randn(B, 32, 5, 6))


@pytest.mark.parametrize("num_classes", [None, 5])
def test_enc(num_classes):
    official = ref.EncModule(16, num_classes, ncodes=6, se_loss=num_classes is not None)
    ours = chattn.create("enc", 16, ncodes=6, num_classes=num_classes)
    assert layout(ours)["encoding.3.codewords"] == (6, 16)
    assert layout(ours)["encoding.4.running_mean"] == (6,)
    load_official(ours, official)
    # official returns a tuple (y,) or (y, se_logits); ours y or (y, logits): compare both outputs
    as_tuple = lambda y: y if isinstance(y, tuple) else (y,)    # noqa: E731
    assert_same_outputs(ours, official, randn(B, 16, 5, 4), outputs=as_tuple)


@pytest.mark.parametrize("stride", [1, 2])
def test_gsop(stride):
    official = ref.GSoPBlock(32, att_dim=8, stride=stride)
    ours = chattn.create("gsop", 32, att_dim=8, stride=stride)
    assert layout(ours)["row_conv_group.weight"] == (32, 1, 8, 1)
    load_official(ours, official)
    assert_same_outputs(ours, official, randn(B, 32, 6, 5))


@pytest.mark.parametrize("dct, size, method", [(7, 7, "top16"), (7, 9, "low4"), (14, 14, "bot8")])
def test_fca(dct, size, method):
    official = ref.MultiSpectralAttentionLayer(32, dct, dct, reduction=4, freq_sel_method=method)
    ours = chattn.create("fca", 32, dct_h=dct, dct_w=dct, reduction=4, freq_sel_method=method)
    assert layout(ours) == {"dct_layer.weight": (32, dct, dct), "fc.0.weight": (8, 32), "fc.2.weight": (32, 8)}
    assert "dct_layer.weight" not in dict(ours.named_parameters())    # a buffer, as the official
    load_official(ours, official)                                     # checks the DCT buffer first
    assert_same_outputs(ours, official, randn(B, 32, size, size))


def test_bilinear():
    official = ref.BilinearAttention(64, 64)
    ours = chattn.create("bilinear", 64)
    assert layout(ours)["dimReduceLayer2.conv.conv.weight"] == (64, 10, 1, 1)   # c = 4, c2 = 10
    load_official(ours, official)
    assert_same_outputs(ours, official, randn(B, 64, 5, 4))


@pytest.mark.parametrize("k_size", [3, 5])
def test_eca(k_size):
    official = ref.eca_layer(16, k_size=k_size)
    ours = chattn.create("eca", 16, k_size=k_size)
    assert layout(ours) == {"conv.weight": (1, 1, k_size)}
    load_official(ours, official)
    assert_same_outputs(ours, official, randn(B, 16, 4, 5))


def test_rcan_ca():
    official = ref.CALayer(32, reduction=8)
    ours = chattn.create("rcan_ca", 32, reduction=8)
    assert layout(ours)["conv_du.0.weight"] == (4, 32, 1, 1)
    load_official(ours, official)
    assert_same_outputs(ours, official, randn(B, 32, 6, 6))


def test_dia_sequence():
    """Three steps of one shared cell, from h0 = c0 = 0, as DIANet's ``Attention`` over a stage."""
    official = ref.DIAttention(16)
    ours = chattn.create("dia", 16)
    assert layout(ours)["lstm.w_ih.0.seq.2.weight"] == (64, 4)
    load_official(ours, official)
    g = torch.Generator().manual_seed(2)
    for training in (True, False):      # dropout acts only between stacked layers: train == eval
        ours.train(training)
        official.train(training)
        xs = [torch.randn(B, 16, 4, 4, generator=g) for _ in range(3)]
        want = official(xs)
        state = None
        for x, w in zip(xs, want):
            y, state = ours(x, state)
            assert_close(y, w)
        assert state[0].shape == (B, 16)


@pytest.mark.parametrize("size, scale", [((5, 6), 1.0), ((1, 2), 1.0), ((4, 4), 1e-3)])
def test_srm(size, scale):
    """At scale 1e-3 the variance (~1e-6) is below the 1e-5 inside the square root."""
    official = ref.SRMLayer(16)
    ours = chattn.create("srm", 16)
    assert layout(ours)["cfc"] == (16, 2)
    load_official(ours, official)
    assert_same_outputs(ours, official, lambda g: scale * torch.randn(B, 16, *size, generator=g))


@pytest.mark.parametrize("mode, after_relu, signed, epsilon", [
    ("l2", False, True, 1e-5), ("l1", False, True, 1e-5), ("l1", True, False, 1e-5), ("l1", True, True, 1e-5),
    ("l2", False, True, 3.0), ("l1", False, True, 3.0)])   # a large epsilon shows where it is added
def test_gct(mode, after_relu, signed, epsilon):
    official = ref.GCT(16, epsilon=epsilon, mode=mode, after_relu=after_relu)
    ours = chattn.create("gct", 16, epsilon=epsilon, mode=mode, after_relu=after_relu)
    assert layout(ours) == {"alpha": (1, 16, 1, 1), "gamma": (1, 16, 1, 1), "beta": (1, 16, 1, 1)}
    load_official(ours, official)
    # with after_relu the official code skips |x| even on a signed input: so must we
    make = randn(B, 16, 5, 5) if signed else (lambda g: torch.randn(B, 16, 5, 5, generator=g).relu())
    assert_same_outputs(ours, official, make)


@pytest.mark.parametrize("iterN, size", [(5, (6, 6)), (3, (4, 7)), (5, (2, 1003))])
def test_soca(iterN, size):
    """The last case crosses SAN's 1000-pixel crop (width cropped to its centre 1000)."""
    c = 16 if size[1] < 1000 else 4
    official = ref.SOCA(c, reduction=2, iterN=iterN)
    ours = chattn.create("soca", c, reduction=2, iterN=iterN)
    assert layout(ours)["conv_du.2.weight"] == (c, c // 2, 1, 1)
    load_official(ours, official)
    assert_same_outputs(ours, official, lambda g: 1 + torch.randn(B, c, *size, generator=g))


# --- the references themselves agree with the spec's formulas (they are not the code under test) ----

def test_reference_covpool_is_centred_covariance():
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    z = x.flatten(2) - x.flatten(2).mean(2, keepdim=True)
    assert_close(ref.covpool(x), z @ z.transpose(1, 2) / 12)


def test_reference_sqrtm_is_newton_schulz_not_exact():
    """Spec: 5 NS steps are an approximation (several % off on a sample covariance), 8+ converge."""
    x = torch.randn(1, 16, 7, 7, dtype=torch.float64)
    cov = ref.covpool(x)
    evals, evecs = torch.linalg.eigh(cov)
    exact = evecs @ torch.diag_embed(evals.clamp_min(0).sqrt()) @ evecs.transpose(1, 2)
    rel = lambda a: ((a - exact).norm() / exact.norm()).item()   # noqa: E731
    assert rel(ref.sqrtm(cov, 5)) > 1e-2
    assert rel(ref.sqrtm(cov, 12)) < 1e-3


# --- parameter formulas (spec) ---------------------------------------------------------------------

@pytest.mark.parametrize("c", [64, 256, 2048])
def test_params_se_fca_rcan_soca(c):
    r = 16
    assert n_params(chattn.create("se", c, reduction=r)) == 2 * c * c // r
    assert n_params(chattn.create("se", c, reduction=r, bias=True)) == 2 * c * c // r + c // r + c
    assert n_params(chattn.create("fca", c, dct_h=7, dct_w=7, reduction=r)) == 2 * c * c // r
    assert n_params(chattn.create("rcan_ca", c, reduction=r)) == 2 * c * c // r + c // r + c
    assert n_params(chattn.create("soca", c, reduction=8)) == 2 * c * c // 8 + c // 8 + c
    assert n_params(ref.SELayer(c, r, bias=True)) == 2 * c * c // r + c // r + c


def test_params_spec_values():
    assert n_params(chattn.create("rcan_ca", 64, reduction=16)) == 580
    assert n_params(chattn.create("soca", 64, reduction=8)) == 1_096
    assert n_params(chattn.create("soca", 64)) == 580          # SAN's effective r = 16
    assert n_params(chattn.create("bilinear", 480)) == 463_770
    assert n_params(ref.BilinearAttention(480, 480)) == 463_770
    assert n_params(chattn.create("enc", 512, ncodes=32)) == 542_304
    assert n_params(ref.EncModule(512, 0, ncodes=32, se_loss=False)) == 542_304


@pytest.mark.parametrize("c, expected", [(256, 230_784), (512, 394_880), (1024, 723_072), (2048, 1_379_456)])
def test_params_gsop(c, expected):
    d = 128
    assert 5 * d * c + c + 4 * d * d + 9 * d == expected
    assert n_params(chattn.create("gsop", c, att_dim=d)) == expected
    assert n_params(ref.GSoPBlock(c, att_dim=d)) == expected


@pytest.mark.parametrize("c, d", [(64, 16), (96, 8)])
def test_params_gsop_formula(c, d):
    assert n_params(chattn.create("gsop", c, att_dim=d)) == 5 * d * c + c + 4 * d * d + 9 * d


@pytest.mark.parametrize("c", [64, 480, 832])
def test_params_bilinear(c):
    m = c // 16
    c2 = m * (m + 1) // 2
    assert n_params(chattn.create("bilinear", c)) == c * m + 3 * m + 2 * c2 * c + 6 * c


@pytest.mark.parametrize("c, expected", [(64, 10_784), (128, 42_048), (256, 166_016)])
def test_params_dia(c, expected):
    assert 2.5 * c * c + 8.5 * c == expected
    assert n_params(chattn.create("dia", c)) == expected
    assert n_params(ref.LSTMCell(c, c, 1)) == expected


@pytest.mark.parametrize("c", [16, 64, 256])
def test_params_srm_gct_eca(c):
    assert n_params(chattn.create("srm", c)) == 4 * c
    assert n_params(chattn.create("gct", c)) == 3 * c
    for k in (1, 3, 7):
        assert n_params(chattn.create("eca", c, k_size=k)) == k


@pytest.mark.parametrize("d, k, nclass", [(512, 32, None), (512, 32, 21), (64, 8, 5)])
def test_params_enc(d, k, nclass):
    expected = 2 * d * d + 3 * d + k * d + 3 * k + (d * nclass + nclass if nclass else 0)
    assert n_params(chattn.create("enc", d, ncodes=k, num_classes=nclass)) == expected


# --- create() with the official option names ----------------------------------------------------

def test_create_takes_official_options():
    assert isinstance(chattn.create("se", 64, reduction=8), chattn.SE)
    assert chattn.create("se", 64, reduction=8).fc[0].out_features == 8
    assert chattn.create("eca", 64, k_size=7).conv.kernel_size == (7,)
    fca = chattn.create("fca", 64, dct_h=14, dct_w=28, reduction=8, freq_sel_method="low4")
    assert fca.dct_layer.weight.shape == (64, 14, 28) and fca.fc[0].out_features == 8
    assert chattn.create("enc", 32, ncodes=8).encoding[3].codewords.shape == (8, 32)
    assert chattn.create("gsop", 64, att_dim=16).row_bn.num_features == 16
    gct = chattn.create("gct", 16, mode="l1", epsilon=1e-3, after_relu=True)
    assert (gct.mode, gct.epsilon, gct.after_relu) == ("l1", 1e-3, True)
    assert chattn.create("soca", 64, reduction=8, iterN=3).iterN == 3
    assert chattn.create("rcan_ca", 64, reduction=4).conv_du[0].out_channels == 16
    assert isinstance(chattn.create("dia", 32), chattn.DIA)
    assert isinstance(chattn.create("srm", 32), chattn.SRM)
    assert isinstance(chattn.create("bilinear", 32), chattn.BilinearAttention)
    assert chattn.create("enc", 32, ncodes=4, num_classes=3).selayer.out_features == 3
    assert sorted(chattn.available()) == sorted(
        ["se", "enc", "gsop", "fca", "bilinear", "eca", "rcan_ca", "dia", "srm", "gct", "soca"])


def test_create_rejects_unknown_name():
    with pytest.raises(ValueError, match="name"):
        chattn.create("cbam", 64)


# --- spec facts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("c, k", [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)])
def test_eca_adaptive_kernel(c, k):
    t = int(abs((math.log2(c) + 1) / 2))               # ECA paper, Fig. 3
    assert (t if t % 2 else t + 1) == k
    assert chattn.create("eca", c).conv.kernel_size == (k,)


def test_fca_top16_pairs():
    spec = [(0, 0), (0, 1), (6, 0), (0, 5), (0, 2), (1, 0), (1, 2), (4, 0), (5, 0), (1, 6), (3, 0),
            (0, 4), (0, 6), (0, 3), (3, 5), (2, 2)]
    us, vs = squeeze.freq_indices("top16")
    assert list(zip(us, vs)) == spec
    fca = chattn.create("fca", 32, dct_h=14, dct_w=14)
    assert list(zip(fca.dct_layer.us, fca.dct_layer.vs)) == [(2 * u, 2 * v) for u, v in spec]


@pytest.mark.parametrize("dct", [7, 14])
def test_fca_dc_group_is_scaled_gap(dct):
    """The (0, 0) basis is 1/sqrt(HW): the first channel group's output is sqrt(HW) * GAP."""
    fca = chattn.create("fca", 32, dct_h=dct, dct_w=dct)        # top16: group 0 = channels 0, 1
    x = torch.randn(2, 32, dct, dct)
    y = fca.dct_layer(x)
    assert_close(y[:, :2], dct * x[:, :2].mean((2, 3)))
    assert_close(fca.dct_layer.weight[0], torch.full((dct, dct), 1 / dct))


@pytest.mark.parametrize("method", ["top16", "low32", "bot8"])
def test_fca_bases_orthonormal(method):
    fca = chattn.create("fca", 32, dct_h=7, dct_w=7, freq_sel_method=method)
    n = int(method[3:])
    bases = fca.dct_layer.weight[:: 32 // n].reshape(n, -1).double()   # one basis per group
    assert_close(bases @ bases.T, torch.eye(n, dtype=torch.float64), rtol=0, atol=1e-6)


def test_srm_gate_half_at_init():
    srm = chattn.create("srm", 16)
    x = torch.randn(4, 16, 5, 5)
    for training in (True, False):
        srm.train(training)
        assert_close(srm.attention(x), torch.full((4, 16, 1, 1), 0.5))
        assert_close(srm(x), 0.5 * x)


@pytest.mark.parametrize("mode", ["l2", "l1"])
def test_gct_identity_at_init(mode):
    x = torch.randn(2, 16, 5, 5)
    assert torch.equal(chattn.create("gct", 16, mode=mode)(x), x)
    assert torch.equal(ref.GCT(16, mode=mode)(x), x)


@pytest.mark.parametrize("perturb", [False, True])
def test_bilinear_attention_range(perturb):
    """inner and outer attention pass a ReLU, so sigmoid(m * L) is in [0.5, 1), whatever the weights."""
    bil = chattn.create("bilinear", 64)
    if perturb:
        randomise(bil, seed=3)
    for training in (True, False):
        bil.train(training)
        a = bil.attention(torch.randn(2, 64, 5, 5))
        assert a.shape == (2, 64, 5, 5)
        assert a.min() >= 0.5
        assert a.max() < 1 if not perturb else a.max() <= 1
