"""ResNet-50 with each module in its paper's place: parameter counts of the official networks
(spec §14, counted by running the official code), placement, FLOPs, forward on small inputs."""
import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import chattn
from chattn.models.resnet import ResNet, flops, resnet50

torch.set_num_threads(1)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# Totals of the official implementations (spec/modules.md §14, verified there by running them).
OFFICIAL = [
    ((None, {}), 25_557_032),
    (("se", {}), 28_071_976),              # senet.pytorch, bias-free
    (("se", {"bias": True}), 28_088_024),  # Caffe SENet
    (("eca", {}), 25_557_112),             # k = 3, 5, 5, 7
    (("fca", {}), 28_071_976),
    (("srm", {}), 25_617_448),
    (("gct", {}), 25_624_625),
    (("gsop", {}), 28_285_224),
]


@pytest.mark.parametrize("spec,expected", OFFICIAL, ids=[f"{a}{o or ''}" for (a, o), _ in OFFICIAL])
def test_parameter_count_matches_official_network(spec, expected):
    attn, options = spec
    assert n_params(resnet50(attn, **options)) == expected


@pytest.fixture(scope="module")
def plain():
    return resnet50()


def test_plain_resnet50_macs(plain):
    macs = flops(plain) / 2
    assert macs == pytest.approx(4.089e9, abs=1e6)          # torchvision v1.5, spec §0


def test_gct_network_is_msra_v1_with_its_macs():
    model = resnet50("gct")
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    assert flops(model) / 2 == pytest.approx(3.858e9, abs=1e6)   # stride on the first 1x1
    v15 = resnet50("gct", stride_in_1x1=False)
    assert n_params(v15) == n_params(model)                  # stride placement: same parameters
    assert flops(v15) / 2 == pytest.approx(4.089e9, abs=1e6)


def test_default_stride_is_on_the_3x3(plain):
    block = plain.layer3[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)


def test_flops_on_meta_equals_a_real_counted_forward(plain):
    x = torch.randn(1, 3, 64, 64)
    plain.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        plain(x)
    assert flops(plain, (1, 3, 64, 64)) == counter.get_total_flops()


def test_flops_leaves_training_flags_and_weights_alone():
    model = resnet50("srm")
    model.train()
    model.layer1.eval()
    before = model.layer1[0].conv1.weight.clone()
    flops(model, (1, 3, 64, 64))
    assert model.training and not model.layer1.training and model.layer2[0].attn.training
    assert torch.equal(model.layer1[0].conv1.weight, before)


@pytest.mark.parametrize("bad,err", [((1, 3, 224), ValueError), ((1, 3, 0, 224), ValueError),
                                     ("1x3x224x224", TypeError), ((1, 3, 2.5, 4), TypeError)])
def test_flops_rejects_bad_input_size(plain, bad, err):
    with pytest.raises(err, match="input_size"):
        flops(plain, bad)


def test_modules_after_bn3_in_every_block():
    model = resnet50("se")
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for b in stage]
    assert len(blocks) == 16
    assert [b.attn.channels for b in blocks] == [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    assert all(isinstance(b.attn, chattn.SE) for b in blocks)


def test_eca_kernel_sizes_per_stage_and_override():
    def ks(model):
        return [getattr(model, f"layer{i}")[0].attn.k_size for i in range(1, 5)]
    assert ks(resnet50("eca")) == [3, 5, 5, 7]
    assert ks(resnet50("eca", k_size=3)) == [3, 3, 3, 3]
    assert ks(resnet50("eca", k_size=[3, 3, 5, 5])) == [3, 3, 5, 5]
    with pytest.raises(ValueError, match="k_size"):
        resnet50("eca", k_size=[3, 5])


def test_fca_dct_size_per_stage():
    model = resnet50("fca")
    sizes = [tuple(getattr(model, f"layer{i}")[-1].attn.dct_layer.weight.shape[1:]) for i in range(1, 5)]
    assert sizes == [(56, 56), (28, 28), (14, 14), (7, 7)]


def test_gsop_only_in_last_block_with_official_strides():
    model = resnet50("gsop")
    for i, stage in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        assert all(b.attn is None for b in stage[:-1])
        assert isinstance(stage[-1].attn, chattn.GSoP) and stage[-1].attn.att_dim == 128
        assert stage[-1].attn.stride == (2 if i == 0 else 1)
    assert model.layer4[0].conv2.stride == (1, 1) and model.layer4[0].downsample[0].stride == (1, 1)
    assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 2048, 4, 4)  # H/16


