"""The small ResNet and the training script: tiny runs only (the grid is shipped, not re-trained)."""
import doctest
import json
import math
import statistics

import pytest
import torch
from safetensors.torch import load_file

import chattn
from chattn import train
from chattn.data import PHOTOS, make_dataset
from chattn.models import small as small_mod
from chattn.models.small import small_resnet

TINY = dict(epochs=1, per_class=8, test_per_class=4, batch_size=16)


pytestmark = pytest.mark.usefixtures("one_thread")     # tests/conftest.py


# --- the network -----------------------------------------------------------------------------------

@pytest.mark.parametrize("attn", [None] + chattn.available())
def test_every_module_trains_in_the_small_resnet(attn):
    torch.manual_seed(0)
    net = small_resnet(attn)
    x = torch.randn(4, 3, 32, 32)
    out = net(x)
    assert out.shape == (4, len(PHOTOS))
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in net.stem.parameters())
    assert sum(p.numel() for p in net.parameters()) < 300_000
    refs = net.blocks()
    assert [(r.stage, r.block.index) for r in refs] == [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    if attn is None:
        assert all(r.attn is None for r in refs)
    elif attn == "gct":                                     # a ModuleDict of gates, one per conv
        assert all(g.registry_name == "gct" for r in refs for g in r.attn.values())
        assert all(p.grad is not None for r in refs for p in r.attn.parameters())
    else:
        assert all(r.attn.registry_name == attn for r in refs)
        # each module gets a gradient: it is in the forward path
        assert all(p.grad is not None for r in refs for p in r.attn.parameters())


def test_attention_sees_the_bn3_output_and_gates_before_the_residual_add():
    torch.manual_seed(0)
    net = small_resnet("se").eval()
    block = net.blocks()[2].block                          # stage 2, first block: has a projection
    x = torch.randn(2, 32, 32, 32)
    seen = []
    block.attn.register_forward_hook(lambda m, a, o: seen.append((a[0], o)))
    y = block(x)                                           # not recurrent: the output alone
    x3, gated = seen[0]
    bn3 = block.bn3(block.conv3(torch.relu(block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x))))))))
    assert torch.allclose(x3, bn3)
    assert torch.allclose(block.shortcut(x), block.downsample(x))
    assert torch.allclose(y, torch.relu(block.attn.attention(bn3) * bn3 + block.downsample(x)))
    assert y.shape == (2, 64, 16, 16)


def test_gct_gates_the_input_of_every_convolution():
    torch.manual_seed(0)
    net = small_resnet("gct").eval()
    for p in net.parameters():                             # make every gate differ from the identity
        if p.dim() == 4 and p.shape[2:] == (1, 1) and p.shape[0] == 1:
            torch.nn.init.normal_(p)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    gates = [m for m in net.modules() if type(m).__name__ == "GCT"]
    assert len(gates) == len(convs) == 1 + 6 * 3 + 2      # stem, 3 per block, 2 projection shortcuts
    assert net.stem_attn.channels == 3
    refs = net.blocks()
    assert [sorted(r.attn) for r in refs[1:3]] == [["conv1", "conv2", "conv3"], ["conv1", "conv2", "conv3", "downsample"]]
    block = refs[2].block                                  # stage 2, first block: has a projection
    g = block.attn
    x = torch.randn(2, 32, 32, 32)
    h = torch.relu(block.bn1(block.conv1(g["conv1"](x))))
    h = torch.relu(block.bn2(block.conv2(g["conv2"](h))))
    h = block.bn3(block.conv3(g["conv3"](h)))              # no gate after bn3
    y = block(x)
    assert torch.allclose(y, torch.relu(h + block.downsample(g["downsample"](x))), atol=1e-6)
    assert torch.allclose(block.shortcut(x), block.downsample(g["downsample"](x)))   # S(x) includes its gate
    assert not torch.allclose(y, torch.relu(h + block.downsample(x)), atol=1e-3)
    img = torch.randn(2, 3, 32, 32)
    seen = []
    net.stem_attn.register_forward_hook(lambda m, a, o: seen.append(a[0]))
    net(img)
    assert torch.equal(seen[0], img)


