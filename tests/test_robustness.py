"""Robustness: every module on degenerate maps, small batches, other dtypes and memory formats,
plus the official-code bugs chattn fixes (SoCA's crop, DIA's .cuda(), GCT's sys.exit)."""
import copy

import pytest
import torch

import chattn
from chattn import squeeze

torch.set_num_threads(1)

NAMES = chattn.available()
C = 32          # divisible by FcaNet's 16 frequencies; bilinear gets c = C // 16 = 2
SIZE = 8        # >= FcaNet's 7x7 DCT
NO_1X1 = {"gsop", "soca", "fca"}       # covariance needs 2 positions; FcaNet needs the 7x7 DCT size
NEED_BATCH_2 = {"srm", "bilinear"}     # BatchNorm over (B, C, 1, 1) in training


def build(name, seed=0, **options):
    torch.manual_seed(seed)
    return chattn.create(name, C, **options)


def run(module, x):
    """The output map of forward(x); DIA also returns its state."""
    out = module(x)
    return out[0] if isinstance(out, tuple) else out


def randomise(module, seed=0):
    """Move the parameters away from their init (GCT is the identity, SRM a constant 0.5 at init)
    so that the outputs depend on the input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def check_output(y, x):
    assert isinstance(y, torch.Tensor)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert torch.isfinite(y).all()


# --- degenerate maps -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", [0.0, 3.0, -1e3], ids=["zeros", "const", "large"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_constant_maps_give_finite_outputs(name, value, train):
    m = randomise(build(name)).train(train)
    x = torch.full((2, C, SIZE, SIZE), value)
    y = run(m, x)
    check_output(y, x)
    if value == 0.0:
        assert not y.any()         # a gate times zero is zero (EncNet: relu(0 + 0·γ) = 0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_constant_maps_backward_is_finite(name, train):
    m = randomise(build(name)).train(train)
    x = torch.full((2, C, SIZE, SIZE), 3.0, requires_grad=True)
    run(m, x).sum().backward()
    assert torch.isfinite(x.grad).all()
    for p in m.parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("name", NAMES)
def test_batch_size_1_in_eval(name):
    m = randomise(build(name)).eval()
    x = torch.randn(2, C, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    y1 = run(m, x[:1])
    check_output(y1, x[:1])
    # in eval, a sample's output does not depend on the rest of the batch
    torch.testing.assert_close(y1, run(m, x)[:1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(set(NAMES) - NEED_BATCH_2))
def test_batch_size_1_in_training_where_allowed(name):
    # EncNet, GSoP: their BatchNorms also average over positions or codewords
    m = randomise(build(name)).train()
    x = torch.randn(1, C, SIZE, SIZE)
    check_output(run(m, x), x)


@pytest.mark.parametrize("name", sorted(set(NAMES) - NO_1X1))
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_1x1_maps(name, train):
    m = randomise(build(name)).train(train)
    x = torch.randn(2, C, 1, 1)
    check_output(run(m, x), x)
    if not train:
        check_output(run(m, x[:1]), x[:1])


def test_modules_without_1x1_support_refuse_it():
    for name in NO_1X1:
        with pytest.raises(ValueError):
            run(build(name).eval(), torch.randn(2, C, 1, 1))


@pytest.mark.parametrize("name", ["gsop", "soca"])
def test_two_positions_are_enough_for_a_covariance(name):
    m = randomise(build(name)).eval()
    for shape in [(1, 2), (2, 1)]:
        x = torch.randn(2, C, *shape)
        check_output(run(m, x), x)


# --- dtypes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_float64(name, train):
    m32 = randomise(build(name)).train(train)
    m64 = randomise(build(name)).double().train(train)
    x = torch.randn(2, C, SIZE, SIZE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = run(m64, x)
    check_output(y, x)
    torch.testing.assert_close(y.float(), run(m32, x.float()), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_bfloat16(name, train):
    m16 = randomise(build(name)).to(torch.bfloat16).train(train)
    m32 = copy.deepcopy(m16).float()          # the same (bfloat16-rounded) weights, computed in float32
    x = torch.randn(4, C, SIZE, SIZE, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    y = run(m16, x)
    check_output(y, x)
    ref = run(m32, x.float())
    # bfloat16 keeps 8 bits of mantissa (~0.4%); measured 0.2% to 2.4% (SRM's BN over 4 samples)
    assert ((y.float() - ref).norm() / ref.norm()).item() < 0.05


# --- memory format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("spatial", [(SIZE, SIZE), (9, 11)])
def test_channels_last_equals_contiguous(name, train, spatial):
    m = randomise(build(name)).train(train)
    x = torch.randn(2, C, *spatial, generator=torch.Generator().manual_seed(2))
    xc = x.to(memory_format=torch.channels_last)
    assert not xc.is_contiguous()
    y_cl = run(m, xc)
    check_output(y_cl, xc)
    torch.testing.assert_close(y_cl, run(m, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_output_keeps_memory_format(name):
    # base.ChannelAttention documents: "same dtype and memory format as the input"
    m = randomise(build(name)).eval()
    xc = torch.randn(2, C, SIZE, SIZE).to(memory_format=torch.channels_last)
    assert run(m, xc).is_contiguous(memory_format=torch.channels_last)


# --- SoCA's crop ------------------------------------------------------------------------------------------

def soca_cov_sqrt(m, region):
    """NS square root of the population covariance of ``region``, computed with torch.cov."""
    b, c = region.shape[:2]
    cov = torch.stack([torch.cov(region[k].reshape(c, -1), correction=0) for k in range(b)])
    return squeeze.newton_schulz_sqrt(cov, m.iterN)


def test_soca_1000x500_uses_the_full_map():
    # the official crop treats a side of exactly 1000 as too long: 1000 x 500 became 1000 x 250
    m = chattn.create("soca", 2, reduction=1).double().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 1000, 500, generator=g, dtype=torch.float64)
    x[:, 1, :, :125] += 3 * x[:, 0, :, :125]         # the left quarter correlates the two channels
    full = soca_cov_sqrt(m, x)
    official = soca_cov_sqrt(m, x[:, :, :, 250:500])    # X[:, :, 0:1000, -250:750]: the right half
    centred = soca_cov_sqrt(m, x[:, :, :, 125:375])
    assert not torch.allclose(full, official, rtol=0.1)    # the test can tell them apart
    assert not torch.allclose(full, centred, rtol=0.1)
    torch.testing.assert_close(m.covariance_sqrt(x), full)
    y = m(x)
    assert torch.isfinite(y).all() and y.shape == x.shape


def test_soca_1001x8_crops_the_height_to_1000_centred():
    m = chattn.create("soca", 2, reduction=1).double().eval()
    x = torch.randn(1, 2, 1001, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[:, :, 1000] = torch.tensor([50.0, 50.0], dtype=torch.float64)[None, :, None]   # the row the crop drops
    start = (1001 - 1000) // 2
    cropped = soca_cov_sqrt(m, x[:, :, start:start + 1000])
    assert not torch.allclose(cropped, soca_cov_sqrt(m, x), rtol=0.1)
    assert not torch.allclose(cropped, soca_cov_sqrt(m, x[:, :, 1:1001]), rtol=0.1)
    torch.testing.assert_close(m.covariance_sqrt(x), cropped)


def test_soca_crop_is_applied_to_the_covariance_only():
    # the scale multiplies all of X, not the crop
    m = chattn.create("soca", 2, reduction=1, crop=4).eval()
    x = torch.randn(2, 2, 6, 10)
    y = m(x)
    assert y.shape == x.shape
    torch.testing.assert_close(m.covariance_sqrt(x), soca_cov_sqrt(m, x[:, :, 1:5, 3:7]))
    torch.testing.assert_close(y, x * m.attention(x))


# --- DIA on a CPU --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dia_without_state_on_cpu_keeps_dtype(dtype):
    # the official code built h0 and c0 with .cuda(): a CPU forward failed
    m = build("dia").to(dtype)
    x = torch.randn(2, C, SIZE, SIZE).to(dtype)
    y, (h, c) = m(x)
    assert y.dtype == h.dtype == c.dtype == dtype
    assert y.device.type == h.device.type == "cpu"
    assert h.shape == c.shape == (2, C)
    assert ((h > 0) & (h < 1)).all()
    y2, state2 = m(x, (h, c))
    assert y2.dtype == dtype and state2[0].dtype == dtype
    # starting without a state is starting from zeros
    y0, _ = m(x, (torch.zeros(2, C, dtype=dtype), torch.zeros(2, C, dtype=dtype)))
    assert torch.equal(y0, y)


# --- GCT's mode --------------------------------------------------------------------------------------

def test_gct_unknown_mode_raises_value_error():
    # the official code: print, then sys.exit() with sys not imported -> NameError
    with pytest.raises(ValueError, match="mode"):
        chattn.create("gct", C, mode="linf")


@pytest.mark.parametrize("mode", ["l1", "l2"])
def test_gct_modes_are_finite_on_zeros(mode):
    m = randomise(chattn.create("gct", C, mode=mode))
    x = torch.zeros(2, C, SIZE, SIZE)
    check_output(m(x), x)