def test_gct_before_every_convolution():
    model = resnet50("gct")
    gates = model.attention_modules()
    assert len(gates) == 53 and all(isinstance(g, chattn.GCT) for g in gates)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 53
    block = model.layer2[0]
    assert set(block.attn) == {"conv1", "conv2", "conv3", "downsample"}
    assert block.attn["downsample"].channels == block.downsample[0].in_channels == 256
    assert block.attn["conv3"].channels == block.conv3.in_channels == 128
    assert set(model.layer2[1].attn) == {"conv1", "conv2", "conv3"}
    assert model.stem_attn.channels == 3


def test_gct_network_starts_as_the_plain_network():
    """GCT's gates are 1 at init, so GCT-ResNet-50 computes the plain v1 ResNet-50 on the same weights."""
    torch.manual_seed(0)
    gct = resnet50("gct").eval()
    plain_v1 = resnet50(stride_in_1x1=True).eval()
    missing, unexpected = plain_v1.load_state_dict(gct.state_dict(), strict=False)
    assert not missing and all("attn" in k for k in unexpected)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(gct(x), plain_v1(x))
        # ...and it is a different function once a gate moves
        nn.init.constant_(gct.layer1[0].attn["conv2"].gamma, 1.0)
        assert not torch.allclose(gct(x), plain_v1(x))


def test_dia_one_module_per_stage_with_state_passed_along():
    model = resnet50("dia")
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        assert all(b.attn is stage.dia for b in stage) and len(stage.blocks) == len(stage)
    # registered once per stage: the state_dict holds each tensor once (safetensors can save it)
    dia_keys = [k for k in model.state_dict() if ".lstm." in k]
    assert dia_keys and all(k.startswith(("layer1.dia.", "layer2.dia.", "layer3.dia.", "layer4.dia.")) for k in dia_keys)
    assert len(model.attention_modules()) == 4
    per_stage = [2.5 * c * c + 8.5 * c for c in (256, 512, 1024, 2048)]     # spec §8 formula
    assert n_params(model) == 25_557_032 + sum(per_stage)

    seen = []
    model.layer2[0].attn.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert len(seen) == 4 and seen[0] is None
    assert all(isinstance(s, tuple) and s[0].shape == (2, 512) for s in seen[1:])


def test_hook_on_block_attn_sees_the_attended_features():
    model = resnet50("srm").eval()
    got = {}
    model.layer3[1].attn.register_forward_hook(lambda mod, args, out: got.update(x=args[0], y=out))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert got["y"].shape == got["x"].shape == (2, 1024, 4, 4)
    # SRM starts with its gate at exactly 0.5 (cfc = 0, eval BN = identity)
    torch.testing.assert_close(got["y"], 0.5 * got["x"])


@pytest.mark.parametrize("attn", [None, "se", "eca", "srm", "gct", "dia", "gsop", "rcan_ca"])
def test_forward_backward_small_input(attn):
    torch.manual_seed(0)
    model = resnet50(attn, num_classes=10)
    y = model(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    y.square().mean().backward()
    assert model.conv1.weight.grad is not None and torch.isfinite(model.conv1.weight.grad).all()


def test_fca_at_224_and_small_dct_override():
    model = resnet50("fca").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    with pytest.raises(ValueError, match="DCT size"):
        model(torch.randn(1, 3, 112, 112))
    assert resnet50("fca", dct_h=7, dct_w=7, num_classes=5)(torch.randn(2, 3, 224, 224)).shape == (2, 5)


def test_kaiming_fan_out_init():
    model = resnet50()
    w = model.layer3[0].conv2.weight                         # 256 -> 256, 3x3: fan_out 2304
    assert w.std().item() == pytest.approx(math.sqrt(2 / 2304), rel=0.05)
    assert torch.equal(model.layer3[0].bn3.weight, torch.ones(1024))


def test_bad_arguments():
    with pytest.raises(ValueError, match="attn"):
        resnet50("nope")
    with pytest.raises(TypeError, match="attn"):
        resnet50(chattn.SE)
    with pytest.raises(TypeError, match="attn=None"):
        resnet50(reduction=8)
    with pytest.raises(ValueError, match="num_classes"):
        resnet50(num_classes=0)
    with pytest.raises(ValueError, match="layers"):
        ResNet(layers=(3, 4, 6))
    with pytest.raises(ValueError, match="channels"):
        resnet50()(torch.randn(1, 1, 64, 64))
