r"""Official ImageNet checkpoints of six attention ResNet-50s, loaded into :func:`chattn.models.resnet.resnet50`.

Each paper's repository saves its network with its own parameter names: ``layer1.0.se.fc.0.weight``
(senet.pytorch), ``layer1.0.eca.conv.weight`` (ECANet), GSoP's flat ``layer4.2.conv_for_DR.weight``,
GCT's ``layer1.0.conv1.0.alpha`` (a GCT and a convolution in one ``nn.Sequential``)... chattn's
:class:`~chattn.models.resnet.Bottleneck` keeps every module as ``attn``.
:func:`chattn.models.resnet.load_checkpoint` (also ``chattn.models.load_checkpoint``) reads a
file as the repositories publish it, renames its keys (:func:`to_chattn`), and loads them
strictly: every tensor of the network comes from the file and every tensor of the file lands in
the network, with the same shape, or nothing is loaded and a :class:`CheckpointError` lists what
does not fit.

- ``se``: moskomule/senet.pytorch, ``senet/se_resnet.py`` ``se_resnet50``;
  ``layer1.0.se.fc.0.weight`` -> ``layer1.0.attn.fc.0.weight``. Published: GitHub release
  ``archive``, ``seresnet50-60a8950a85b2b.pkl``.
- ``eca``: BangguWu/ECANet, ``models/eca_resnet.py`` ``eca_resnet50(k_size=[3, 5, 5, 7])``;
  ``layer1.0.eca.conv.weight`` -> ``layer1.0.attn.conv.weight``. Published: ``eca_resnet50_k3557``
  on Google Drive and Baidu pan, linked from the README.
- ``fca``: cfzd/FcaNet, ``model/fcanet.py`` ``fcanet50``; ``layer1.0.att.fc.0.weight`` ->
  ``layer1.0.attn.fc.0.weight``. Published: GitHub release ``v1.0``, ``fca50.pth``.
- ``srm``: hyunjaelee410/style-based-recalibration-module, ``models/resnet.py``;
  ``layer1.0.rclb.cfc`` -> ``layer1.0.attn.cfc``. Not published (the README gives training
  commands only).
- ``gct``: z-x-yang/GCT, ``PyTorch/resnet.py``; ``stem.conv1.0.alpha`` -> ``stem_attn.alpha``,
  ``stem.conv1.1.weight`` -> ``conv1.weight``, ``stem.bn1`` -> ``bn1``,
  ``layer1.0.conv1.0.gamma`` -> ``layer1.0.attn.conv1.gamma``, ``layer1.0.conv1.1.weight`` ->
  ``layer1.0.conv1.weight``, ``downsample.0`` / ``.1`` / ``.2`` -> ``attn.downsample`` /
  ``downsample.0`` / ``downsample.1``. Published: a Google Drive file linked from
  ``PyTorch/README.md`` (GCT-ResNet50, top-1 77.2%).
- ``gsop``: ZilinGao/Global-Second-order-Pooling-Convolutional-Networks,
  ``torchvision/models/resnet.py`` (GSoP-Net1, ``att_dim=128``); ``layer1.2.conv_for_DR.weight``
  -> ``layer1.2.attn.conv_for_DR.weight`` (and ``bn_for_DR``, ``row_bn``, ``row_conv_group``,
  ``fc_adapt_channels``). Not published (no link in the README).

Every other key (``conv1.weight``, ``layer2.0.bn3.running_var``, ``fc.bias``...) keeps its name:
the backbones use torchvision's names, as chattn's does. The files saved by the training scripts
(ECA, SRM, GCT, GSoP, FcaNet) hold ``{'epoch', 'arch', 'state_dict', 'optimizer', ...}`` with
``module.`` (DataParallel) before every key; the released SE and FcaNet files are plain
state_dicts. Both are read, with or without the prefix. Nothing is downloaded: the reader fetches
the file and passes its path.

Reading uses ``torch.load(weights_only=True)``: the file may hold tensors, numbers, strings, lists
and dicts, and no pickled code runs. A file that needs code to unpickle is refused.

The loaded network computes the official network's logits (the official ResNet-50 variants differ:
GCT's has its stride on the first 1x1 convolution, GSoP-Net1 keeps ``layer4`` at stride 1; the
network must be built as :func:`chattn.models.resnet.resnet50` builds it by default, which
:func:`~chattn.models.resnet.load_checkpoint` checks). Inputs: ImageNet-normalised RGB, 224 x 224 (FcaNet's DCT sizes
and GSoP's ``AvgPool2d(14)`` assume it).

Example::

    >>> from chattn.models import resnet50
    >>> model = resnet50("eca", checkpoint="eca_resnet50_k3557.pth.tar").eval()   # doctest: +SKIP
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..data import IMAGENET_MEAN, IMAGENET_STD, preprocess   # the official networks' input, re-exported

__all__ = ["OFFICIAL", "Official", "CheckpointError", "read_checkpoint", "to_chattn", "from_chattn",
           "IMAGENET_MEAN", "IMAGENET_STD", "preprocess"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely, or whose tensors do not fit the network."""


