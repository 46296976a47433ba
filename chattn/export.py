r"""Export a network of ``chattn.models`` to ONNX with every attention gate as a named output.

A network with attention modules computes, in each of them, a gate :math:`s = F(X; \theta)` and
scales :math:`Y = s \cdot X`. :func:`to_onnx` writes a graph whose outputs are the logits and,
for every call of an attention module in forward order, its gate :math:`s`:

.. code-block:: text

    input   "x"          (N, 3, S, S)   float32, normalised patches (chattn.data.normalize)
    output  "logits"     (N, K)
    output  "gate.<where>"  (N, C, 1, 1), or (N, C, H, W) for a gate that varies over space

``<where>`` names the call (:func:`gates` gives the same names) as the book names blocks
(:func:`chattn.analysis.block_label`, counted from 1): ``stage1.block1`` is stage 1, block 1 of
:func:`~chattn.models.small_resnet` or :func:`~chattn.models.resnet50`; GCT's gates are
``stage1.block1.conv1`` (``.conv2``, ``.conv3``, ``.downsample``), the one before the stem conv is
``stem``; DIA's module, shared by a stage, gives ``stage1.block1``, ``stage1.block2``... one per
call. A module outside a bottleneck keeps its dotted path (``#k`` for its k-th call, k >= 1).
The batch ``N`` is dynamic.

The gate is what :func:`chattn.base.record_gates` reads: the output of each attention module's
``gate``, the very tensor that scales ``X`` (EncNet's :math:`1 + \gamma`, see
:class:`~chattn.base.ChannelAttention`).

:func:`image_patches` cuts a photograph into the networks' input patches (the grid of
``patch x patch`` tiles from the top-left corner, normalised as :mod:`chattn.data` normalises).

Example::

    >>> from chattn import pretrained, export
    >>> net = pretrained.load("se")
    >>> names = export.to_onnx(net, "se.onnx")          # doctest: +SKIP
    >>> names[:3]                                        # doctest: +SKIP
    ['logits', 'gate.stage1.block1', 'gate.stage1.block2']
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import _validate
from .base import ChannelAttention, GateCall, record_gates
from .models.resnet import Bottleneck

__all__ = ["to_onnx", "gates", "gate_names", "image_patches", "OPSET", "EXPORTERS"]

#: The ONNX opset of :func:`to_onnx` (onnxruntime-web 1.30 runs it).
OPSET = 18
#: The exporters :func:`to_onnx` knows, torch's TorchScript-based one (the default) and its dynamo one.
EXPORTERS = ("torchscript", "dynamo")


def _places(model: nn.Module) -> dict[nn.Module, list[str]]:
    """Attention module -> the names of its calls in forward order, as the book names blocks
    (:func:`chattn.analysis.block_label`, 1-based): ``stem``, ``stage1.block1``, ``stage1.block1.conv1``
    (GCT). A module shared by a stage's blocks (DIA) has one name per block."""
    places: dict[nn.Module, list[str]] = {}
    stem = getattr(model, "stem_attn", None)
    if isinstance(stem, ChannelAttention):
        places[stem] = ["stem"]
    for block in model.modules():
        if not isinstance(block, Bottleneck) or block.attn is None:
            continue
        where = f"stage{block.stage}.block{block.index + 1}"
        if isinstance(block.attn, nn.ModuleDict):               # GCT: a gate before each conv
            for conv, m in block.attn.items():
                places[m] = [f"{where}.{conv}"]
        else:
            places.setdefault(block.attn, []).append(where)     # DIA: one name per block
    return places


def _named(model: nn.Module, calls: list[GateCall]) -> list[tuple[str, torch.Tensor]]:
    """``(gate.<where>, s)`` for every recorded call: the book's name where the module sits in a
    block (call k of a shared module is its k-th block), else its dotted path (``#k`` from the
    second call on)."""
    places, count, out = _places(model), {}, []
    for call in calls:
        k = count[call.module] = count.get(call.module, -1) + 1
        names = places.get(call.module)
        if names:
            where = names[k % len(names)]
        else:
            where = call.name + (f"#{k}" if k else "")
        out.append((f"gate.{where}", call.s))
    return out


