r"""ResNet-50 with a channel-attention module in every bottleneck (or stage, or convolution).

The backbone is torchvision's ResNet-50 ("v1.5": the stride of a downsampling bottleneck sits on
the 3x3 convolution), written out here so the package needs no torchvision. ``attn`` names a
module of :func:`chattn.available`; it is built with :func:`chattn.create` and placed as the
official ResNet code of se, gsop, fca, eca, dia, srm and gct places it. The other four were
published in other networks: EncNet's module is a head on a dilated ResNet for segmentation,
bilinear attention follows the stages of an Inception network, RCAN's CA and SoCA sit in the
residual blocks of super-resolution networks (RCAN, SAN). Here they go where SE goes:

===============================================  =====================================================
module                                           placement
===============================================  =====================================================
se, eca, fca, srm, enc, bilinear, rcan_ca, soca  after ``bn3`` of every bottleneck, before the
                                                 residual add: :math:`y = \delta(A(\mathrm{BN}_3(\cdot)) + x)`
gsop                                             the same, but only in the last bottleneck of each
                                                 stage; the dimension-reduction conv has stride 2 in
                                                 stage 1 and ``layer4`` keeps stride 1 (GSoP-Net1)
dia                                              one module per stage, shared by its bottlenecks; the
                                                 LSTM state goes from block to block
gct                                              before every convolution: the stem conv, the three
                                                 convs of each bottleneck and each downsample conv
                                                 (53 modules); stride on the first 1x1 (MSRA v1)
===============================================  =====================================================

Per-stage defaults of the official networks: ECA ``k_size`` 3, 5, 5, 7 (the released checkpoint),
FcaNet DCT size 56, 28, 14, 7 (the map sizes at 224 x 224 input). The classifier pools with
``AdaptiveAvgPool2d(1)`` (GSoP's code uses ``AvgPool2d(14)``, which fixes the input to 224).

Each :class:`Bottleneck` keeps its module as ``block.attn`` (``None`` when it has none), so a
forward hook on ``block.attn`` sees the attended features. For GCT ``block.attn`` is a
``ModuleDict`` keyed by the convolution each gate precedes (``conv1``, ``conv2``, ``conv3``,
``downsample``), and the stem's gate is ``model.stem_attn``. DIA's shared module is registered
once per stage, as ``layer1.dia`` ... ``layer4.dia`` (its state_dict keys), and every block of the
stage refers to it as ``block.attn``; :meth:`ResNet.attention_modules` lists every module once.

Example::

    >>> from chattn.models import resnet50
    >>> model = resnet50("eca")
    >>> sum(p.numel() for p in model.parameters())
    25557112
    >>> model.layer4[0].attn.k_size
    7
"""
from __future__ import annotations

import functools
import inspect
import os
from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .. import _validate
from ..registry import available, check_options, create
from .checkpoints import CheckpointError, _official, from_chattn, read_checkpoint, to_chattn

__all__ = ["Bottleneck", "Stage", "make_stage", "ResNet", "resnet50", "load_checkpoint", "flops"]

# Where each module goes (every other registered name: after bn3 of every bottleneck).
BEFORE_CONV = {"gct"}           # a gate in front of every convolution
SHARED_PER_STAGE = {"dia"}      # one recurrent module per stage, state passed block to block
LAST_BLOCK_ONLY = {"gsop"}      # GSoP-Net1: only the last bottleneck of each stage

ECA_K_SIZE = (3, 5, 5, 7)       # ECA-Net50 released checkpoint (README "k3557")
FCA_DCT_SIZE = (56, 28, 14, 7)  # FcaNet c2wh: the stage's map size at 224 x 224


def conv1x1(in_c: int, out_c: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_c, out_c, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_c: int, out_c: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_c, out_c, kernel_size=3, stride=stride, padding=1, bias=False)