@dataclass(frozen=True)
class Official:
    """Where an official network comes from, and how its keys become chattn's.

    ``rules``: ``(official prefix, chattn prefix)`` templates; ``{b}`` is a block (``layer2.3``),
    ``{c}`` a convolution of the block (``conv1``-``conv3``), ``{g}`` a GSoP layer. A key takes the
    first rule whose prefix it starts with; a key no rule matches keeps its name.

    Attributes:
        attn: chattn's module name.
        repo: the official repository.
        file: the file that defines the network.
        constructor: the function that builds it.
        published: where the weights are published.
        rules: ``(official prefix, chattn prefix)`` templates, as above.
    """
    attn: str
    repo: str
    file: str
    constructor: str
    published: str
    rules: tuple[tuple[str, str], ...]


_PLACEHOLDERS = {"b": r"layer\d+\.\d+", "c": r"conv[123]",
                 "g": r"conv_for_DR|bn_for_DR|row_bn|row_conv_group|fc_adapt_channels"}

OFFICIAL: dict[str, Official] = {o.attn: o for o in (
    Official("se", "moskomule/senet.pytorch", "senet/se_resnet.py", "se_resnet50(num_classes=1000)",
             "GitHub release of moskomule/senet.pytorch: releases/download/archive/seresnet50-60a8950a85b2b.pkl",
             (("{b}.se.", "{b}.attn."),)),
    Official("eca", "BangguWu/ECANet", "models/eca_resnet.py", "eca_resnet50(k_size=[3, 5, 5, 7])",
             "eca_resnet50_k3557 on Google Drive and Baidu pan, linked from the BangguWu/ECANet README",
             (("{b}.eca.", "{b}.attn."),)),
    Official("fca", "cfzd/FcaNet", "model/fcanet.py", "fcanet50(num_classes=1000)",
             "GitHub release of cfzd/FcaNet: releases/download/v1.0/fca50.pth (also Google Drive / Baidu)",
             (("{b}.att.", "{b}.attn."),)),
    Official("srm", "hyunjaelee410/style-based-recalibration-module", "models/resnet.py",
             "resnet(depth=50, recalibration_type='srm')",
             "no checkpoint link in the repository's README (training commands only)",
             (("{b}.rclb.", "{b}.attn."),)),
    Official("gct", "z-x-yang/GCT", "PyTorch/resnet.py", "ResNet([])",
             "Google Drive file linked from z-x-yang/GCT PyTorch/README.md (GCT-ResNet50, top-1 77.2%)",
             (("stem.conv1.0.", "stem_attn."), ("stem.conv1.1.", "conv1."), ("stem.bn1.", "bn1."),
              ("{b}.{c}.0.", "{b}.attn.{c}."), ("{b}.{c}.1.", "{b}.{c}."),
              ("{b}.downsample.0.", "{b}.attn.downsample."), ("{b}.downsample.1.", "{b}.downsample.0."),
              ("{b}.downsample.2.", "{b}.downsample.1."))),
    Official("gsop", "ZilinGao/Global-Second-order-Pooling-Convolutional-Networks",
             "torchvision/models/resnet.py", "resnet50(att_position=<last block of each stage>, "
             "att_dim=128, GSoP_mode=1)",
             "no checkpoint link in the repository's README",
             (("{b}.{g}.", "{b}.attn.{g}."),)),
)}