class _WithGates(nn.Module):
    """``forward(x) -> (logits, gate_1, ..., gate_n)`` of a network, for export."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        with record_gates(self.model) as calls:
            logits = self.model(x)
        return (logits, *[call.s for call in calls])


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a network of chattn.models), got {type(model).__name__}")
    if not any(True for _ in model.parameters()):
        raise ValueError("model has no parameters: nothing to export")
    return model


def _example(model: nn.Module, example) -> torch.Tensor:
    if example is None:
        size = getattr(model, "input_size", None)
        if size is None:
            raise ValueError(f"{type(model).__name__} has no input_size: pass example=, a (N, 3, H, W) tensor")
        example = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    _validate.feature_map(example, 3, name="example")
    if example.shape[0] < 2:
        raise ValueError(f"example must have a batch of at least 2 (the exported batch is dynamic), "
                         f"got shape {tuple(example.shape)}")
    return example.float()


@torch.no_grad()
def gates(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""Run ``model`` on ``x`` (its mode unchanged) and return ``{"logits": ..., "gate.<where>": s, ...}``
    in forward order: the values :func:`to_onnx`'s outputs hold.

    Args:
        model: a network of ``chattn.models``.
        x: normalised patches ``(N, 3, S, S)``.

    Shape: ``x (N, 3, S, S)`` -> logits ``(N, K)``, each gate ``(N, C, 1, 1)`` or ``(N, C, H, W)``.

    Example::

        >>> from chattn.models import small_resnet
        >>> out = gates(small_resnet("se").eval(), torch.randn(2, 3, 32, 32))
        >>> list(out)[:3], tuple(out["gate.stage3.block2"].shape)
        (['logits', 'gate.stage1.block1', 'gate.stage1.block2'], (2, 128, 1, 1))
    """
    _check_model(model)
    _validate.feature_map(x, 3)
    with record_gates(model) as calls:
        logits = model(x)
    return {"logits": logits, **dict(_named(model, calls))}


def gate_names(model: nn.Module, example: torch.Tensor | None = None) -> list[str]:
    """Output names of :func:`to_onnx` for ``model``: ``['logits', 'gate.<where>', ...]``.

    Args:
        model: a network of ``chattn.models``.
        example: an input, as :func:`to_onnx` takes it.
    """
    was = model.training
    try:
        return list(gates(_check_model(model).eval(), _example(model, example)))
    finally:
        model.train(was)


def to_onnx(model: nn.Module, path: str | Path, example: torch.Tensor | None = None,
            opset: int = OPSET, exporter: str = "torchscript") -> list[str]:
    r"""Write ``model`` (in eval mode; its mode is restored) to the ONNX file ``path``, with the logits
    and every attention gate as named outputs (see the module docstring), and return the output names.

    The batch dimension is dynamic, the spatial size is that of ``example``. Two exporters of
    ``torch.onnx.export`` write the same outputs (``tests/test_export.py`` runs both against torch):

    - ``"torchscript"`` (default, ``dynamo=False``): traces the forward once; about ten times faster
      (1-4 s per small network on one core, against 10-60 s) and about a third smaller files, which
      is what lets the book build export its 36 networks on every clean build. torch marks it
      deprecated; chattn pins torch, and the network's forward has no control flow that depends on
      values (the traced shape checks are on the fixed spatial size; the batch stays dynamic).
    - ``"dynamo"`` (``dynamo=True``, torch's default): ``torch.export`` then onnxscript.

    Args:
        model: a network of ``chattn.models`` (any ``nn.Module`` whose forward maps
            ``(N, 3, H, W)`` to logits; gates are found as :class:`~chattn.base.ChannelAttention` modules).
        path: the ``.onnx`` file to write; its folder must exist.
        example: an input ``(N >= 2, 3, H, W)``; default ``(2, 3, S, S)`` with ``S = model.input_size``.
        opset: ONNX opset, default :data:`OPSET` (18).
        exporter: ``"torchscript"`` (default) or ``"dynamo"``, see above.

    Returns:
        The output names, ``['logits', 'gate.<where>', ...]``.

    Example::

        >>> from chattn.models import small_resnet
        >>> to_onnx(small_resnet("eca"), "eca.onnx")[:2]        # doctest: +SKIP
        ['logits', 'gate.stage1.block1']
    """
    _check_model(model)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (e.g. pathlib.Path), got {type(path).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"path's folder {path.parent} does not exist")
    opset = _validate.positive_int(opset, "opset", minimum=OPSET)
    _validate.one_of(exporter, "exporter", EXPORTERS)
    example = _example(model, example)
    names = gate_names(model, example)
    was = model.training
    model.eval()
    quiet = logging.getLogger("torch.onnx")             # "torchvision is not installed" notes
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own deprecations inside export
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1)
                program = torch.onnx.export(_WithGates(model).eval(), (example,), dynamo=True, opset_version=opset,
                                            input_names=["x"], output_names=names,
                                            dynamic_shapes=({0: batch},), verbose=False)
                program.save(str(path))
            else:
                # The exporter's own deprecation notice, and the tracer's notes on chattn's input
                # checks (shape comparisons, constant for the traced spatial size).
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                torch.onnx.export(_WithGates(model).eval(), (example,), str(path), dynamo=False,
                                  opset_version=opset, input_names=["x"], output_names=names,
                                  dynamic_axes={n: {0: "batch"} for n in ["x", *names]}, verbose=False)
    finally:
        quiet.setLevel(level)
        model.train(was)
    return names


