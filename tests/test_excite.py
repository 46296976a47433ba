"""Unit tests of chattn.excite: each excitation against its formula, written out by hand."""
import math

import pytest
import torch
from torch import nn

import chattn
from chattn import excite

torch.set_num_threads(1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- MLP (SE, FcaNet, RCAN, SoCA) -----------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
def test_mlp_linear_and_conv_agree_with_copied_weights(bias):
    torch.manual_seed(0)
    lin = excite.MLP(32, 4, bias=bias)
    conv = excite.MLP(32, 4, bias=bias, conv=True)
    assert conv[0].weight.shape == (8, 32, 1, 1) and lin[0].weight.shape == (8, 32)
    with torch.no_grad():
        for i in (0, 2):
            conv[i].weight.copy_(lin[i].weight[:, :, None, None])
            if bias:
                conv[i].bias.copy_(lin[i].bias)
    z = torch.randn(3, 32, generator=gen())
    out = lin(z)
    torch.testing.assert_close(conv(z), out)
    # and both are σ(W2 δ(W1 z + b1) + b2)
    w1, w2 = lin[0].weight, lin[2].weight
    b1 = lin[0].bias if bias else 0
    b2 = lin[2].bias if bias else 0
    torch.testing.assert_close(out, torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2))


@pytest.mark.parametrize("bias", [False, True])
def test_mlp_parameter_count(bias):
    c, r = 64, 16
    expected = 2 * c * c // r + (c // r + c if bias else 0)
    for conv in (False, True):
        assert sum(p.numel() for p in excite.MLP(c, r, bias=bias, conv=conv).parameters()) == expected


# --- ChannelConv1d (ECA) ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_channel_conv1d_is_zero_padded_formula(k):
    torch.manual_seed(k)
    conv = excite.ChannelConv1d(k)
    assert conv.weight.shape == (1, 1, k) and conv.bias is None
    z = torch.randn(2, 10, generator=gen(k), dtype=torch.float64)
    w = conv.weight.detach().double()[0, 0]
    half = (k - 1) // 2
    expected = torch.empty(2, 10, dtype=torch.float64)
    for c in range(10):
        # ω_c = σ(Σ_j w_j z_{c + j - (k-1)/2}), with z = 0 outside [0, C)
        acc = sum(w[j] * z[:, c + j - half] for j in range(k) if 0 <= c + j - half < 10)
        expected[:, c] = torch.sigmoid(torch.as_tensor(acc, dtype=torch.float64))
    torch.testing.assert_close(conv.double()(z), expected)


@pytest.mark.parametrize("channels, k", [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7),
                                         (2, 1), (4, 1)])
def test_eca_kernel_size_values(channels, k):
    assert excite.eca_kernel_size(channels) == k


def test_eca_kernel_size_is_the_paper_formula():
    for c in (3, 16, 32, 100, 300, 4096, 10000):
        t = int(abs((math.log2(c) + 1) / 2))
        assert excite.eca_kernel_size(c) == (t if t % 2 else t + 1)
        assert excite.eca_kernel_size(c) % 2 == 1


def test_eca_uses_the_adaptive_kernel_size():
    assert chattn.create("eca", 256).conv.kernel_size == (5,)
    assert chattn.create("eca", 256, k_size=3).conv.kernel_size == (3,)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_even_k_size_raises(k):
    with pytest.raises(ValueError, match="k_size"):
        excite.ChannelConv1d(k)
    with pytest.raises(ValueError, match="k_size"):
        chattn.create("eca", 64, k_size=k)


# --- StyleIntegration (SRM) ----------------------------------------------------------------------------

def test_style_integration_gate_is_half_at_init():
    si = excite.StyleIntegration(8)
    assert torch.equal(si.cfc, torch.zeros(8, 2))
    t = torch.randn(4, 8, 2, generator=gen())
    torch.testing.assert_close(si(t), torch.full((4, 8), 0.5))            # training: batch statistics
    torch.testing.assert_close(si.eval()(t), torch.full((4, 8), 0.5))     # eval: running statistics


def test_style_integration_formula():
    si = excite.StyleIntegration(3)
    with torch.no_grad():
        si.cfc.copy_(torch.randn(3, 2, generator=gen(1)))
        si.bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3]))
        si.bn.running_var.copy_(torch.tensor([1.5, 0.5, 2.0]))
        si.bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        si.bn.bias.copy_(torch.tensor([0.0, 0.1, -0.1]))
    si.eval()
    t = torch.randn(2, 3, 2, generator=gen(2))
    z = si.cfc[:, 0] * t[..., 0] + si.cfc[:, 1] * t[..., 1]
    bn = si.bn
    zh = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(si(t), torch.sigmoid(zh))


# --- DIALSTMCell (DIANet) -----------------------------------------------------------------------------

def phi(cell, v):
    """φ(v) = W_b δ(W_a v + a) + b, with the cell's own weights."""
    seq = cell.seq
    return torch.relu(v @ seq[0].weight.T + seq[0].bias) @ seq[2].weight.T + seq[2].bias