def test_param_groups_exempt_srm_and_gct_beta_from_weight_decay():
    for attn in (None, "se", "eca", "dia"):                # one decayed group holding everything
        net = small_resnet(attn)
        groups = train.param_groups(net, 5e-4)
        assert len(groups) == 1 and groups[0]["weight_decay"] == 5e-4
        assert groups[0]["names"] == [n for n, _ in net.named_parameters()]
    net = small_resnet("srm")
    decay, free = train.param_groups(net, 5e-4)
    assert (decay["weight_decay"], free["weight_decay"]) == (5e-4, 0.0)
    srm = {f"stages.{s}.{b}.attn.{p}" for s in range(3) for b in range(2) for p in ("cfc", "bn.weight", "bn.bias")}
    assert set(free["names"]) == srm and not srm & set(decay["names"])
    assert any(n.endswith("bn3.weight") for n in decay["names"])          # the network's own BNs decay
    net = small_resnet("gct")
    decay, free = train.param_groups(net, 1e-2)
    assert all(n.endswith(".beta") for n in free["names"]) and len(free["names"]) == 1 + 6 * 3 + 2
    assert "stem_attn.beta" in free["names"] and "stem_attn.gamma" in decay["names"]
    assert any(n.endswith(".alpha") for n in decay["names"]) and not any(n.endswith(".beta") for n in decay["names"])
    for groups in (train.param_groups(net, 1e-2),):        # the groups partition the parameters
        ids = [id(p) for g in groups for p in g["params"]]
        assert sorted(ids) == sorted(id(p) for p in net.parameters())
        assert all(p is dict(net.named_parameters())[n] for g in groups for n, p in zip(g["names"], g["params"]))


def test_the_groups_decay_what_they_say_and_training_uses_them():
    net = small_resnet("gct")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    opt = torch.optim.AdamW(train.param_groups(net, 0.5), lr=0.1)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)                       # zero gradients: only the decay moves a weight
    opt.step()
    for n, p in net.named_parameters():
        assert torch.allclose(p, torch.full_like(p, 1.0 if n.endswith(".beta") else 1 - 0.1 * 0.5)), n
    _, rec = train.train_run("srm", progress=False, **TINY)
    assert rec["no_weight_decay"] == train.param_groups(small_resnet("srm"), 1.0)[1]["names"]
    _, rec = train.train_run("eca", progress=False, **TINY)
    assert rec["no_weight_decay"] == []


def test_dia_is_one_module_per_stage_and_carries_its_state():
    net = small_resnet("dia").eval()
    refs = net.blocks()
    assert refs[0].attn is refs[1].attn is net.stages[0].dia
    assert [r.block.recurrent for r in refs] == [True] * 6
    assert refs[1].attn is not refs[2].attn
    # registered once: no duplicated parameters in the state_dict
    keys = [k for k in net.state_dict() if ".lstm." in k]
    assert all(k.startswith("stages.") and ".dia." in k for k in keys)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in {id(p): p for p in net.parameters()}.values())
    states = []
    net.stages[0].dia.register_forward_hook(lambda m, a, o: states.append(a[1]))
    net(torch.randn(2, 3, 32, 32))
    assert states[0] is None and states[1] is not None and len(states) == 2


def test_fca_dct_size_is_the_map_size_and_defaults_scale_with_width():
    net = small_resnet("fca")
    assert [r.attn.dct_layer.dct_h for r in net.blocks()] == [32, 32, 16, 16, 8, 8]
    assert small_resnet("fca", input_size=48).blocks()[-1].attn.dct_layer.dct_h == 12
    gsop = small_resnet("gsop").blocks()
    assert [r.attn.att_dim for r in gsop] == [8, 8, 16, 16, 32, 32]
    se = small_resnet("se", reduction=8).blocks()       # a user option overrides the default r = 4
    assert se[0].attn.fc[0].out_features == 32 // 8


def test_bad_arguments_raise_with_the_argument_name():
    with pytest.raises(ValueError, match="attn"):
        small_resnet("cbam")
    with pytest.raises(TypeError, match="attn"):
        small_resnet(3)
    with pytest.raises(ValueError, match="width"):
        small_resnet("se", width=0)
    with pytest.raises(ValueError, match="options"):
        small_resnet(None, reduction=4)
    with pytest.raises(ValueError, match="x"):
        small_resnet()(torch.randn(2, 1, 32, 32))