def image_patches(image, patch: int = 32, background: int = 255) -> tuple[torch.Tensor, tuple[int, int]]:
    r"""Cut an image into the networks' input: the ``rows x cols`` grid of ``patch x patch`` tiles
    from the top-left corner (the remainder on the right and bottom is dropped), in row order,
    as :mod:`chattn.data` prepares its patches: ``uint8 / 255``, grey repeated to RGB, then
    :func:`chattn.data.normalize`. An alpha channel is composited onto a grey level
    ``background`` (white by default), as the page "Your photograph" does:

    .. math:: x = \frac{c}{255}\,\alpha + \frac{\text{background}}{255}\,(1 - \alpha),
              \qquad \alpha = \frac{a}{255}

    (float32, in this order; an opaque pixel is ``c / 255`` exactly).

    Args:
        image: a ``uint8`` array ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` with ``H, W >= patch``.
        patch: side of the square patches, 32.
        background: the grey level 0-255 behind transparent pixels, 255 (white).

    Returns:
        ``x``: float32 ``(rows · cols, 3, patch, patch)``;  ``(rows, cols)`` with
        ``rows = ⌊H / patch⌋``, ``cols = ⌊W / patch⌋``.

    Example::

        >>> x, grid = image_patches(np.zeros((70, 100, 3), np.uint8))
        >>> tuple(x.shape), grid
        ((6, 3, 32, 32), (2, 3))
    """
    from .data import normalize

    patch = _validate.positive_int(patch, "patch")
    if isinstance(background, bool) or not isinstance(background, (int, np.integer)) or not 0 <= background <= 255:
        raise ValueError(f"background must be an int grey level from 0 to 255, got {background!r}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"image must be a uint8 numpy array, got {type(image).__name__}"
                        f"{'' if not isinstance(image, np.ndarray) else ' of dtype ' + str(image.dtype)}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)              # grey -> RGB
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    h, w = image.shape[:2]
    if h < patch or w < patch:
        raise ValueError(f"image is {h}x{w} pixels, smaller than one {patch}x{patch} patch")
    rows, cols = h // patch, w // patch
    cut = torch.from_numpy(np.ascontiguousarray(image[:rows * patch, :cols * patch]))
    t = cut[..., :3].float().div_(255.0)
    if cut.shape[2] == 4:                                             # composite onto the background
        alpha = cut[..., 3:].float().div_(255.0)
        t = t * alpha + (1 - alpha) * torch.tensor(background / 255.0, dtype=torch.float32)
    t = t.permute(2, 0, 1)                                                # (3, rows·p, cols·p)
    x = t.reshape(3, rows, patch, cols, patch).permute(1, 3, 0, 2, 4).reshape(-1, 3, patch, patch)
    return normalize(x.contiguous()), (rows, cols)
