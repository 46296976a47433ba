r"""A small bottleneck ResNet for 32x32 patches, with any channel-attention module plugged in by name.

.. code-block:: text

    x (B, 3, 32, 32)
    stem   conv3x3(3 -> w) BN ReLU                      (B,  w, 32, 32)
    stage1 depth x Bottleneck(w),  stride 1             (B,  w, 32, 32)
    stage2 depth x Bottleneck(2w), stride 2 (first)     (B, 2w, 16, 16)
    stage3 depth x Bottleneck(4w), stride 2 (first)     (B, 4w,  8,  8)
    head   GAP -> Linear(4w -> num_classes)             (B, num_classes)

Each bottleneck is ResNet-50's, the same class (:class:`chattn.models.resnet.Bottleneck`: 1x1
reduce to C/4, 3x3 with the stride, 1x1 expand, each followed by BN), with the attention module
where SE-ResNet puts it: on the output of the last BN, before the residual add,

.. math::
    Y = \delta\big(A(\mathrm{BN}_3(W_3\,\delta(\mathrm{BN}_2(W_2\,\delta(\mathrm{BN}_1(W_1 X)))))) + S(X)\big)

with :math:`A` the attention module (the identity for ``attn=None``) and :math:`S` the shortcut
(``block.shortcut(x)``: ``X`` itself, or its projection ``block.downsample`` where the stride or
the width changes). The blocks of stage ``i`` are ``stages[i][0]``, ``stages[i][1]``... (also
``stages[i].blocks``), as the layers of :func:`~chattn.models.resnet50` are.
Per module:

- ``dia``: one :class:`~chattn.DIA` per stage, shared by its blocks; the LSTM state flows from
  block to block and restarts at zero in each stage (DIANet). Every block's ``attn`` attribute
  points to that shared module, which is registered once, as ``stages[i].dia`` (as in
  :func:`~chattn.models.resnet50`).
- ``gct``: as in GCT's paper (and :mod:`chattn.models.resnet`), a GCT before every convolution,
  gating that convolution's input: the stem's (``model.stem_attn``, on the 3 input channels) and,
  in each block, ``conv1``, ``conv2``, ``conv3`` and the shortcut's projection ``downsample``. The
  block's ``attn`` is then an ``nn.ModuleDict`` of those gates keyed ``'conv1'``, ``'conv2'``,
  ``'conv3'`` (and ``'downsample'`` where the shortcut has a convolution); nothing is applied
  after ``bn3``.
- ``enc``: the Context Encoding Module returns ``relu(X + X·γ)``; the SE-loss head is not built
  (``num_classes`` belongs to the network), so the module returns the map only.
- ``fca``: ``dct_h = dct_w =`` the stage's map size (32, 16, 8 for 32x32 input).

The widths here are 32-128 channels, not ResNet-50's 256-2048, so a few paper defaults that
assume wide maps are scaled (:func:`small_options`): a reduction ``r = 4`` instead of 16 for the
MLP gates (se, fca, rcan_ca, soca; at C = 32, r = 16 would leave 2 hidden units), and GSoP's
``att_dim = C/4`` instead of 128. Options passed to :func:`small_resnet` override these for every
block.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .. import _validate
from ..data import PHOTOS
from ..registry import create
from .resnet import Bottleneck, check_attn, make_stage


def small_options(attn: str, channels: int, size: int) -> dict:
    """The options the small net gives ``chattn.create(attn, channels, ...)`` for a block with
    ``channels`` channels on ``size x size`` maps (before the user's options override them).

    Args:
        attn: a registered name.
        channels: C of the block.
        size: side of the block's maps.

    Example::

        >>> small_options("fca", 64, 16)
        {'reduction': 4, 'dct_h': 16, 'dct_w': 16}
    """
    if attn in ("se", "rcan_ca", "soca"):
        return {"reduction": 4}
    if attn == "fca":
        return {"reduction": 4, "dct_h": size, "dct_w": size}
    if attn == "gsop":
        return {"att_dim": max(channels // 4, 1)}
    return {}


class BlockRef(NamedTuple):
    """One entry of :meth:`SmallResNet.blocks`: stage number (1-3), the block, its attention module."""

    stage: int
    """The stage, from 1."""
    block: Bottleneck
    """The :class:`~chattn.models.resnet.Bottleneck`."""
    attn: nn.Module | None
    """Its attention module (a ``ModuleDict`` for GCT), or ``None``."""


class SmallResNet(nn.Module):
    """See the module docstring. Build it with :func:`small_resnet`.

    Args:
        attn: a name of :func:`chattn.available`, ``'none'`` or ``None``.
        num_classes: outputs.
        width: w, channels of the first stage.
        depth: blocks per stage.
        input_size: side of the input.
        **options: for every attention module (see :func:`small_resnet`).

    Shape: ``(B, 3, S, S) -> (B, num_classes)`` logits, ``S = input_size`` (32).
    """

    def __init__(self, attn: str | None = None, num_classes: int = len(PHOTOS), width: int = 32,
                 depth: int = 2, input_size: int = 32, **options):
        super().__init__()
        attn = check_attn(attn, options, SmallResNet)
        self.attn_name = attn
        self.num_classes = _validate.positive_int(num_classes, "num_classes")
        self.width = check_width(width)
        self.depth = _validate.positive_int(depth, "depth")
        self.input_size = _validate.positive_int(input_size, "input_size", minimum=4)
        self.options = dict(options)

        self.stem_attn = create(attn, 3, **options) if attn == "gct" else None     # GCT before the stem conv
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, in_ch, size = [], width, input_size
        for s, (out_ch, stride) in enumerate(zip((width, 2 * width, 4 * width), (1, 2, 2)), start=1):
            size = (size - 1) // stride + 1
            opts = {**small_options(attn, out_ch, size), **options} if attn else {}
            stages.append(make_stage(attn, in_ch, out_ch // Bottleneck.expansion, depth, stride, opts, stage=s))
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(in_ch, num_classes)

    def config(self) -> dict:
        """The constructor arguments, as plain data (stored with shipped weights)."""
        return {"attn": self.attn_name or "none", "num_classes": self.num_classes, "width": self.width,
                "depth": self.depth, "input_size": self.input_size, "options": self.options}

    def blocks(self) -> list[BlockRef]:
        """Every block in forward order as ``(stage, block, attn)``; hook ``attn`` to see what it
        gates (its input is the block's ``bn3`` output). For DIA every block of a stage lists the
        same module, called once per block. For GCT ``attn`` is the block's ``nn.ModuleDict`` of
        gates (a ``ModuleDict`` is never called itself: hook its entries, e.g. ``attn['conv1']``,
        whose input is the block's input); the stem's gate is ``model.stem_attn``.

        Example::

            >>> [(s, b.index, type(a).__name__) for s, b, a in small_resnet("se").blocks()][:2]
            [(1, 0, 'SE'), (1, 1, 'SE')]
        """
        return [BlockRef(stage.blocks[0].stage, block, block.attn) for stage in self.stages for block in stage.blocks]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map: ``(B, 3, S, S) -> (B, 4w, S/4, S/4)``."""
        _validate.feature_map(x, 3)
        x = self.stem(x if self.stem_attn is None else self.stem_attn(x))
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))      # (B, num_classes)


def check_width(width) -> int:
    """``width`` as an int, or a ``TypeError`` / ``ValueError`` naming it: w must be a multiple of
    the bottleneck's expansion (4), since every stage's output, w, 2w or 4w channels, is four times
    its blocks' inner channels; another w would build a network whose stages do not fit together.

    Args:
        width: w, channels of the first stage.
    """
    width = _validate.positive_int(width, "width", minimum=Bottleneck.expansion)
    if width % Bottleneck.expansion:
        raise ValueError(f"width must be a multiple of {Bottleneck.expansion} (each stage's output is "
                         f"{Bottleneck.expansion} x its bottleneck's inner channels), got {width}")
    return width


def small_resnet(attn: str | None = None, num_classes: int = len(PHOTOS), width: int = 32, depth: int = 2,
                 input_size: int = 32, **options) -> SmallResNet:
    """A :class:`SmallResNet` with the attention module ``attn`` in every block.

    Args:
        attn: ``None`` (or ``'none'``) for the plain ResNet, or a name in :func:`chattn.available`.
        num_classes: outputs, default ``len(PHOTOS)`` = 8.
        width: w, channels of the first stage (stages have w, 2w, 4w). Multiples of 16 work for
            every module (FcaNet's ``top16`` splits channels into 16 groups).
        depth: blocks per stage, 2.
        input_size: side of the input, 32 (sets FcaNet's DCT sizes).
        **options: keyword arguments for every attention module (e.g. ``reduction=8``); a name
            that is neither the network's nor the module's raises a TypeError listing both.

    Example::

        >>> net = small_resnet("eca")
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 8])
    """
    check_attn(attn, options, small_resnet)
    return SmallResNet(attn, num_classes, width, depth, input_size, **options)
