"""The shipped weights are the recorded runs, and the gate statistics measure what they say."""
import doctest
import hashlib
import json
import subprocess
import sys

import pytest
import torch

from chattn import pretrained
from chattn.data import PHOTOS, make_dataset
from chattn.train import WEIGHTS_DIR, configs

# A new interpreter loads every shipped file and measures its test accuracy: nothing from this
# process (no cached model, no RNG state) can leak into what the weights compute.
FRESH = """
import json, sys, torch
from chattn import pretrained, train
from chattn.data import make_dataset
torch.set_num_threads(1)
out = {}
for rec in pretrained.records():
    if rec["weights"]:
        net = pretrained.load(rec["attn"])
        assert not net.training
        x, y = make_dataset("test", rec["patch"], rec["test_per_class"], rec["data_seed"])
        out[rec["attn"]] = train.evaluate(net, x, y)[0]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def recs():
    return pretrained.records()


def test_every_config_is_shipped_with_three_seeds(recs):
    assert pretrained.shipped() == configs()
    assert [(r["attn"], r["seed"]) for r in recs] == [(c, s) for c in configs() for s in range(3)]
    for r in recs:
        assert r["weights"] == (f"small_resnet_{r['attn']}.safetensors" if r["seed"] == 0 else None)
        assert 1 / len(PHOTOS) < r["test_accuracy"] <= 1


def test_shipped_files_are_the_recorded_files_and_small(recs):
    total = 0
    for r in recs:
        if r["weights"]:
            data = (WEIGHTS_DIR / r["weights"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == r["weights_sha256"]
            total += len(data)
    assert total < 10 * 2 ** 20


def test_loaded_weights_reproduce_the_recorded_test_accuracy_in_a_fresh_process(recs):
    proc = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    recorded = {r["attn"]: r["test_accuracy"] for r in recs if r["weights"]}
    assert set(measured) == set(recorded) == set(configs())
    for attn, acc in recorded.items():
        assert abs(measured[attn] - acc) <= 1e-6, (attn, measured[attn], acc)


@pytest.mark.parametrize("attn", configs())
def test_load_builds_the_recorded_model_in_eval_mode(attn, recs):
    net = pretrained.load(None if attn == "none" else attn)
    rec = next(r for r in recs if r["attn"] == attn and r["seed"] == 0)
    assert not net.training and net.config() == rec["model"]
    assert sum(p.numel() for p in net.parameters()) == rec["params"]


def test_load_rejects_unknown_names():
    with pytest.raises(ValueError, match="attn"):
        pretrained.load("cbam")
    with pytest.raises(TypeError, match="attn"):
        pretrained.load(3)


def test_weights_are_plain_safetensors_without_pickle():
    raw = pretrained.weights_path("se").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert "__metadata__" in header and json.loads(header["__metadata__"]["config"])["attn"] == "se"
    assert not raw.startswith((b"\x80", b"PK"))       # neither a pickle nor a torch zip archive


# --- gate statistics --------------------------------------------------------------------------------

def test_class_specificity_is_zero_for_class_blind_gates_and_one_for_class_gates():
    y = torch.arange(4).repeat_interleave(5)
    onehot = torch.eye(4)[y]
    assert pretrained.class_specificity(onehot, y) == pytest.approx(1.0)
    same = torch.rand(5, 6).repeat(4, 1)                 # every class sees the same five gate vectors
    assert pretrained.class_specificity(same, y) == pytest.approx(0.0, abs=1e-12)
    assert pretrained.class_specificity(torch.ones(20, 3), y) == 0.0
    mixed = onehot + torch.rand(20, 4)
    assert 0 < pretrained.class_specificity(mixed, y) < 1
    with pytest.raises(ValueError, match="y"):
        pretrained.class_specificity(onehot, y[:3])


@pytest.fixture(scope="module")
def test_patches():
    return make_dataset("test", per_class=25)


def test_gate_statistics_match_gates_computed_by_hand_se(test_patches):
    x, y = test_patches
    net = pretrained.load("se")
    stats = pretrained.gate_statistics(net, x, y)
    assert [(b.stage, b.index) for b in stats.blocks] == [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    assert [b.class_means.shape for b in stats.blocks] == [(8, c) for c in (32, 32, 64, 64, 128, 128)]
    assert all(0 <= b.specificity <= 1 for b in stats.blocks)
    assert stats.stages[2] == pytest.approx((stats.blocks[2].specificity + stats.blocks[3].specificity) / 2)
    with torch.no_grad():                                # block (1, 0) by hand
        b = net.stages[0].blocks[0]
        h = net.stem(x)
        h = torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h))))))
        g = b.attn.attention(b.bn3(b.conv3(h)))[:, :, 0, 0]
    assert torch.allclose(stats.blocks[0].class_means, torch.stack([g[y == k].mean(0) for k in range(8)]), atol=1e-6)
    assert stats.blocks[0].specificity == pytest.approx(pretrained.class_specificity(g, y), abs=1e-6)
    assert stats.blocks[0].counts.tolist() == [25] * 8
    assert net.training is False


def test_gate_statistics_of_dia_use_the_state_passed_along_the_stage(test_patches):
    x, y = test_patches
    net = pretrained.load("dia")
    stats = pretrained.gate_statistics(net, x, y)
    with torch.no_grad():
        stage = net.stages[0]
        h = net.stem(x)
        h, state = stage.blocks[0](h, None)             # block (1, 0) and the LSTM state it passes on
        b = stage.blocks[1]
        z = b.bn3(b.conv3(torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h))))))))
        with_state = stage.dia.attention(z, state)[:, :, 0, 0]
        without = stage.dia.attention(z)[:, :, 0, 0]
    means = stats.blocks[1].class_means
    assert torch.allclose(means, torch.stack([with_state[y == k].mean(0) for k in range(8)]), atol=1e-6)
    assert not torch.allclose(means, torch.stack([without[y == k].mean(0) for k in range(8)]), atol=1e-4)


@pytest.mark.parametrize("attn", ["bilinear", "enc", "gct", "srm"])
def test_gate_statistics_for_other_gates(attn, test_patches):
    x, y = test_patches
    stats = pretrained.gate_statistics(pretrained.load(attn), x[::5], y[::5])
    means = torch.cat([b.class_means.flatten() for b in stats.blocks])
    assert torch.isfinite(means).all() and len(stats.blocks) == 6
    lo, hi = {"bilinear": (0.5, 1), "enc": (1, 2), "gct": (0, 2), "srm": (0, 1)}[attn]    # each gate's range
    assert lo <= means.min() and means.max() <= hi


def test_gate_statistics_of_gct_are_the_gates_before_conv1(test_patches):
    # GCT gates the input of every convolution; a block's gate is the one on its input (before conv1)
    x, y = test_patches
    net = pretrained.load("gct")
    stats = pretrained.gate_statistics(net, x, y)
    assert [b.class_means.shape[1] for b in stats.blocks] == [32, 32, 32, 64, 64, 128]   # input widths
    with torch.no_grad():
        h = net.stages[0].blocks[0](net.stem(net.stem_attn(x)))           # the input of block (1, 1)
        g = net.stages[0].blocks[1].attn["conv1"].attention(h)[:, :, 0, 0]
    assert torch.allclose(stats.blocks[1].class_means, torch.stack([g[y == k].mean(0) for k in range(8)]), atol=1e-6)
    assert stats.blocks[1].specificity == pytest.approx(pretrained.class_specificity(g, y), abs=1e-6)


def test_gate_statistics_rejects_bad_input(test_patches):
    x, y = test_patches
    with pytest.raises(ValueError, match="attention"):
        pretrained.gate_statistics(pretrained.load(None), x, y)
    with pytest.raises(ValueError, match="y"):
        pretrained.gate_statistics(pretrained.load("se"), x, y[:-1])
    with pytest.raises(ValueError, match="y"):
        pretrained.gate_statistics(pretrained.load("se"), x, y + 8)
    with pytest.raises(TypeError, match="model"):
        pretrained.gate_statistics(torch.nn.Linear(2, 2), x, y)


def test_docstring_examples():
    result = doctest.testmod(pretrained, extraglobs={"torch": torch}, verbose=False)
    assert result.attempted > 0 and result.failed == 0
