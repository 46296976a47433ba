"""Bad input: every module, built with chattn.create, rejects it with a ValueError or TypeError
whose message names the culprit. Never an IndexError / RuntimeError from deep inside torch."""
import inspect

import numpy as np
import pytest
import torch

import chattn
from chattn.models import resnet50, small_resnet

torch.set_num_threads(1)

NAMES = chattn.available()
C = 32          # divisible by FcaNet's 16 frequencies; bilinear gets c = C // 16 = 2
SIZE = 8        # >= FcaNet's 7x7 DCT


def build(name, channels=C, **options):
    return chattn.create(name, channels, **options)


def run(module, x):
    """forward(x); DIA returns (y, state)."""
    return module(x)


def accepts(name, option):
    cls = type(build(name))
    return option in inspect.signature(cls.__init__).parameters


def with_option(option):
    return [n for n in NAMES if accepts(n, option)]


def test_the_eleven_names():
    assert sorted(NAMES) == sorted(["se", "enc", "gsop", "fca", "bilinear", "eca", "rcan_ca", "dia",
                                    "srm", "gct", "soca"])


# --- the input tensor ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, C, SIZE), (2, C, SIZE, SIZE, 2)], ids=["3d", "5d"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_wrong_rank(name, shape, train):
    m = build(name).train(train)
    with pytest.raises(ValueError, match=r"(?s)\bx\b.*dimensions"):
        run(m, torch.randn(shape))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [C // 2, C + 1])
def test_wrong_channel_count(name, channels):
    m = build(name)
    with pytest.raises(ValueError, match="channels"):
        run(m, torch.randn(2, channels, SIZE, SIZE))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("make", [lambda: np.zeros((2, C, SIZE, SIZE), dtype=np.float32),
                                  lambda: torch.zeros(2, C, SIZE, SIZE).tolist(),
                                  lambda: None],
                         ids=["ndarray", "list", "None"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_non_tensor_input(name, make, train):
    m = build(name).train(train)
    with pytest.raises(TypeError, match=r"(?s)\bx\b.*Tensor"):
        run(m, make())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_integer_dtype(name, dtype):
    m = build(name)
    with pytest.raises(TypeError, match=r"(?s)\bx\b.*floating"):
        run(m, torch.ones(2, C, SIZE, SIZE, dtype=dtype))


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch(name):
    m = build(name).eval()
    with pytest.raises(ValueError, match="batch"):
        run(m, torch.randn(0, C, SIZE, SIZE))


# --- the registry ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["sse", "", "se ", "cbam"])
def test_unknown_name(bad):
    with pytest.raises(ValueError, match="name"):
        chattn.create(bad, C)


@pytest.mark.parametrize("bad", [None, 1, b"se", ["se"], chattn.SE])
def test_non_str_name(bad):
    with pytest.raises(TypeError, match="name"):
        chattn.create(bad, C)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels, exc", [(0, ValueError), (-4, ValueError), (32.0, TypeError),
                                           ("32", TypeError), (None, TypeError), (True, TypeError)])
def test_bad_channels_argument(name, channels, exc):
    with pytest.raises(exc, match="channels"):
        chattn.create(name, channels)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_named(name):
    with pytest.raises(TypeError, match="no_such_option") as e:
        chattn.create(name, C, no_such_option=1)
    assert str(chattn.registry.options_of(name)) in str(e.value)     # and what the module accepts


@pytest.mark.parametrize("build, bad, hint, network, module", [
    (lambda: small_resnet("se", dept=3), "dept", "depth", "'width', 'depth', 'input_size'", "['reduction', 'bias']"),
    (lambda: resnet50("se", reductoin=8), "reductoin", "reduction", "'last_stride', 'checkpoint'",
     "['reduction', 'bias']"),
    (lambda: small_resnet("eca", k=3), "k", None, "'depth'", "['k_size', 'gamma', 'b']"),
])
def test_mistyped_network_option_names_both_lists(build, bad, hint, network, module):
    with pytest.raises(TypeError) as e:
        build()
    message = str(e.value)
    assert f"unknown option {bad!r}" in message and network in message and module in message
    assert (f"did you mean {hint!r}" in message) == (hint is not None)


def test_small_resnet_network_options_are_its_own():
    net = small_resnet("se", depth=1, input_size=16, reduction=8)
    assert (net.depth, net.input_size, net.options) == (1, 16, {"reduction": 8})
    with pytest.raises(TypeError, match="attn=None"):
        small_resnet(None, reduction=8)


# --- reduction ----------------------------------------------------------------------------------------

REDUCERS = with_option("reduction")


def test_reducers_are_the_expected_modules():
    # the modules with a C // r bottleneck (DIA: its cell's small FCs)
    assert set(REDUCERS) == {"se", "fca", "bilinear", "rcan_ca", "dia", "soca"}


@pytest.mark.parametrize("name", REDUCERS)
def test_reduction_larger_than_channels(name):
    with pytest.raises(ValueError, match="reduction"):
        build(name, reduction=2 * C)


@pytest.mark.parametrize("name", REDUCERS)
@pytest.mark.parametrize("reduction, exc", [(0, ValueError), (-2, ValueError), (4.0, TypeError),
                                            (0.5, TypeError), ("4", TypeError), (None, TypeError)])
def test_reduction_zero_or_not_int(name, reduction, exc):
    with pytest.raises(exc, match="reduction"):
        build(name, reduction=reduction)


# --- module-specific options ------------------------------------------------------------------------

@pytest.mark.parametrize("k_size", [2, 4, 6])
def test_eca_even_k_size(k_size):
    with pytest.raises(ValueError, match="k_size"):
        build("eca", k_size=k_size)


@pytest.mark.parametrize("k_size, exc", [(0, ValueError), (-3, ValueError), (3.0, TypeError), ("3", TypeError)])
def test_eca_bad_k_size(k_size, exc):
    with pytest.raises(exc, match="k_size"):
        build("eca", k_size=k_size)


@pytest.mark.parametrize("mode", ["l3", "L2", "", None])
def test_gct_unknown_mode(mode):
    # the official code calls sys.exit without importing sys: a NameError
    with pytest.raises(ValueError, match="mode"):
        build("gct", mode=mode)


@pytest.mark.parametrize("epsilon, exc", [(0, ValueError), (-1e-5, ValueError), ("1e-5", TypeError)])
def test_gct_bad_epsilon(epsilon, exc):
    with pytest.raises(exc, match="epsilon"):
        build("gct", epsilon=epsilon)


@pytest.mark.parametrize("method", ["top3", "mid16", "top64", "top", "TOP16", 16, None])
def test_fca_unknown_freq_sel_method(method):
    with pytest.raises(ValueError, match="freq_sel_method"):
        build("fca", freq_sel_method=method)


@pytest.mark.parametrize("channels, method", [(24, "top16"), (40, "low32"), (6, "bot4")])
def test_fca_channels_not_divisible_by_frequencies(channels, method):
    with pytest.raises(ValueError, match="channels"):
        chattn.create("fca", channels, freq_sel_method=method)


@pytest.mark.parametrize("option", ["dct_h", "dct_w"])
@pytest.mark.parametrize("value, exc", [(4, ValueError), (6, ValueError), (0, ValueError), (7.0, TypeError)])
def test_fca_dct_size_below_7(option, value, exc):
    # the official code maps every frequency to DC when dct_h // 7 == 0
    with pytest.raises(exc, match=option):
        build("fca", **{option: value})


@pytest.mark.parametrize("dct, shape", [((14, 14), (7, 7)), ((14, 14), (14, 7)), ((7, 7), (6, 8)),
                                        ((7, 7), (1, 1))])
def test_fca_input_smaller_than_dct(dct, shape):
    m = build("fca", dct_h=dct[0], dct_w=dct[1]).eval()
    with pytest.raises(ValueError, match="dct_h"):
        m(torch.randn(2, C, *shape))


@pytest.mark.parametrize("name", ["gsop", "soca"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_covariance_on_1x1_maps(name, train):
    m = build(name).train(train)
    with pytest.raises(ValueError, match=r"(?s)\bx\b.*spatial size"):
        m(torch.randn(2, C, 1, 1))


def test_gsop_stride_leaves_one_position():
    m = build("gsop", stride=2)
    with pytest.raises(ValueError, match="stride"):
        m(torch.randn(2, C, 2, 2))


@pytest.mark.parametrize("option", ["att_dim", "stride"])
def test_gsop_bad_options(option):
    with pytest.raises(ValueError, match=option):
        build("gsop", **{option: 0})


@pytest.mark.parametrize("option", ["iterN", "crop"])
def test_soca_bad_options(option):
    with pytest.raises(ValueError, match=option):
        build("soca", **{option: 0})
    with pytest.raises(TypeError, match=option):
        build("soca", **{option: 2.5})


@pytest.mark.parametrize("option", ["ncodes", "num_classes"])
def test_enc_bad_options(option):
    with pytest.raises(ValueError, match=option):
        build("enc", **{option: 0})


@pytest.mark.parametrize("name", ["srm", "bilinear"])
def test_batch_size_1_in_training(name):
    m = build(name).train()
    with pytest.raises(ValueError, match="batch"):
        m(torch.randn(1, C, SIZE, SIZE))
    m.eval()(torch.randn(1, C, SIZE, SIZE))   # eval is fine


def test_dia_bad_state():
    m = build("dia")
    x = torch.randn(2, C, SIZE, SIZE)
    with pytest.raises(ValueError, match="state"):
        m(x, (torch.zeros(3, C), torch.zeros(3, C)))
    with pytest.raises(TypeError, match="state"):
        m(x, torch.zeros(2, C))
