"""The small ResNet and the training script: tiny runs only (the grid is shipped, not re-trained)."""
import doctest
import json
import math
import dataclasses
import statistics

import pytest
import torch
from safetensors.torch import load_file

import chattn
from chattn import runs, train
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
    # a width not a multiple of 4 built a network whose stages did not fit (46: stage 1 gave 44 channels)
    for width in (38, 46, 50):
        with pytest.raises(ValueError, match=f"width must be a multiple of 4 .*got {width}"):
            small_resnet(None, width=width)
    assert small_resnet(None, width=44)(torch.zeros(2, 3, 32, 32)).shape == (2, 8)
    with pytest.raises(TypeError, match="without an attention module"):
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


@pytest.mark.slow          # a real 3-epoch run
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
    rows = {r["attn"]: r for r in runs.summarize(runs.load_records(tmp_path))}
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
    with pytest.raises(SystemExit):                    # before any training: the recipe checks the width
        train.main(["--attn", "none", "--width", "46", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="directory"):
        runs.load_records(tmp_path / "missing")


def test_docstring_examples():
    for module in (small_mod, train, runs):
        result = doctest.testmod(module, extraglobs={"torch": torch}, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --- module options, sweeps, the recoloured task (issue 8) -----------------------------------------

CLI_TINY = ["--quiet", "--threads", "1", "--epochs", "1", "--per-class", "8", "--test-per-class", "4",
            "--batch-size", "16", "--width", "16"]       # width 16: the file names say so (_width16)
CLI_DEFAULT_WIDTH = CLI_TINY[:-2]


def cli_error(capsys, *argv) -> str:
    """Run the CLI with ``argv``; it must stop with argparse's usage error (exit 2). Its message."""
    with pytest.raises(SystemExit) as e:
        train.main(list(argv) + CLI_TINY)
    assert e.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


def test_opt_is_recorded_in_the_file_names_and_builds_the_network(tmp_path):
    assert train.main(["--attn", "se", "--opt", "reduction=8", "--out", str(tmp_path)] + CLI_TINY) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "small_resnet_se_reduction8_width16_seed0.json", "small_resnet_se_reduction8_width16_seed0.safetensors"]
    rec = json.loads((tmp_path / "small_resnet_se_reduction8_width16_seed0.json").read_text())
    assert rec["model"]["options"] == {"reduction": 8} and rec["model"]["width"] == 16
    assert rec["task"] == "patches" and rec["weights"] == "small_resnet_se_reduction8_width16_seed0.safetensors"
    state = load_file(str(tmp_path / rec["weights"]))
    # the hidden width of every SE excitation is C / 8 (the grid's r = 4 would give C / 4)
    hidden = {k: tuple(v.shape) for k, v in state.items() if k.endswith("attn.fc.0.weight")}
    assert len(hidden) == 6
    for key, shape in hidden.items():
        c = 16 * 2 ** int(key.split(".")[1])
        assert shape == (c // 8, c), key
    net = small_resnet("se", width=16, reduction=8)
    net.load_state_dict(state)                             # strict: every tensor, of the same shape
    assert rec["params"] == sum(p.numel() for p in net.parameters()) < sum(
        p.numel() for p in small_resnet("se", width=16).parameters())
    acc, _ = train.evaluate(net, *make_dataset("test", per_class=4))
    assert abs(acc - rec["test_accuracy"]) < 1e-6


def test_sweep_trains_every_value_seed_major(tmp_path, capsys):
    assert train.main(["--sweep", "se:reduction=2,8", "--seeds", "2", "--out", str(tmp_path)] + CLI_TINY) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith("se ")]
    # one seed of every value first, so a partial sweep already covers every value
    assert [(ln[1], ln[ln.index("seed") + 1]) for ln in lines] == [("reduction=2", "0"), ("reduction=8", "0"),
                                               ("reduction=2", "1"), ("reduction=8", "1")]
    recs = runs.load_records(tmp_path)
    assert [(r["model"]["options"], r["seed"]) for r in recs] == [
        ({"reduction": 2}, 0), ({"reduction": 2}, 1), ({"reduction": 8}, 0), ({"reduction": 8}, 1)]
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [
        f"small_resnet_se_reduction{r}_width16_seed{s}.safetensors" for r in (2, 8) for s in (0, 1)]
    params = {r["model"]["options"]["reduction"]: r["params"] for r in recs}
    assert params[2] > params[8]                           # r = 2: wider excitations
    rows = train.summarize(recs)
    assert [(r["options"], r["runs"]) for r in rows] == [({"reduction": 2}, 2), ({"reduction": 8}, 2)]


def test_repeated_sweeps_and_no_weights(tmp_path):
    argv = ["--sweep", "se:reduction=16", "--sweep", "eca:k_size=5", "--no-weights", "--out", str(tmp_path)]
    assert train.main(argv + CLI_TINY) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "small_resnet_eca_k_size5_width16_seed0.json", "small_resnet_se_reduction16_width16_seed0.json"]
    recs = {r["attn"]: r for r in runs.load_records(tmp_path)}
    assert recs["eca"]["model"]["options"] == {"k_size": 5} and recs["se"]["model"]["options"] == {"reduction": 16}
    assert recs["eca"]["weights"] is None and "weights_sha256" not in recs["eca"]


