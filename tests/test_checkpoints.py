"""Official ImageNet checkpoints into chattn's resnet50: every key of the six official networks
lands, in every container the repositories publish; the loaded network computes the official
network's logits; a wrong file fails with a message that lists what is wrong.

The official layouts (key names and shapes, in order) are facts taken by running the official code,
in ``tests/official_networks/*.json`` (copied from the project's shared notes). Files are written
to ``tmp_path``; nothing is downloaded.
"""
import argparse
import json
import os
import re
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from chattn.models import CheckpointError, load_checkpoint, resnet50
from chattn.models import checkpoints as ck

sys.path.insert(0, os.path.dirname(__file__))
from reference_resnets import official_resnet50  # noqa: E402

torch.set_num_threads(1)

FACTS = Path(__file__).parent / "official_networks"
NETWORKS = ["se", "eca", "fca", "srm", "gct", "gsop"]


def facts(attn):
    return json.loads((FACTS / f"{attn}.json").read_text())


def random_state(attn, seed=0):
    """A state_dict with exactly the official keys and shapes, random values (positive variances,
    integer step counters)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in facts(attn)["keys"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.randint(0, 1000, shape, generator=g)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        else:
            state[key] = torch.randn(shape, generator=g)
    return state


def training_checkpoint(state):
    """What the official training scripts save: DataParallel's ``module.`` prefix, the state_dict
    under ``state_dict`` next to the epoch, the best accuracy and the optimizer state."""
    return {"epoch": 100, "arch": "resnet50", "best_prec1": torch.tensor(77.4),
            "state_dict": {"module." + k: v for k, v in state.items()},
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.0, "momentum": 0.9, "params": [0, 1]}]}}


CONTAINERS = {"plain": lambda s: s, "training": training_checkpoint,
              "plain-module": lambda s: {"module." + k: v for k, v in s.items()},
              "state_dict": lambda s: {"state_dict": s}}
# The two forms the repositories publish, for every network; the other two for one network.
FORMS = [(attn, form) for attn in NETWORKS for form in ("plain", "training")] + [
    ("gct", "plain-module"), ("gct", "state_dict")]


def save(obj, path):
    torch.save(obj, path)
    return path


@pytest.fixture(scope="module")
def models():
    """One chattn network per official network, built once (ResNet-50s take a second each)."""
    return {attn: resnet50(attn) for attn in NETWORKS}


def test_facts_match_the_chattn_networks(models):
    """The official and chattn layouts have the same number of tensors and parameters, and the
    key map is a bijection between them."""
    for attn in NETWORKS:
        f = facts(attn)
        ours = models[attn].state_dict()
        mapped = {ck.to_chattn(attn, k): shape for k, shape in f["keys"]}
        assert len(mapped) == f["n_keys"] == len(ours)
        assert mapped == {k: list(v.shape) for k, v in ours.items()}, attn
        assert all(ck.from_chattn(attn, ck.to_chattn(attn, k)) == k for k, _ in f["keys"])
        assert sum(p.numel() for p in models[attn].parameters()) == f["param_total"]


@pytest.mark.parametrize("attn,form", FORMS)
def test_every_tensor_of_the_official_file_lands(attn, form, tmp_path, models):
    state = random_state(attn)
    model = models[attn]
    path = save(CONTAINERS[form](state), tmp_path / f"{attn}-{form}.pth")
    assert load_checkpoint(model, path) is model
    ours = model.state_dict()
    for key, value in state.items():
        assert torch.equal(ours[ck.to_chattn(attn, key)], value), key


def test_resnet50_takes_the_checkpoint_path(tmp_path):
    state = random_state("eca", seed=3)
    path = save(training_checkpoint(state), tmp_path / "eca_resnet50_k3557.pth.tar")
    model = resnet50("eca", checkpoint=str(path))
    assert torch.equal(model.layer4[2].attn.conv.weight, state["layer4.2.eca.conv.weight"])
    assert model.layer4[2].attn.conv.weight.shape == (1, 1, 7)


@pytest.mark.parametrize("attn,size", [("se", 64), ("eca", 64), ("srm", 64), ("gct", 64),
                                       ("fca", 224), ("gsop", 224)])
def test_loaded_network_computes_the_official_logits(attn, size, tmp_path, models):
    """A transcription of the official network (``reference_resnets.py``, checked key by key
    against the facts) with random weights is saved as its training script saves it; chattn's
    network loaded from that file gives the same logits (eval mode: BN uses the file's running
    statistics). FcaNet and GSoP-Net1 need 224 x 224 inputs (DCT sizes, ``AvgPool2d(14)``)."""
    torch.manual_seed(0)
    official = official_resnet50(attn)
    assert [[k, list(v.shape)] for k, v in official.state_dict().items()] == facts(attn)["keys"]
    randomised = random_state(attn, seed=1)
    for key, value in official.state_dict().items():
        if key.endswith(".dct_layer.weight"):
            randomised[key] = value                    # FcaNet's DCT filters are fixed, not learnt
        elif not key.endswith("num_batches_tracked"):
            randomised[key] = value + 0.1 * randomised[key] * (value.std() if value.numel() > 1 else 1)
    randomised = {k: (v.abs() + 0.5 if k.endswith("running_var") else v) for k, v in randomised.items()}
    official.load_state_dict(randomised)
    path = save(training_checkpoint(official.state_dict()), tmp_path / "ckpt.pth.tar")
    ours = load_checkpoint(models[attn], path).eval()
    official.eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = official(x.clone())
        got = ours(x)
    atol = 1e-4 * want.abs().max().item()
    assert_close(got, want, rtol=1e-4, atol=atol)
    assert want.shape == (2, 1000) and (want[0] - want[1]).abs().max() > 100 * atol   # input-dependent


# --- wrong files -------------------------------------------------------------------------------------

def unchanged(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_untouched(model, before):
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_a_missing_key_an_extra_key_and_a_wrong_shape_are_listed(tmp_path, models):
    model = models["se"]
    state = random_state("se")
    del state["layer3.5.se.fc.2.weight"]
    state["layer3.5.se.fc.2.bias"] = torch.zeros(1024)
    state["layer1.0.conv2.weight"] = torch.zeros(64, 64, 1, 1)
    path = save(training_checkpoint(state), tmp_path / "wrong.pth.tar")
    before = unchanged(model)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(model, path)
    msg = str(err.value)
    assert "1 missing, 1 unexpected, 1 mis-shaped" in msg and "nothing was loaded" in msg
    assert "layer3.5.attn.fc.2.weight (official name layer3.5.se.fc.2.weight)" in msg
    assert "layer3.5.se.fc.2.bias (-> layer3.5.attn.fc.2.bias)" in msg
    assert "layer1.0.conv2.weight: file (64, 64, 1, 1), network (64, 64, 3, 3)" in msg
    assert isinstance(err.value, ValueError) and "checkpoint=" in msg
    assert_untouched(model, before)


def test_a_file_of_another_network_is_refused_with_its_keys(tmp_path, models):
    path = save(random_state("eca"), tmp_path / "eca.pth")
    with pytest.raises(CheckpointError, match=r"96 missing, 16 unexpected") as err:
        load_checkpoint(models["srm"], path)
    msg = str(err.value)
    assert "layer1.0.eca.conv.weight\n" in msg and "layer1.0.attn.cfc (official name layer1.0.rclb.cfc)" in msg
    assert "... and" in msg                                # long lists are cut


def test_a_pickle_that_needs_code_is_refused(tmp_path, models):
    ckpt = training_checkpoint(random_state("srm"))
    ckpt["args"] = argparse.Namespace(lr=0.1, arch="resnet50")      # what some scripts also save
    path = save(ckpt, tmp_path / "with_args.pth.tar")
    before = unchanged(models["srm"])
    with pytest.raises(CheckpointError, match=r"needs code to unpickle \(argparse.Namespace\).*weights_only=True.*runs no code"):
        load_checkpoint(models["srm"], path)
    assert_untouched(models["srm"], before)


@pytest.mark.parametrize("content,match", [
    (b"not a torch file at all", "not a file torch.load can read"),
    ({"epoch": 3, "arch": "resnet50"}, r"keys \['arch', 'epoch'\], not a state_dict"),
    ({"state_dict": {"conv1.weight": torch.ones(2), "bn1.weight": [1.0, 2.0]}}, "not tensors"),
])
def test_files_without_a_state_dict_are_refused(content, match, tmp_path, models):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        save(content, path)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(models["se"], path)


def test_old_files_without_step_counters_load_with_zero_counters(tmp_path, models):
    state = {k: v for k, v in random_state("gsop").items() if not k.endswith("num_batches_tracked")}
    path = save(state, tmp_path / "old.pth")
    model = load_checkpoint(models["gsop"], path)
    assert model.layer4[2].attn.row_bn.num_batches_tracked.item() == 0
    assert torch.equal(model.layer4[2].attn.row_conv_group.weight, state["layer4.2.row_conv_group.weight"])
    state.pop("layer4.2.row_bn.weight")                    # ...but every other key is still required
    with pytest.raises(CheckpointError, match="layer4.2.attn.row_bn.weight"):
        load_checkpoint(models["gsop"], save(state, tmp_path / "old2.pth"))


def test_a_network_built_otherwise_than_the_official_one_is_refused(tmp_path):
    path = save(random_state("gct"), tmp_path / "gct.pth")
    with pytest.raises(ValueError, match=r"not the official gct ResNet-50.*stride=\(1, 1\)"):
        resnet50("gct", stride_in_1x1=False, checkpoint=path)     # same shapes, other strides
    with pytest.raises(ValueError, match="attn"):
        load_checkpoint(resnet50("gct"), path, attn="se")


def test_bad_arguments(tmp_path, models):
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        resnet50("se", checkpoint=tmp_path / "missing.pth")
    with pytest.raises(TypeError, match="checkpoint"):
        load_checkpoint(models["se"], 3)
    with pytest.raises(ValueError, match="no official checkpoint mapping"):
        resnet50("dia", checkpoint=tmp_path / "x.pth")
    with pytest.raises(TypeError, match="model"):
        load_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pth")


def test_docs_say_where_each_checkpoint_is_published():
    doc = ck.__doc__
    for attn in NETWORKS:
        f = facts(attn)
        assert ck.OFFICIAL[attn].repo == f["repo"] and ck.OFFICIAL[attn].file == f["file"]
        assert f["repo"] in doc and f"``{attn}``" in doc
    assert "seresnet50-60a8950a85b2b.pkl" in doc and "fca50.pth" in doc and "eca_resnet50_k3557" in doc
    assert len(re.findall(r"Not published", doc)) == 2           # SRM and GSoP


def test_docstring_examples():
    import doctest
    result = doctest.testmod(ck, verbose=False)
    assert result.attempted > 0 and result.failed == 0