# --- training ---------------------------------------------------------------------------------------

def test_one_epoch_run_writes_weights_and_a_complete_record(tmp_path):
    rc = train.main(["--attn", "se", "--out", str(tmp_path), "--quiet", "--threads", "1",
                     "--epochs", "1", "--per-class", "16", "--test-per-class", "8", "--batch-size", "16"])
    assert rc == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["small_resnet_se_seed0.json", "small_resnet_se_seed0.safetensors"]
    rec = json.loads((tmp_path / "small_resnet_se_seed0.json").read_text())
    for key in ("attn", "seed", "epochs", "train_accuracy", "test_accuracy", "params", "seconds",
                "torch", "python", "chattn", "date", "weights", "weights_sha256", "model"):
        assert key in rec, key
    assert rec["attn"] == "se" and rec["seed"] == 0 and rec["epochs"] == 1 and rec["torch"] == torch.__version__
    assert 0 <= rec["test_accuracy"] <= 1 and rec["seconds"] > 0
    # the file holds every tensor of the state_dict, buffers included
    state = load_file(str(tmp_path / rec["weights"]))
    net = small_resnet("se")
    assert set(state) == set(net.state_dict()) and any("running_mean" in k for k in state)
    assert rec["params"] == sum(p.numel() for p in net.parameters())
    # and they are the weights the recorded accuracy was measured with
    net.load_state_dict(state)
    acc, _ = train.evaluate(net, *make_dataset("test", per_class=8))
    assert abs(acc - rec["test_accuracy"]) < 1e-6


def test_same_seed_same_weights_other_seed_other_weights():
    a, ra = train.train_run("eca", seed=3, progress=False, **TINY)
    b, rb = train.train_run("eca", seed=3, progress=False, **TINY)
    c, _ = train.train_run("eca", seed=4, progress=False, **TINY)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert ra["test_accuracy"] == rb["test_accuracy"]


def test_training_lowers_the_loss():
    x, y = make_dataset("train", per_class=48)
    torch.manual_seed(0)                                # the initial weights of the run below
    _, before = train.evaluate(small_resnet("srm"), x, y)
    _, rec = train.train_run("srm", epochs=3, per_class=48, test_per_class=4, batch_size=32, progress=False)
    assert rec["train_loss"] < before and rec["train_accuracy"] > 2 / len(PHOTOS)


def test_ship_writes_only_seed_zero_weights_under_the_shipped_name(tmp_path):
    r0 = train.run_and_save("gct", 0, tmp_path, ship=True, progress=False, **TINY)
    r1 = train.run_and_save("gct", 1, tmp_path, ship=True, progress=False, **TINY)
    assert r0["weights"] == "small_resnet_gct.safetensors" and r1["weights"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "small_resnet_gct.safetensors", "small_resnet_gct_seed0.json", "small_resnet_gct_seed1.json"]


def test_summary_is_mean_and_sample_std_per_module(tmp_path, capsys):
    accs = {"none": [0.5, 0.7, 0.6], "eca": [0.8, 0.9]}
    for attn, values in accs.items():
        for seed, acc in enumerate(values):
            rec = dict(attn=attn, seed=seed, test_accuracy=acc, train_accuracy=1.0, params=10, seconds=1.0)
            (tmp_path / f"small_resnet_{attn}_seed{seed}.json").write_text(json.dumps(rec))
    rows = {r["attn"]: r for r in train.summarize(train.load_records(tmp_path))}
    assert rows["none"]["runs"] == 3 and math.isclose(rows["none"]["test_mean"], 0.6)
    assert math.isclose(rows["none"]["test_std"], 0.1)
    assert math.isclose(rows["eca"]["test_std"], statistics.stdev([0.8, 0.9]))
    assert train.main(["--summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| none | 3 |" in out and "60.00 ± 10.00" in out
    assert out.index("| none") < out.index("| eca")          # the grid's order


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--attn", "cbam", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        train.main(["--attn", "se", "--seeds", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        train.main([])
    with pytest.raises(ValueError, match="directory"):
        train.load_records(tmp_path / "missing")


def test_docstring_examples():
    for module in (small_mod, train):
        result = doctest.testmod(module, extraglobs={"torch": torch}, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__