def test_opt_combines_with_a_sweep_of_another_option(tmp_path):
    argv = ["--sweep", "eca:k_size=3,5", "--opt", "gamma=3", "--no-weights", "--out", str(tmp_path)]
    assert train.main(argv + CLI_TINY) == 0
    assert [r["model"]["options"] for r in runs.load_records(tmp_path)] == [
        {"gamma": 3, "k_size": 3}, {"gamma": 3, "k_size": 5}]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "small_resnet_eca_gamma3_k_size3_width16_seed0.json", "small_resnet_eca_gamma3_k_size5_width16_seed0.json"]


def test_task_recoloured_trains_and_evaluates_on_recoloured_patches(tmp_path):
    assert train.main(["--attn", "eca", "--task", "recoloured", "--out", str(tmp_path)] + CLI_TINY) == 0
    rec = json.loads((tmp_path / "small_resnet_eca_width16_seed0.json").read_text())
    assert rec["task"] == "recoloured" and rec["data"] == "photo patches"
    net = small_resnet("eca", width=16)
    net.load_state_dict(load_file(str(tmp_path / rec["weights"])))
    # the recorded accuracies are those of the recoloured patches (fixed draws), not the clean ones
    x, y = make_dataset("test", per_class=4, task="recoloured")
    assert abs(train.evaluate(net, x, y)[0] - rec["test_accuracy"]) < 1e-6
    x, y = make_dataset("train", per_class=8, task="recoloured")
    assert abs(train.evaluate(net, x, y)[0] - rec["train_accuracy"]) < 1e-6
    x_clean, _ = make_dataset("train", per_class=8)
    assert not torch.allclose(x, x_clean)
    with pytest.raises(ValueError, match="task"):
        train.train_run("eca", task="grey", progress=False, **TINY)
    with pytest.raises(ValueError, match="task.*data"):
        train.train_run("eca", task="recoloured", data=tmp_path, progress=False, **TINY)


def test_ship_writes_the_layout_of_task_epochs_and_options(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "WEIGHTS_DIR", tmp_path)
    grid = tmp_path / "patches" / "epochs1"
    assert runs.ship_dir() == runs.ship_dir("patches", {}) == tmp_path / "patches" / f"epochs{runs.EPOCHS['patches']}"
    assert runs.ship_dir("patches", {"reduction": 8}, epochs=1) == grid / "sweep"
    assert runs.ship_dir("recoloured", {"reduction": 8}, epochs=12) == tmp_path / "recoloured" / "epochs12" / "sweep"
    assert runs.ship_dir("patches", epochs=1, network={"width": 48, "depth": 2}) == grid / "control"
    assert runs.ship_dir("patches", epochs=1, network={"width": 32, "depth": 2}) == grid      # the defaults
    assert runs.ship_dir("patches", epochs=24, curve=True) == tmp_path / "patches" / "curve" / "epochs24"
    with pytest.raises(ValueError, match="task"):
        runs.ship_dir("grey")
    with pytest.raises(ValueError, match="curve"):
        runs.ship_dir("patches", {"reduction": 8}, curve=True)
    with pytest.raises(ValueError, match="epochs"):
        runs.ship_dir("patches", epochs=0)
    assert train.main(["--sweep", "se:reduction=8", "--seeds", "2", "--ship"] + CLI_DEFAULT_WIDTH) == 0
    assert train.main(["--attn", "none", "--task", "recoloured", "--ship", "--no-weights"] + CLI_DEFAULT_WIDTH) == 0
    assert train.main(["--attn", "none", "--width", "24", "--ship", "--no-weights"] + CLI_DEFAULT_WIDTH) == 0
    assert train.main(["--attn", "none", "--ship", "--curve", "--no-weights"] + CLI_DEFAULT_WIDTH) == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "patches/curve/epochs1/small_resnet_none_seed0.json",
        "patches/epochs1/control/small_resnet_none_width24_seed0.json",
        "patches/epochs1/sweep/small_resnet_se_reduction8.safetensors",     # seed 0 only, under the shipped name
        "patches/epochs1/sweep/small_resnet_se_reduction8_seed0.json",
        "patches/epochs1/sweep/small_resnet_se_reduction8_seed1.json",
        "recoloured/epochs1/small_resnet_none_seed0.json"]
    recs = runs.load_records(grid / "sweep")
    assert [r["weights"] for r in recs] == ["small_resnet_se_reduction8.safetensors", None]
    control, = runs.load_records(grid / "control")
    assert control["model"]["width"] == 24 and control["epochs"] == 1
    # resuming finds what was shipped: nothing is trained twice
    assert train.main(["--sweep", "se:reduction=8", "--seeds", "3", "--ship", "--skip-existing"] + CLI_DEFAULT_WIDTH) == 0
    assert len(runs.load_records(grid / "sweep")) == 3