def _pattern(template: str) -> re.Pattern:
    """A prefix template (``'{b}.se.'``) as a regex with one named group per placeholder."""
    out, pos = "", 0
    for m in re.finditer(r"\{(\w)\}", template):
        out += re.escape(template[pos:m.start()]) + f"(?P<{m.group(1)}>{_PLACEHOLDERS[m.group(1)]})"
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]))


def _official(attn) -> Official:
    if not isinstance(attn, str):
        raise TypeError(f"attn must be a str, one of {sorted(OFFICIAL)}, got {type(attn).__name__}")
    if attn.lower() not in OFFICIAL:
        raise ValueError(f"attn={attn!r} has no official checkpoint mapping; mapped: {sorted(OFFICIAL)}")
    return OFFICIAL[attn.lower()]


def _rename(key: str, rules, forward: bool) -> str:
    for official, ours in rules:
        src, dst = (official, ours) if forward else (ours, official)
        m = _pattern(src).match(key)
        if m:
            return dst.format(**m.groupdict()) + key[m.end():]
    return key


def to_chattn(attn: str, key: str) -> str:
    """The chattn name of the official network's key ``key``.

    Args:
        attn: the module name (``se``, ``eca``, ...).
        key: an official key.

    Example::

        >>> to_chattn("gct", "layer2.0.downsample.1.weight")
        'layer2.0.downsample.0.weight'
        >>> to_chattn("gsop", "layer1.2.row_conv_group.bias")
        'layer1.2.attn.row_conv_group.bias'
    """
    return _rename(key, _official(attn).rules, forward=True)


def from_chattn(attn: str, key: str) -> str:
    """The official name of chattn's key ``key`` (the inverse of :func:`to_chattn`).

    Args:
        attn: the module name (``se``, ``eca``, ...).
        key: a chattn key.

    Example::

        >>> from_chattn("gct", "stem_attn.beta")
        'stem.conv1.0.beta'
    """
    return _rename(key, _official(attn).rules, forward=False)


def read_checkpoint(checkpoint) -> dict[str, torch.Tensor]:
    """The state_dict in the file ``checkpoint``, as published: a plain state_dict, or a dict that
    holds one under ``'state_dict'``; DataParallel's ``module.`` prefix removed. Tensors only, read
    with ``torch.load(weights_only=True)`` onto the CPU.

    Raises: :class:`CheckpointError` when the file needs code to unpickle, is not a torch file, or
    holds no state_dict; ``FileNotFoundError`` when there is no file.

    Args:
        checkpoint: path of the file (``str`` or ``os.PathLike``).
    """
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or os.PathLike), got {type(checkpoint).__name__}")
    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint={path!r}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:          # torch raises UnpicklingError, RuntimeError, EOFError... by format
        text = str(e)
        code = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if code:
            raise CheckpointError(
                f"checkpoint={path!r} needs code to unpickle ({code.group(1)}): chattn reads checkpoints "
                f"with torch.load(weights_only=True), which loads tensors, numbers, strings, lists and "
                f"dicts and runs no code from the file. If you trust the file, keep its weights only: "
                f"torch.save(torch.load(path, weights_only=False)['state_dict'], 'weights.pth').") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        detail = detail.group(1).strip() if detail else (text.strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"checkpoint={path!r} is not a file torch.load can read ({detail})") from None
    state = obj
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state = obj["state_dict"]
    if (not isinstance(state, Mapping) or not state
            or not any(isinstance(v, torch.Tensor) for v in state.values())):
        raise CheckpointError(f"checkpoint={path!r} holds {type(obj).__name__}"
                              + (f" with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, Mapping) else "")
                              + ", not a state_dict (a dict of tensors, or one under 'state_dict')")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"checkpoint={path!r}: the state_dict has {len(bad)} entries that are not "
                              f"tensors, e.g. {bad[:5]}; the file may hold a training state, not weights")
    if all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)
