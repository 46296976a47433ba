"""Every module's ``gate`` outputs the s it scales by, and record_gates reads it."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import chattn
from chattn.base import Gate, GateCall, record_gates
from chattn.models import small_resnet


def _input(name):
    g = torch.Generator().manual_seed(0)
    size = 7 if name == "fca" else 6        # FcaNet's default DCT size is 7 x 7
    return torch.randn(4, 64, size, size, generator=g)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", chattn.available())
def test_output_is_x_times_the_recorded_gate(name, mode):
    torch.manual_seed(0)
    module = chattn.create(name, 64)
    module.train(mode == "train")
    for p in module.parameters():               # move off the identity start (GCT, SRM's zero cfc)
        p.data.add_(0.1 * torch.randn_like(p))
    x = _input(name)
    with record_gates(module) as calls:
        out = module(x)
    assert [(c.name, c.module) for c in calls] == [("", module)]
    s = calls[0].s
    y = out[0] if name == "dia" else out
    if name == "enc":                           # relu(X + X·γ) = relu(X)·(1 + γ), up to rounding
        assert bool((s > 1).all())
        assert torch.allclose(y, F.relu(x) * s, atol=1e-6)
    else:
        assert torch.equal(y, x * s)
    want = (4, 64, 6, 6) if name == "bilinear" else (4, 64, 1, 1)
    assert s.shape == want
    assert isinstance(module.gate, Gate) and not list(module.gate.parameters())


def test_record_gates_in_a_network_one_entry_per_call():
    net = small_resnet("dia").eval()
    with torch.no_grad(), record_gates(net) as calls:
        net(torch.randn(2, 3, 32, 32))
    assert [c.name for c in calls] == [f"stages.{i}.dia" for i in range(3) for _ in range(2)]
    assert all(isinstance(c, GateCall) for c in calls)
    assert calls[0].module is calls[1].module is net.stages[0].dia
    assert not torch.equal(calls[0].s, calls[1].s)      # the state moved on between the blocks
    with record_gates(net) as after:                    # hooks are gone outside the block
        pass
    net(torch.randn(2, 3, 32, 32))
    assert after == [] and len(calls) == 6


def test_record_gates_gct_names_and_hooks_removed():
    net = small_resnet("gct").eval()
    with torch.no_grad(), record_gates(net) as calls:
        net(torch.randn(2, 3, 32, 32))
    assert [c.name for c in calls[:3]] == ["stem_attn", "stages.0.0.attn.conv1", "stages.0.0.attn.conv2"]
    assert calls[0].s.shape == (2, 3, 1, 1)
    assert all(not m.gate._forward_hooks for m in net.modules() if isinstance(m, chattn.ChannelAttention))


def test_record_gates_bad_input():
    with pytest.raises(TypeError, match="model"):
        with record_gates("se"):
            pass


@pytest.mark.parametrize("name", chattn.available())
def test_record_gates_gives_the_per_block_gates_of_gate_statistics(name):
    """What chattn.pretrained.gate_statistics computed by hooking bn3 and calling attention again
    (the gate before conv1 for GCT, DIA's with the state the block received) is, block by block,
    what record_gates reads: s.mean((2, 3)), (N, C), of the calls in forward order (GCT: those
    named '.conv1')."""
    torch.manual_seed(0)
    net = small_resnet(name).eval()
    for p in net.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.randn(3, 3, 32, 32)
    old, states, handles = [], {}, []
    for i, (_, block, attn) in enumerate(net.blocks()):
        if isinstance(attn, torch.nn.ModuleDict):
            handles.append(attn["conv1"].register_forward_hook(
                lambda m, a, o: old.append(m.attention(a[0]).mean((2, 3)))))
            continue
        handles.append(block.register_forward_pre_hook(
            lambda m, a, i=i: states.__setitem__(i, a[1] if len(a) > 1 else None)))
        handles.append(block.bn3.register_forward_hook(
            lambda m, a, o, i=i, attn=attn: old.append(
                (attn.attention(o, states[i]) if name == "dia" else attn.attention(o)).mean((2, 3)))))
    with torch.no_grad(), record_gates(net) as calls:
        net(x)
    for h in handles:
        h.remove()
    new = [c.s.mean((2, 3)) for c in calls if name != "gct" or c.name.endswith(".conv1")]
    assert len(new) == len(old) == len(net.blocks())
    for a, b in zip(new, old):
        assert torch.allclose(a, b, atol=1e-6) and a.shape == (3, b.shape[1])