def test_network_options_are_in_the_names_and_the_summary(tmp_path, capsys):
    assert runs.stem("none", 0, network={"width": 48}) == "small_resnet_none_width48_seed0"
    assert runs.stem("none", 0, network={"width": 32, "depth": 2}) == "small_resnet_none_seed0"
    assert runs.stem("se", network={"width": 48, "depth": 3}, options={"reduction": 8}) == \
        "small_resnet_se_reduction8_width48_depth3"
    assert runs.NETWORK_DEFAULTS == {"width": 32, "depth": 2} == {
        k: getattr(small_resnet(None), k) for k in ("width", "depth")}
    assert train.main(["--attn", "none", "--out", str(tmp_path), "--no-weights"] + CLI_TINY) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["small_resnet_none_width16_seed0.json"]
    rows = runs.summarize(runs.load_records(tmp_path))
    assert rows[0]["network"] == {"width": 16} and "| none width=16 | 1 |" in runs.format_summary(rows)
    assert "none      width=16" in capsys.readouterr().out


def test_config_holds_every_default_once_and_builds_the_cli():
    fields = {f.name: f.default for f in dataclasses.fields(train.Config)}
    args = train._parser().parse_args(["--attn", "se"])
    for name, default in fields.items():
        if name != "channels_last":
            assert getattr(args, name) == default, name
    assert (fields["width"], fields["depth"]) == (runs.NETWORK_DEFAULTS["width"], runs.NETWORK_DEFAULTS["depth"])
    # train_run's keywords are Config's fields; anything else is named
    with pytest.raises(TypeError, match="epoch"):
        train.train_run("se", epoch=1, progress=False)
    with pytest.raises(ValueError, match="per_class"):
        train.train_run("se", per_class=0, progress=False)
    # a record gives back the Config it was trained with
    _, rec = train.train_run("se", progress=False, options={"reduction": 8}, **TINY)
    assert train.config_of(rec) == train.Config(**TINY, channels_last=True)