class Bottleneck(nn.Module):
    r"""The ResNet bottleneck with an optional channel-attention module, used by
    :func:`resnet50` and by :func:`chattn.models.small_resnet`.

    .. math::
        F(x) = \mathrm{BN}_3 W_3\, \delta(\mathrm{BN}_2 W_2\, \delta(\mathrm{BN}_1 W_1 x)), \qquad
        y = \delta(A(F(x)) + S(x))

    with :math:`S` the shortcut (:meth:`shortcut`): the input itself, or its projection
    ``downsample`` (1x1 conv with the stride, then BN) when the stride or the width changes.

    ``placement`` says where ``attn`` acts: ``"after_bn3"`` (:math:`A` above), ``"shared"`` (the
    same as ``after_bn3`` but ``attn(out, state) -> (out, state)`` is a recurrent module shared by
    the stage: DIA), ``"before_conv"`` (``attn`` is a ``ModuleDict`` of gates applied to the input of
    the convolutions they are keyed by, ``conv1``, ``conv2``, ``conv3`` and ``downsample``: GCT;
    :math:`A` is the identity). A ``"shared"`` module is not registered in the block: its
    :class:`Stage` registers it once, as ``stage.dia``, and ``block.attn`` refers to it.

    Args:
        inplanes: input channels.
        planes: bottleneck width (output ``4 * planes``).
        stride: stride of the block (on ``conv2``, or on ``conv1`` if ``stride_in_1x1``).
        attn: the module, a ``ModuleDict`` of gates, or ``None``.
        placement: ``"after_bn3"``, ``"shared"`` or ``"before_conv"``.
        stride_in_1x1: the stride on ``conv1`` (MSRA v1) instead of ``conv2`` (v1.5).
        stage: the block's stage, counted from 1 (a label: it changes nothing in the computation).
        index: the block's place in its stage, counted from 0 (a label, too).

    Shape: ``(B, inplanes, H, W) -> (B, 4 planes, H / stride, W / stride)``. A ``"shared"`` block
    takes and returns the state too: ``forward(x, state) -> (y, state)``.
    """

    expansion = 4
    PLACEMENTS = ("after_bn3", "shared", "before_conv")

    def __init__(self, inplanes: int, planes: int, stride: int = 1, attn: nn.Module | None = None,
                 placement: str = "after_bn3", stride_in_1x1: bool = False, *, stage: int = 0,
                 index: int = 0):
        super().__init__()
        width, out = planes, planes * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.stage, self.index = stage, index
        self.conv1, self.bn1 = conv1x1(inplanes, width, s1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width, s3), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv1x1(width, out), nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
        self.placement = _validate.one_of(placement, "placement", self.PLACEMENTS)
        if self.placement == "shared":      # the stage's module: a reference, not a registered child
            object.__setattr__(self, "attn", attn)
        else:
            self.attn = attn

    @property
    def recurrent(self) -> bool:
        return self.placement == "shared" and self.attn is not None

    def _gate(self, conv: str, x: torch.Tensor) -> torch.Tensor:
        if self.placement == "before_conv" and self.attn is not None:
            return self.attn[conv](x)                                          # GCT before ``conv``
        return x

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`S(x)`: ``x``, or ``downsample(x)`` (behind its GCT gate, if any)."""
        return x if self.downsample is None else self.downsample(self._gate("downsample", x))

    def forward(self, x: torch.Tensor, state=None):
        out = self.relu(self.bn1(self.conv1(self._gate("conv1", x))))        # (B, planes, H, W)
        out = self.relu(self.bn2(self.conv2(self._gate("conv2", out))))      # (B, planes, H', W')
        out = self.bn3(self.conv3(self._gate("conv3", out)))                  # (B, 4 planes, H', W')
        identity = self.shortcut(x)
        if self.recurrent:
            out, state = self.attn(out, state)                                 # DIA: shared LSTM step
        elif self.placement == "after_bn3" and self.attn is not None:
            out = self.attn(out)                                               # before the residual add
        out = self.relu(out + identity)
        return (out, state) if self.recurrent else out


class Stage(nn.Module):
    """A ResNet stage (``layer1`` ... ``layer4``): its bottlenecks in order, registered as
    ``stage[0]``, ``stage[1]``... (state_dict keys ``layer1.0.conv1.weight``...), and, for DIA, the
    one module they share, registered once as ``stage.dia`` (``None`` otherwise). The forward passes
    the shared module's state from block to block, starting from ``None``.

    Args:
        blocks: the bottlenecks, in forward order.
        dia: the module the blocks share (DIA), or ``None``.
    """

    def __init__(self, blocks: Sequence[Bottleneck], dia: nn.Module | None = None):
        super().__init__()
        for i, block in enumerate(blocks):
            self.add_module(str(i), block)
        self._depth = len(blocks)
        self.dia = dia

    @property
    def blocks(self) -> list[Bottleneck]:
        """The bottlenecks, in order."""
        return [self._modules[str(i)] for i in range(self._depth)]

    def __getitem__(self, i: int) -> Bottleneck:
        return self.blocks[i]

    def __len__(self) -> int:
        return self._depth

    def __iter__(self):
        return iter(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = None
        for block in self.blocks:
            if block.recurrent:
                x, state = block(x, state)
            else:
                x = block(x)
        return x


def network_options(network) -> list[str]:
    """The options a network function or class takes itself (its named parameters but ``attn``)."""
    params = inspect.signature(network).parameters.values()
    return [p.name for p in params if p.name not in ("self", "attn") and p.kind != p.VAR_KEYWORD]


def check_attn(attn, options: dict, network) -> str | None:
    """``attn`` lower-cased (``None`` for ``None`` or ``'none'``), after checking it and that every
    option is one the module ``attn`` accepts (the network's own options are named parameters).

    Args:
        attn: the module name.
        options: the options left for the module.
        network: the network function or class, for the names it accepts.
    """
    if attn is not None and not isinstance(attn, str):
        raise TypeError(f"attn must be None or a str, one of {available()}, got {type(attn).__name__}")
    attn = None if attn is None or attn.lower() == "none" else attn.lower()
    if attn is not None:
        _validate.one_of(attn, "attn", available())
        check_options(attn, options, network_options(network), network.__name__)
    elif options:
        raise TypeError(f"{network.__name__} got options {sorted(options)} without an attention module "
                        f"(attn=None); the network accepts {network_options(network)}")
    return attn


def make_stage(attn: str | None, inplanes: int, planes: int, depth: int, stride: int, options: dict, *,
               stage: int, stride_in_1x1: bool = False, last_block_only: bool = False) -> Stage:
    """One stage of ``depth`` bottlenecks with ``attn`` placed as its paper places it (the table of
    the module docstring): the builder of both :class:`ResNet` and
    :class:`~chattn.models.small.SmallResNet`.

    Modules are created in forward order (a shared DIA module first), each before its block.

    Args:
        attn: a registered name, or ``None``.
        inplanes: input channels of the stage.
        planes: bottleneck width (output ``4 * planes``).
        depth: number of bottlenecks.
        stride: stride of the first bottleneck.
        options: ``create(attn, C, **options)`` for every module of the stage.
        stage: the stage's number, from 1 (a label for the blocks).
        stride_in_1x1: the first bottleneck's stride on ``conv1`` (MSRA v1).
        last_block_only: a module only in the last bottleneck (GSoP-Net1).
    """
    out = planes * Bottleneck.expansion
    shared = create(attn, out, **options) if attn in SHARED_PER_STAGE else None
    blocks = []
    for b in range(depth):
        cin, s = (inplanes, stride) if b == 0 else (out, 1)
        if attn is None or (last_block_only and b < depth - 1):
            module, placement = None, "after_bn3"
        elif attn in BEFORE_CONV:                       # GCT: a gate sized by each conv's input
            widths = {"conv1": cin, "conv2": planes, "conv3": planes}
            if s != 1 or cin != out:
                widths["downsample"] = cin
            module = nn.ModuleDict({k: create(attn, c, **options) for k, c in widths.items()})
            placement = "before_conv"
        elif shared is not None:
            module, placement = shared, "shared"
        else:
            module, placement = create(attn, out, **options), "after_bn3"
        blocks.append(Bottleneck(cin, planes, s, module, placement, stride_in_1x1, stage=stage, index=b))
    return Stage(blocks, dia=shared)


def _stage_options(name: str | None, stage: int, options: dict) -> dict:
    """The options of ``create(name, C, ...)`` in stage ``stage`` (0..3): the official per-stage
    defaults unless the caller gave them."""
    opts = dict(options)
    if name == "eca":
        k = opts.get("k_size")
        if k is None:
            opts["k_size"] = ECA_K_SIZE[stage]
        elif isinstance(k, Sequence) and not isinstance(k, str):
            if len(k) != 4:
                raise ValueError(f"k_size must be an odd int or a sequence of 4 (one per stage), got {k!r}")
            opts["k_size"] = k[stage]
    elif name == "fca":
        opts.setdefault("dct_h", FCA_DCT_SIZE[stage])
        opts.setdefault("dct_w", opts["dct_h"])
    elif name == "gsop":
        opts.setdefault("stride", 2 if stage == 0 else 1)
    return opts


class ResNet(nn.Module):
    r"""A bottleneck ResNet (torchvision layout and parameter names) with channel attention.

    ``conv1 -> bn1 -> relu -> maxpool -> layer1..layer4 -> avgpool -> fc``; stage ``i`` has
    ``layers[i]`` bottlenecks of width ``64 * 2**i`` (output ``256 * 2**i`` channels).

    Args:
        layers: bottlenecks per stage, ``(3, 4, 6, 3)`` for ResNet-50.
        attn: a name of :func:`chattn.available`, or ``None`` for the plain network.
        num_classes: outputs of ``fc``.
        stride_in_1x1: put a block's stride on ``conv1`` (MSRA v1) instead of ``conv2`` (v1.5).
        last_stride: stride of ``layer4`` (2; GSoP-Net1 uses 1).
        **options: passed to :func:`chattn.create` (e.g. ``reduction=16``, ``bias=True``).

    Shape: ``(B, 3, H, W) -> (B, num_classes)``.

    Kaiming-normal (fan-out) init for every ``Conv2d``, weight 1 / bias 0 for every
    ``BatchNorm2d``/``GroupNorm``, including those inside the attention modules, as the official
    networks built on torchvision do; ``Linear``/``Conv1d`` and the modules' own parameters keep
    their init (SRM's zero ``cfc``, GCT's identity start, ...).
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), attn: str | None = None,
                 num_classes: int = 1000, stride_in_1x1: bool = False, last_stride: int = 2,
                 **options):
        super().__init__()
        attn = check_attn(attn, options, ResNet)
        if not (isinstance(layers, Sequence) and len(layers) == 4):
            raise ValueError(f"layers must be 4 block counts, got {layers!r}")
        layers = [_validate.positive_int(n, f"layers[{i}]") for i, n in enumerate(layers)]
        num_classes = _validate.positive_int(num_classes, "num_classes")
        last_stride = _validate.positive_int(last_stride, "last_stride")
        self.attn_name = attn
        self.stride_in_1x1 = bool(stride_in_1x1)

        self.stem_attn = create(attn, 3, **options) if attn in BEFORE_CONV else None
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (n, stride) in enumerate(zip(layers, (1, 2, 2, last_stride))):
            stage = make_stage(attn, inplanes, 64 * 2 ** i, n, stride, _stage_options(attn, i, options),
                               stage=i + 1, stride_in_1x1=self.stride_in_1x1,
                               last_block_only=attn in LAST_BLOCK_ONLY)
            self.add_module(f"layer{i + 1}", stage)
            inplanes = 64 * 2 ** i * Bottleneck.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the pooling: ``(B, 3, H, W) -> (B, 2048, H/32, W/32)`` (H/16 with
        ``last_stride=1``)."""
        _validate.feature_map(x, 3)
        if self.stem_attn is not None:
            x = self.stem_attn(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.forward_features(x))      # (B, 2048, 1, 1)
        return self.fc(torch.flatten(x, 1))             # (B, num_classes)

    def attention_modules(self) -> list[nn.Module]:
        """The distinct attention modules, in forward order (a shared DIA module once)."""
        found, seen = [], set()
        candidates = [self.stem_attn] + [blk.attn for st in (self.layer1, self.layer2, self.layer3,
                                                              self.layer4) for blk in st]
        for a in candidates:
            for m in (a.values() if isinstance(a, nn.ModuleDict) else [a]):
                if m is not None and id(m) not in seen:
                    seen.add(id(m))
                    found.append(m)
        return found


def resnet50(attn: str | None = None, num_classes: int = 1000, *, stride_in_1x1: bool | None = None,
             last_stride: int | None = None, checkpoint=None, **options) -> ResNet:
    r"""ResNet-50 with the channel-attention module ``attn``, placed as its official ResNet code places
    it, or where SE goes for a module published in another network (the table of
    :mod:`chattn.models.resnet`).

    Args:
        attn: a name of :func:`chattn.available` (``"se"``, ``"eca"``, ``"gct"``...) or ``None``.
        num_classes: 1000.
        stride_in_1x1: ``None`` (default) follows the official network: ``True`` (MSRA v1, stride
            on the first 1x1) for GCT, ``False`` (torchvision v1.5, stride on the 3x3) otherwise.
            It changes the FLOPs (v1 3.858 G MACs, v1.5 4.089 G at 224), not the parameters.
        last_stride: ``None`` follows the official network: 1 for GSoP (GSoP-Net1), else 2.
        **options: passed to :func:`chattn.create` for every module, e.g. ``reduction=16``,
            ``bias=True`` (Caffe SE). ECA's ``k_size`` may be one odd int or four (one per stage);
            FcaNet's ``dct_h``/``dct_w`` override the per-stage 56/28/14/7.
        checkpoint: path of an official ImageNet checkpoint of ``attn`` (``se``, ``eca``, ``fca``,
            ``srm``, ``gct`` or ``gsop``), read and loaded strictly by
            ``chattn.models.checkpoints.load_checkpoint``; the network is then the official
            one (leave the other arguments at their defaults). ``None``: random initial weights.

    Parameters (learnable; tests check them): ``None`` 25,557,032; ``se`` 28,071,976; ``se`` with
    ``bias=True`` 28,088,024; ``eca`` 25,557,112; ``fca`` 28,071,976; ``srm`` 25,617,448;
    ``gct`` 25,624,625; ``gsop`` 28,285,224.

    Input: ``(B, 3, H, W)``; FcaNet's default DCT sizes need H, W >= 224 (smaller maps: pass
    ``dct_h=dct_w=7``). Output: ``(B, num_classes)``.

    Example::

        >>> model = resnet50("se", bias=True)
        >>> sum(p.numel() for p in model.parameters())
        28088024
        >>> model.layer1[0].attn.fc[0]          # SE after bn3 of the first bottleneck
        Linear(in_features=256, out_features=16, bias=True)
    """
    attn = check_attn(attn, options, resnet50)
    if stride_in_1x1 is None:
        stride_in_1x1 = attn in BEFORE_CONV
    if last_stride is None:
        last_stride = 1 if attn in LAST_BLOCK_ONLY else 2
    model = ResNet((3, 4, 6, 3), attn, num_classes, stride_in_1x1=stride_in_1x1,
                   last_stride=last_stride, **options)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


@functools.lru_cache(maxsize=None)
def _official_architecture(attn: str) -> str:
    """``repr`` of the network :func:`~chattn.models.resnet.resnet50` builds by default for ``attn``: the
    official architecture (strides, kernel sizes, module options), without its weights."""
    return repr(resnet50(attn))


def _listing(title: str, items: list[str], limit: int = 8) -> list[str]:
    if not items:
        return []
    lines = [f"  {title} ({len(items)}):"] + [f"    {s}" for s in items[:limit]]
    if len(items) > limit:
        lines.append(f"    ... and {len(items) - limit} more")
    return lines


def load_checkpoint(model: nn.Module, checkpoint, attn: str | None = None) -> nn.Module:
    r"""Load the official checkpoint file ``checkpoint`` into ``model``, a
    :func:`~chattn.models.resnet.resnet50` built with ``attn`` and its default (official) options; return
    ``model``.

    Every key of the file is renamed by :func:`~chattn.models.checkpoints.to_chattn`; then the
    file's keys must be exactly the network's keys, each with the network's shape. Files from
    PyTorch < 0.4.1 have no ``num_batches_tracked`` (BatchNorm's step counter, unused in eval):
    when the file has none, they are set to 0, as ``nn.BatchNorm2d`` itself does for such files.
    Anything else that does not fit raises :class:`~chattn.models.checkpoints.CheckpointError`
    listing the missing, unexpected and mis-shaped keys, with both names, and leaves the model
    untouched.

    Args:
        model: the network to fill (``resnet50(attn)``).
        checkpoint: path of the file (see :func:`~chattn.models.checkpoints.read_checkpoint`).
        attn: ``None`` (default): ``model.attn_name``.
    """
    if not isinstance(model, ResNet):
        raise TypeError(f"model must be a chattn.models.resnet.ResNet (resnet50(attn)), got {type(model).__name__}")
    official = _official(model.attn_name if attn is None else attn)
    if model.attn_name != official.attn:
        raise ValueError(f"attn={official.attn!r} but the model was built with attn={model.attn_name!r}")
    if repr(model) != _official_architecture(official.attn):
        ours, theirs = repr(model).splitlines(), _official_architecture(official.attn).splitlines()
        diff = next(((i, a, b) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                    (min(len(ours), len(theirs)), "<end>", "<end>"))
        raise ValueError(f"model is not the official {official.attn} ResNet-50 that the checkpoint was trained "
                         f"as (build it with resnet50({official.attn!r}) and no other options); first "
                         f"difference, line {diff[0]}: model has {diff[1].strip()!r}, official "
                         f"{diff[2].strip()!r}")
    path = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    raw = read_checkpoint(checkpoint)

    state, origin = {}, {}
    for key, value in raw.items():
        new = to_chattn(official.attn, key)
        if new in state:
            raise CheckpointError(f"checkpoint={path!r}: keys {origin[new]!r} and {key!r} both map to {new!r}")
        state[new], origin[new] = value, key
    target = model.state_dict()
    counters = [k for k in target if k.endswith("num_batches_tracked")]
    if not any(k in state for k in counters):
        for k in counters:
            state[k] = torch.zeros((), dtype=torch.long)
            origin[k] = "(none in the file: 0)"

    def named(k):
        return k if origin.get(k, k) == k else f"{k} (file: {origin[k]})"

    missing = [f"{k} (official name {from_chattn(official.attn, k)})" for k in target if k not in state]
    unexpected = [f"{origin[k]}" + (f" (-> {k})" if origin[k] != k else "") for k in state if k not in target]
    shapes = [f"{named(k)}: file {tuple(v.shape)}, network {tuple(target[k].shape)}"
              for k, v in state.items() if k in target and v.shape != target[k].shape]
    if missing or unexpected or shapes:
        lines = [f"checkpoint={path!r} does not fit resnet50({official.attn!r}), the official network of "
                 f"{official.repo} ({official.file}): {len(missing)} missing, {len(unexpected)} unexpected, "
                 f"{len(shapes)} mis-shaped key(s); nothing was loaded."]
        lines += _listing("missing: in the network, not in the file", missing)
        lines += _listing("unexpected: in the file, no place in the network", unexpected)
        lines += _listing("wrong shape", shapes)
        raise CheckpointError("\n".join(lines))
    model.load_state_dict(state, strict=True)
    return model


def flops(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> int:
    r"""Total FLOPs of one forward pass of ``model`` on an input of ``input_size``, counted by
    :class:`torch.utils.flop_counter.FlopCounterMode`.

    The counter counts convolutions and matrix products (``mm``, ``addmm``, ``bmm``, ...) at 2
    FLOPs per multiply-add; element-wise operations, pooling and normalisation count 0. So
    **MACs = FLOPs / 2**, the unit of the papers' "GFLOPs" (plain ResNet-50 at 224: 4.089 G MACs).

    Nothing is computed: the forward runs on ``meta`` tensors (shapes only), in eval mode, and the
    model's weights and training flags are left as they were.

    Args:
        model: any ``nn.Module`` taking one ``(B, C, H, W)`` tensor.
        input_size: ``(B, C, H, W)`` of the input.

    Example::

        >>> flops(resnet50()) / 2 / 1e9      # GMACs
        4.089184256
    """
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence):
        raise TypeError(f"input_size must be a sequence of ints (B, C, H, W), got {input_size!r}")
    if len(input_size) != 4:
        raise ValueError(f"input_size must have 4 entries (B, C, H, W), got {tuple(input_size)}")
    size = tuple(_validate.positive_int(n, f"input_size[{i}]") for i, n in enumerate(input_size))
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    dtype = next((t.dtype for t in tensors.values() if t.is_floating_point()), torch.float32)
    meta = {k: torch.empty_like(t, device="meta") for k, t in tensors.items()}
    x = torch.empty(size, dtype=dtype, device="meta")
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            torch.func.functional_call(model, meta, (x,))
    finally:
        for m, training in flags.items():
            m.training = training
    return int(counter.get_total_flops())