def test_dia_lstm_cell_formula_and_range():
    torch.manual_seed(0)
    cell = excite.DIALSTMCell(16, 16)
    m = torch.randn(3, 16, generator=gen(1)) * 3
    h0 = torch.rand(3, 16, generator=gen(2))
    c0 = torch.randn(3, 16, generator=gen(3))
    h, c = cell(m, (h0, c0))
    i, f, g, o = (phi(cell.w_ih[0], m) + phi(cell.w_hh[0], h0)).chunk(4, dim=1)
    c_ref = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
    h_ref = torch.sigmoid(o) * torch.sigmoid(c_ref)        # σ(c_t), not tanh(c_t)
    torch.testing.assert_close(c, c_ref)
    torch.testing.assert_close(h, h_ref)
    assert ((h > 0) & (h < 1)).all()


def test_dia_lstm_cell_h_in_unit_interval_under_large_inputs():
    torch.manual_seed(1)
    cell = excite.DIALSTMCell(8, 8)
    state = (torch.zeros(2, 8), torch.zeros(2, 8))
    for step in range(5):
        state = cell(torch.randn(2, 8, generator=gen(step)) * 10, state)
        assert ((state[0] >= 0) & (state[0] <= 1)).all()


def test_dia_lstm_cell_parameter_count():
    c = 64
    assert sum(p.numel() for p in excite.DIALSTMCell(c, c).parameters()) == 2.5 * c * c + 8.5 * c


# --- gct_gate (GCT) -----------------------------------------------------------------------------------

def test_gct_gate_l2():
    s = torch.randn(2, 6, generator=gen(), dtype=torch.float64)
    gamma = torch.randn(6, generator=gen(1), dtype=torch.float64)
    beta = torch.randn(6, generator=gen(2), dtype=torch.float64)
    eps = 1e-5
    norm = gamma / torch.sqrt((s ** 2).mean(dim=1, keepdim=True) + eps)
    torch.testing.assert_close(excite.gct_gate(s, gamma, beta, "l2", eps), 1 + torch.tanh(s * norm + beta))


def test_gct_gate_l1():
    s = torch.randn(2, 6, generator=gen(), dtype=torch.float64)
    gamma = torch.randn(6, generator=gen(1), dtype=torch.float64)
    beta = torch.randn(6, generator=gen(2), dtype=torch.float64)
    eps = 1e-5
    norm = gamma / (s.abs().mean(dim=1, keepdim=True) + eps)
    torch.testing.assert_close(excite.gct_gate(s, gamma, beta, "l1", eps), 1 + torch.tanh(s * norm + beta))


@pytest.mark.parametrize("mode", ["l1", "l2"])
def test_gct_gate_is_one_at_init(mode):
    s = torch.randn(2, 6, generator=gen())
    gate = excite.gct_gate(s, torch.zeros(6), torch.zeros(6), mode)
    assert torch.equal(gate, torch.ones(2, 6))
    x = torch.randn(2, 6, 4, 4, generator=gen(1))
    assert torch.equal(chattn.create("gct", 6, mode=mode)(x), x)


def test_gct_gate_in_zero_two():
    s = torch.randn(4, 6, generator=gen()) * 100
    gate = excite.gct_gate(s, torch.full((6,), 50.0), torch.zeros(6))
    assert ((gate >= 0) & (gate <= 2)).all()
    assert gate.min() < 0.01 and gate.max() > 1.99


# --- RowwiseConv (GSoP) ----------------------------------------------------------------------------

def test_rowwise_conv_formula():
    torch.manual_seed(0)
    d, c = 4, 6
    rc = excite.RowwiseConv(d, c).eval()
    cov = torch.randn(2, d, d, generator=gen())
    p = rc.row_bn(cov[:, :, :, None])[..., 0]                       # (B, d, d)
    k = rc.row_conv_group.weight[:, 0, :, 0]                        # (4d, d)
    beta = rc.row_conv_group.bias
    # q_{4i+n} = Σ_j P_{i,j} K_{4i+n, j} + β_{4i+n}
    q = torch.stack([(p[:, idx // 4, :] * k[idx]).sum(-1) + beta[idx] for idx in range(4 * d)], dim=1)
    a = torch.sigmoid(q @ rc.fc_adapt_channels.weight[:, :, 0, 0].T + rc.fc_adapt_channels.bias)
    torch.testing.assert_close(rc(cov), a)


def test_tanh_gate_composes_gct():
    """Compose(l2 embedding, TanhGate) is GCT with alpha = 1, for any gamma and beta."""
    import chattn
    from chattn import excite, squeeze
    torch.manual_seed(0)
    gct = chattn.GCT(16)
    with torch.no_grad():
        gct.gamma.normal_()
        gct.beta.normal_()
    gate = excite.TanhGate(16)
    gate.load_state_dict({"gamma": gct.gamma.view(16), "beta": gct.beta.view(16)})
    composed = chattn.Compose(16, squeeze.channel_embedding, gate)
    x = torch.randn(3, 16, 5, 5)
    torch.testing.assert_close(composed(x), gct(x))
    assert torch.equal(excite.TanhGate(16)(torch.randn(3, 16)), torch.ones(3, 16))
    with pytest.raises(ValueError, match="mode"):
        excite.TanhGate(16, mode="l3")