def test_cli_errors_name_the_argument(tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    for bad in ("reduction", "reduction=", "=8", "2x=8"):
        msg = cli_error(capsys, "--attn", "se", "--opt", bad, *out)
        assert "--opt" in msg and "key=value" in msg
    msg = cli_error(capsys, "--attn", "se", "--opt", "reductoin=8", *out)
    assert "--opt" in msg and "reductoin" in msg
    msg = cli_error(capsys, "--attn", "none", "--opt", "reduction=8", *out)
    assert "--opt" in msg and "'none'" in msg
    msg = cli_error(capsys, "--all", "--opt", "reduction=8", *out)
    assert "--opt" in msg and "--all" in msg
    msg = cli_error(capsys, "--attn", "se", "--opt", "reduction=8", "--opt", "reduction=16", *out)
    assert "--opt" in msg and "twice" in msg
    msg = cli_error(capsys, "--sweep", "se:reduction=2,0", *out)        # r = 0 does not build
    assert "--sweep" in msg and "reduction" in msg
    msg = cli_error(capsys, "--sweep", "se:reduction=2,8,2", *out)
    assert "--sweep" in msg and "repeats" in msg
    msg = cli_error(capsys, "--sweep", "se:reduction=,", *out)
    assert "--sweep" in msg and "at least one value" in msg
    for bad in ("se", "se:reduction", "se:=2", "se=2"):
        assert "--sweep" in cli_error(capsys, "--sweep", bad, *out)
    msg = cli_error(capsys, "--sweep", "cbam:reduction=2", *out)
    assert "--sweep" in msg and "cbam" in msg
    msg = cli_error(capsys, "--sweep", "se:reduction=2", "--sweep", "se:reduction=2", *out)
    assert "--sweep" in msg and "twice" in msg
    msg = cli_error(capsys, "--sweep", "se:reduction=2,8", "--opt", "reduction=4", *out)
    assert "--sweep" in msg and "--opt" in msg
    msg = cli_error(capsys, "--attn", "se", "--task", "grey", *out)
    assert "--task" in msg
    msg = cli_error(capsys, "--attn", "se", "--task", "recoloured", "--data", str(tmp_path), *out)
    assert "--task" in msg and "--data" in msg
    assert "--attn" in cli_error(capsys, "--attn", "se", "--sweep", "se:reduction=2", *out)
    assert list(tmp_path.iterdir()) == []                  # nothing was trained


def test_parse_option_and_sweep():
    assert train.parse_option("reduction=8") == ("reduction", 8)
    assert train.parse_option(" gamma = 2.5 ") == ("gamma", 2.5)
    assert train.parse_option("flag=False") == ("flag", False)
    assert train.parse_option("k_size=None") == ("k_size", None)
    assert train.parse_option("mode=avg") == ("mode", "avg")
    assert type(train.parse_option("reduction=8")[1]) is int
    for bad in ("reduction", "reduction=", "=8", "2x=8", "a b=1"):
        with pytest.raises(ValueError, match="key=value"):
            train.parse_option(bad)
    assert train.parse_sweep("SE:reduction=2,4,8") == ("se", "reduction", [2, 4, 8])
    assert train.parse_sweep("eca: k_size = 1, 3 ,5") == ("eca", "k_size", [1, 3, 5])
    assert train.parse_sweep("gct:epsilon=1e-5,0.001") == ("gct", "epsilon", [1e-5, 0.001])
    for bad in ("se", "se:reduction", "se:=2", "se=2", "se:reduction="):
        with pytest.raises(ValueError, match="module:option=v1,v2"):
            train.parse_sweep(bad)
    with pytest.raises(ValueError, match="at least one value"):
        train.parse_sweep("se:reduction=,")
    with pytest.raises(ValueError, match="repeats"):
        train.parse_sweep("se:reduction=2,4,2")


def test_stem_names_options_sorted_after_the_module():
    assert runs.stem("se") == "small_resnet_se" and runs.stem("se", 2) == "small_resnet_se_seed2"
    assert runs.stem("se", 1, options={"reduction": 8}) == "small_resnet_se_reduction8_seed1"
    assert runs.stem("eca", options={"k_size": 5}) == "small_resnet_eca_k_size5"
    assert runs.stem("eca", 0, options={"k_size": 5, "gamma": 3}) == "small_resnet_eca_gamma3_k_size5_seed0"
    assert runs.stem("gct", options={"epsilon": 0.5}) == "small_resnet_gct_epsilon0p5"
    assert runs.stem("x", options={"shift": -1}) == "small_resnet_x_shiftm1"
    assert runs.stem("se", 0, "resnet50", {"reduction": 8}) == "resnet50_se_reduction8_seed0"
    assert runs.stem("se", options={}) == runs.stem("se")


def test_summary_groups_runs_by_module_and_options(tmp_path, capsys):
    given = [("se", {"reduction": 16}, [0.7, 0.9]), ("se", {"reduction": 2}, [0.5, 0.6]),
            ("se", {}, [0.8]), ("none", {}, [0.4, 0.4])]
    for attn, options, accs in given:
        for seed, acc in enumerate(accs):
            rec = dict(attn=attn, seed=seed, test_accuracy=acc, train_accuracy=1.0, params=10 + len(options),
                       seconds=1.0, model=dict(attn=attn, options=options))
            (tmp_path / (runs.stem(attn, seed, options=options) + ".json")).write_text(json.dumps(rec))
    rows = runs.summarize(runs.load_records(tmp_path))
    # grid order, then options with numbers by value (2 before 16, not as the file names sort)
    assert [(r["attn"], r["options"], r["runs"]) for r in rows] == [
        ("none", {}, 2), ("se", {}, 1), ("se", {"reduction": 2}, 2), ("se", {"reduction": 16}, 2)]
    assert math.isclose(rows[3]["test_mean"], 0.8) and math.isclose(rows[3]["test_std"], statistics.stdev([0.7, 0.9]))
    assert rows[1]["test_std"] == 0.0
    table = runs.format_summary(rows)
    assert "| se reduction=2 | 2 |" in table and "| se reduction=16 | 2 |" in table and "| se | 1 |" in table
    assert "80.00 ± 14.14" in table
    assert train.main(["--summary", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == table
