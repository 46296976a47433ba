"""chattn against a peer collection, executed: External-Attention-pytorch (PyPI ``fightingcv-attention``).

What the book says about that collection's SE and ECA layers, checked on its released code:

- ``SEAttention`` equals :class:`chattn.SE` once its weights are copied (same bias-free MLP, same
  state_dict names ``fc.0.weight``, ``fc.2.weight``);
- ``ECAAttention`` is ``nn.Conv1d(1, 1, k, padding=(k-1)//2)`` with PyTorch's default ``bias=True``:
  it equals :class:`chattn.ECA` when that bias is 0 and differs otherwise;
- its kernel size is a fixed argument (default ``k = 3``), not ECA's adaptive ψ(C).

``fightingcv-attention`` is a test dependency only (``requirements-test.txt``, installed with
``--no-deps``: it declares no dependency, and must never pull torch or torchvision). Only its two
modules are imported. ``python tests/test_peers.py`` prints the numbers the ECA chapter cites.
"""
from __future__ import annotations

import inspect

import pytest
import torch

import chattn

# Installed by scripts/_setup.sh (requirements-test.txt): a missing peer is an error, not a skip.
from fightingcv_attention.attention.ECAAttention import ECAAttention
from fightingcv_attention.attention.SEAttention import SEAttention

CHANNELS = 256          # ψ(256) = 5: chattn's adaptive kernel differs from the peer's fixed 3
REDUCTION = 16


def _input(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, CHANNELS, 7, 7, generator=g)


def _max_diff(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> float:
    a.eval(), b.eval()
    with torch.no_grad():
        return (a(x) - b(x)).abs().max().item()


def se_pair(seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """chattn.SE and the peer's SEAttention, the peer's (random) weights copied into chattn's."""
    torch.manual_seed(seed)
    peer = SEAttention(channel=CHANNELS, reduction=REDUCTION)
    ours = chattn.SE(CHANNELS, reduction=REDUCTION)
    ours.load_state_dict(peer.state_dict())          # strict: the same names and shapes
    return ours, peer


def eca_pair(k: int = 3, bias: float | None = 0.0, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """chattn.ECA(k_size=k) and the peer's ECAAttention(k) sharing the kernel; the peer's bias set
    to ``bias`` (``None``: its own random initial bias)."""
    torch.manual_seed(seed)
    peer = ECAAttention(kernel_size=k)
    if bias is not None:
        with torch.no_grad():
            peer.conv.bias.fill_(bias)
    ours = chattn.ECA(CHANNELS, k_size=k)
    with torch.no_grad():
        ours.conv.weight.copy_(peer.conv.weight.reshape(ours.conv.weight.shape))
    return ours, peer


def test_peer_se_has_chattn_se_parameters():
    ours, peer = se_pair()
    assert {k: v.shape for k, v in peer.state_dict().items()} == \
           {k: v.shape for k, v in ours.state_dict().items()}
    assert sum(p.numel() for p in peer.parameters()) == 2 * CHANNELS * (CHANNELS // REDUCTION)


def test_peer_se_equals_chattn_se_once_weights_are_copied():
    ours, peer = se_pair()
    x = _input()
    assert _max_diff(ours, peer, x) <= 1e-6
    # Not trivially equal: a fresh chattn.SE (its own random weights) gives another output.
    torch.manual_seed(1)
    assert _max_diff(chattn.SE(CHANNELS, reduction=REDUCTION), peer, x) > 1e-3


def test_peer_eca_has_one_bias_more():
    for k in (3, 5, 7):
        ours, peer = eca_pair(k)
        assert sum(p.numel() for p in ours.parameters()) == k
        assert sum(p.numel() for p in peer.parameters()) == k + 1
        assert peer.conv.bias is not None and peer.conv.bias.shape == (1,)


@pytest.mark.parametrize("k", [3, 5])
def test_peer_eca_equals_chattn_eca_when_its_bias_is_zero(k):
    ours, peer = eca_pair(k, bias=0.0)
    assert _max_diff(ours, peer, _input()) <= 1e-6


@pytest.mark.parametrize("bias", [None, 0.5])
def test_peer_eca_differs_from_chattn_eca_with_its_bias(bias):
    ours, peer = eca_pair(3, bias=bias)
    assert peer.conv.bias.abs().item() > 1e-3
    assert _max_diff(ours, peer, _input()) > 1e-3


def test_peer_eca_kernel_is_fixed_not_adaptive():
    default = inspect.signature(ECAAttention).parameters["kernel_size"].default
    assert default == 3
    peer = ECAAttention()
    assert peer.conv.kernel_size == (3,)
    # chattn's default follows ψ(C) = |log2(C)/2 + 1/2|_odd; the peer takes no channel count at all.
    assert "channel" not in " ".join(inspect.signature(ECAAttention).parameters)
    assert [chattn.ECA(c).k_size for c in (64, 256, 2048)] == [3, 5, 7]


def numbers() -> dict[str, float]:
    """The max |difference| of the outputs on a (4, 256, 7, 7) input, as the ECA chapter cites them."""
    x = _input()
    return {
        "SE, weights copied": _max_diff(*se_pair(), x),
        "ECA k=3, peer bias 0": _max_diff(*eca_pair(3, 0.0), x),
        "ECA k=3, peer bias as initialised": _max_diff(*eca_pair(3, None), x),
        "peer bias as initialised": eca_pair(3, None)[1].conv.bias.item(),
    }


if __name__ == "__main__":
    for name, value in numbers().items():
        print(f"{name}: {value:.3g}")
