r"""Train the small ResNet with each attention module on the photo-patch task, record every run.

.. code-block:: bash

    python -m chattn.train --attn se                   # one run, seed 0, into runs/
    python -m chattn.train --all --seeds 3 --ship --jobs 2 --threads 1
                                                       # the grid: 12 configs x 3 seeds, ~23 min
    python -m chattn.train --summary chattn/weights    # mean ± std of test accuracy per module
    python -m chattn.train --attn se --opt reduction=8 # a module option, in the record and file names
    python -m chattn.train --sweep se:reduction=2,4,8,16,32 --seeds 3     # one run per value and seed
    python -m chattn.train --all --task recoloured     # every patch its own channel gains and contrast

A run: :func:`chattn.models.small_resnet` (``attn``), AdamW with warm-up and cosine decay
(weight decay on every parameter except those the official recipes exempt, :func:`param_groups`),
cross-entropy on augmented train patches (:func:`chattn.data.augment`), then the accuracy of the
model in eval mode on the un-augmented train patches and on the test patches (a disjoint region of
every photo). Each run writes ``small_resnet_{attn}_seed{seed}.safetensors`` (the state_dict with
buffers; the model config in the file's metadata) and ``small_resnet_{attn}_seed{seed}.json``.
With ``--ship`` the output is ``chattn/weights/``, the seed-0 weights are named
``small_resnet_{attn}.safetensors`` and only they are written: :mod:`chattn.pretrained` loads them.

Two single-threaded processes (``--jobs 2 --threads 1``) use two cores better than one process
with two threads: the convolutions here are small, and idle OpenMP threads spin on a shared CPU.

**Module options, sweeps, another task.** ``--opt KEY=VALUE`` (repeatable) passes an option to
every attention module of the network (``--attn se --opt reduction=8``, ``--attn eca --opt
k_size=5``); the value is read as an int, else a float, else ``True``/``False``/``None``, else a
string (:func:`parse_option`). ``--sweep MODULE:OPTION=V1,V2,...`` (repeatable, instead of
``--attn``) trains the module once per value (:func:`parse_sweep`), ``--seeds`` times each, seed
by seed (one seed of every value first, so a partial sweep already covers every value); ``--opt``
may fix another option of the swept module. A bad option (unknown name, a value the module
refuses, an option for ``none`` or with ``--all``) stops the command before any training. The
record keeps the options under ``model.options`` and the file names carry them, sorted by name
(:func:`stem`: ``small_resnet_se_reduction8_seed1.json``, ``small_resnet_eca_k_size5.safetensors``).
``--task recoloured`` trains and evaluates on :func:`chattn.data.recolour`'s task (every patch its
own per-channel gain and contrast; fresh draws per training batch, fixed draws on the evaluated
patches; the record's ``task``); not with ``--data``. ``--no-weights`` writes the records only.

``--ship`` writes where :mod:`chattn.pretrained` reads (:func:`ship_dir`): the grid (photo patches,
no options) into ``chattn/weights/``, runs with module options into ``chattn/weights/sweep/``,
runs of another task into ``chattn/weights/<task>/``; seed 0's weights under the name without the
seed, records for every seed. The shipped sweeps (:data:`chattn.pretrained.SWEEPS`) and the
recoloured grid came from

.. code-block:: bash

    python -m chattn.train --ship --seeds 3 --jobs 2 --threads 1 --quiet --skip-existing \
      --sweep se:reduction=2,4,8,16,32 --sweep eca:k_size=1,3,5,7,9
    python -m chattn.train --ship --seeds 2 --jobs 3 --threads 1 --quiet --skip-existing \
      --sweep fca:reduction=2,4,8,16 --sweep bilinear:reduction=4,8,16,32 --sweep rcan_ca:reduction=2,4,8,16 \
      --sweep dia:reduction=2,4,8,16 --sweep soca:reduction=2,4,8,16
    python -m chattn.train --ship --task recoloured --all --seeds 3 --jobs 1 --threads 1 --quiet --no-weights

Every sweep trains the grid's own value (the small net's default) again, as a sweep point: the
grid in ``chattn/weights/`` was trained by an earlier version of this script whose seeds draw
other initial weights, so its runs do not stand in for a sweep point (ECA's grid uses the adaptive
kernel size, which is not a sweep value). SE and ECA have three seeds per value, the other five
two (:data:`~chattn.pretrained.SWEEP_SEEDS`). The third command is the 12-config grid on the
recoloured task (records only). ``--skip-existing`` skips the runs already recorded, so a sweep
that was interrupted resumes where it stopped; ``--jobs`` does not change what a run computes.

**More than one process** (:class:`torch.nn.parallel.DistributedDataParallel`):

.. code-block:: bash

    torchrun --nproc_per_node=2 -m chattn.train --attn srm             # CPU, gloo
    torchrun --nproc_per_node=8 -m chattn.train --attn eca --arch resnet50 --data /data/imagenet \
        --patch 224 --batch-size 256 --epochs 100 --lr 1e-3 --device cuda   # GPUs: NCCL, mixed precision

``--batch-size`` is the global batch: each of the W processes takes ``batch_size / W`` samples of
it, as :class:`~torch.utils.data.DistributedSampler` shards the shuffled order (rank r takes every
W-th sample). The BatchNorms inside SRM, GSoP, EncNet and bilinear attention normalise pooled
statistics, one value per sample and channel, so a small per-process batch gives them few values:
under DDP they are synchronised (``--sync-bn attention``, the default: statistics of the global
batch), ``--sync-bn all`` synchronises every BatchNorm, ``none`` none. On CUDA this is
:class:`torch.nn.SyncBatchNorm`; on CPU (which it does not support) :class:`SyncBatchNorm`, the
same computation over gloo. Only rank 0 writes; the record says the world size, the device, which
BatchNorms were synchronised, and each rank's sha256 of its final weights.

With ``--sync-bn all`` a W-process run computes what one process computes on the same global
batch: the same samples per step (the sampler's shards, augmented with the draws of their
position in the global batch), the same BatchNorm statistics, and DDP's averaged gradient is the
gradient of the global batch's mean loss. So the loss curves agree to float rounding (tested).

``--data PATH`` trains on a folder of images in the ImageNet layout, ``PATH/train/<class>/*.jpg``
and ``PATH/val/<class>/*.jpg`` (:class:`ImageFolder`, read with PIL): random resized crops of
``--patch`` pixels and flips for training, the centre crop for validation, ImageNet normalisation.

The seed sets the initial weights, the batch order and the augmentation; the patches are the same
for every run (data seed 0), so the spread over seeds is the spread of training alone.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from . import __version__, _validate
from .data import PHOTOS, TASKS, augment, make_dataset, recolour
from .models.checkpoints import IMAGENET_MEAN, IMAGENET_STD, preprocess
from .models.resnet import resnet50
from .models.small import SmallResNet, small_resnet
from .registry import available

#: Where ``--ship`` writes, and where :mod:`chattn.pretrained` reads.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: Defaults of one run; every key is a command-line option.
DEFAULTS = dict(epochs=3, per_class=400, test_per_class=200, batch_size=64, lr=4e-3, weight_decay=5e-4,
                width=32, depth=2, patch=32)


def configs() -> list[str]:
    """The grid: ``'none'`` and every registered module."""
    return ["none"] + available()


def stem(attn: str, seed: int | None = None, arch: str = "small", options: dict | None = None) -> str:
    """File stem of a run: ``small_resnet_se_seed1``, or ``small_resnet_se`` for shipped weights
    (``resnet50_se_seed1`` for ``arch="resnet50"``); module options follow the name, sorted
    (``small_resnet_se_reduction8_seed1``, ``small_resnet_eca_k_size5``; in a value, ``.`` is
    written ``p`` and ``-`` ``m``).

    Example::

        >>> stem("se", 1, options={"reduction": 8}), stem("gct", options={"epsilon": 0.5})
        ('small_resnet_se_reduction8_seed1', 'small_resnet_gct_epsilon0p5')
    """
    opts = "".join(f"_{k}{_option_text(v)}" for k, v in sorted((options or {}).items()))
    return ("small_resnet" if arch == "small" else arch) + f"_{attn}{opts}" + ("" if seed is None else f"_seed{seed}")


def _option_text(value) -> str:
    return str(value).replace(".", "p").replace("-", "m")


def parse_option(text: str) -> tuple[str, object]:
    """``'reduction=8'`` -> ``('reduction', 8)``: the value as an int, else a float, else
    ``True``/``False``/``None``, else the string. Raises ``ValueError`` for anything else.

    Example::

        >>> parse_option("reduction=8"), parse_option("gamma=2.5"), parse_option("k_size=None")
        (('reduction', 8), ('gamma', 2.5), ('k_size', None))
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier() or not value.strip():
        raise ValueError(f"an option must look like key=value (e.g. reduction=8), got {text!r}")
    return key.strip(), _parse_value(value.strip())


def _parse_value(value: str):
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(value, value)


def parse_sweep(text: str) -> tuple[str, str, list]:
    """``'se:reduction=2,4,8'`` -> ``('se', 'reduction', [2, 4, 8])``: a module, one of its options,
    and the values to train it with (each read as :func:`parse_option` reads one). Raises
    ``ValueError`` for another form, no value, or a value given twice.

    Example::

        >>> parse_sweep("se:reduction=2,4,8")
        ('se', 'reduction', [2, 4, 8])
    """
    attn, sep, rest = text.partition(":")
    key, eq, values = rest.partition("=")
    if not sep or not eq or not key.strip().isidentifier() or not values.strip():
        raise ValueError(f"a sweep must look like module:option=v1,v2,... (e.g. se:reduction=2,4,8), got {text!r}")
    parsed = [_parse_value(v.strip()) for v in values.split(",") if v.strip()]
    if not parsed:
        raise ValueError(f"a sweep needs at least one value (e.g. se:reduction=2,4,8), got {text!r}")
    if len(set(map(repr, parsed))) != len(parsed):
        raise ValueError(f"sweep {text!r} repeats a value")
    return attn.strip().lower(), key.strip(), parsed


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 400) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` in eval mode on ``(x, y)``; restores the mode."""
    was_training = model.training
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        correct += (logits.argmax(1) == y[i:i + batch_size]).sum().item()
        loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").item()
    model.train(was_training)
    return correct / len(x), loss / len(x)


def lr_factor(step: int, steps: int, warmup: float = 0.2) -> float:
    r"""Learning-rate multiplier: linear warm-up over the first 20% of the steps, then a cosine to 0.

    .. math::
        f(t) = \begin{cases} (t+1)/T_w & t < T_w \\
        \tfrac12\big(1 + \cos(\pi\,(t - T_w)/(T - T_w))\big) & t \ge T_w \end{cases}
        \qquad T_w = \max(1, \lfloor 0.2\,T \rceil)

    Example::

        >>> [round(lr_factor(t, 10), 2) for t in range(10)]
        [0.5, 1.0, 1.0, 0.96, 0.85, 0.69, 0.5, 0.31, 0.15, 0.04]
    """
    w = max(1, round(warmup * steps))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, steps - w)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    r"""AdamW parameter groups following the official training recipes: every parameter is decayed
    (:math:`\theta \leftarrow \theta - \eta\lambda\theta` each step) except

    - every parameter of an :class:`~chattn.SRM` (``cfc`` and its BatchNorm's weight and bias): the
      official SRM code gives them their own group with ``weight_decay=0``;
    - GCT's :math:`\beta` (the official GCT training exempts parameters named ``beta``), the bias
      of its gate :math:`1 + \tanh(\gamma\hat s + \beta)`, which decay would pull toward 0.

    For the other modules this is one group with every parameter, as before.

    Returns: ``[{'params', 'names', 'weight_decay': weight_decay}, {'params', 'names',
    'weight_decay': 0.0}]``, the second omitted when empty; ``names`` are ``named_parameters`` names.

    Example::

        >>> [(g["weight_decay"], g["names"][:2]) for g in param_groups(small_resnet("gct"), 5e-4)][1]
        (0.0, ['stem_attn.beta', 'stages.0.0.attn.conv1.beta'])
    """
    from .modules.gct import GCT
    from .modules.srm import SRM
    exempt = set()
    for prefix, module in model.named_modules():
        dot = prefix + "." if prefix else ""
        if isinstance(module, SRM):
            exempt |= {dot + n for n, _ in module.named_parameters()}
        elif isinstance(module, GCT):
            exempt.add(dot + "beta")
    groups = [dict(params=[], names=[], weight_decay=weight_decay), dict(params=[], names=[], weight_decay=0.0)]
    for name, p in model.named_parameters():
        g = groups[name in exempt]
        g["params"].append(p)
        g["names"].append(name)
    return [g for g in groups if g["params"]]


# --- more than one process ---------------------------------------------------------------------------

#: Modules whose BatchNorm normalises pooled statistics (one value per sample and channel).
POOLED_BN = ("srm", "gsop", "enc", "bilinear")


class _AllReduceSum(torch.autograd.Function):
    """Sum over the processes; the gradient of the sum, as every process's copy feeds its own loss,
    is the sum of the gradients."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    r"""BatchNorm over the global batch of every process, on any device (gloo on CPU, where
    :class:`torch.nn.SyncBatchNorm` refuses to run).

    In training, with a process group of W > 1 processes, the statistics are those of the
    concatenated batch, by two all-reduces (differentiable, so the gradient flows through them):

    .. math::
        \mu = \frac{\sum_r \sum_{i \in r} x_i}{\sum_r n_r}, \qquad
        \sigma^2 = \frac{\sum_r \sum_{i \in r} (x_i - \mu)^2}{\sum_r n_r}, \qquad
        y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    and the running statistics are updated with :math:`\mu` and the unbiased
    :math:`\sigma^2 n / (n - 1)`, as one process seeing the whole batch would. Otherwise (eval,
    one process) it is :class:`torch.nn.BatchNorm2d`. Same parameters and buffers (same state_dict).

    Shape: ``(N, C, *)`` -> the same.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected an input of at least 2 dimensions (N, C, ...), got {x.dim()}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        self._check_input_dim(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        n = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        dist.all_reduce(n)                                                   # samples x positions, all ranks
        mean = all_reduce(x.sum(dims)) / n                                   # (C,)
        centred = x - mean.view(shape)
        var = all_reduce(centred.pow(2).sum(dims)) / n                      # biased, (C,)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / max(n.item() - 1, 1))
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(model: nn.Module, which: str = "attention", cuda: bool = False) -> list[str]:
    """Replace BatchNorms of ``model`` by synchronised ones, in place (same parameters and buffers);
    return the names of those replaced.

    Args:
        which: ``"attention"``: the BatchNorms inside modules of :data:`POOLED_BN` (SRM, GSoP,
            EncNet, bilinear); ``"all"``: every BatchNorm; ``"none"``.
        cuda: use :class:`torch.nn.SyncBatchNorm` (CUDA only) instead of :class:`SyncBatchNorm`.

    Example::

        >>> sync_batchnorm(small_resnet("srm"))[:2]
        ['stages.0.0.attn.bn', 'stages.0.1.attn.bn']
    """
    _validate.one_of(which, "which", ("attention", "all", "none"))
    if which == "none":
        return []
    inside = set()
    for name, m in model.named_modules():
        if which == "all" or getattr(m, "registry_name", None) in POOLED_BN:
            inside |= {f"{name}.{n}" if name else n for n, _ in m.named_modules()}
    cls = nn.SyncBatchNorm if cuda else SyncBatchNorm
    replaced = []
    for name, m in list(model.named_modules()):
        if name in inside and isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, cls):
            new = cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
            new.load_state_dict(m.state_dict())
            new.train(m.training)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, new)
            replaced.append(name)
    return replaced


def _world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``: from torchrun's environment when a process group is up."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def _weights_sha256(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# --- a folder of images --------------------------------------------------------------------------

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


class ImageFolder(torch.utils.data.Dataset):
    """Images in ``root/<class>/...`` (any depth), read with PIL; classes are the sorted folder
    names, labels their indices.

    Training (``train=True``): a random crop of 8-100% of the area and aspect 3/4-4/3 resized to
    ``size`` x ``size``, and a horizontal flip with probability 1/2 (the ImageNet recipe of the
    papers). Evaluation: ``chattn.models.checkpoints.preprocess`` (the short side resized to
    ``size / 0.875``, the centre crop). Then ``(img - IMAGENET_MEAN) / IMAGENET_STD``.

    ``dataset[i]`` is ``(x, y)``: ``x (3, size, size)`` float32, ``y`` an int.
    """

    def __init__(self, root, size: int = 224, train: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"data folder {str(self.root)!r} is not a directory")
        self.size = _validate.positive_int(size, "size")
        self.train = bool(train)
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir())
        self.samples = [(p, i) for i, c in enumerate(self.classes) for p in sorted((self.root / c).rglob("*"))
                        if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not self.samples:
            raise ValueError(f"data folder {str(self.root)!r} holds no images in class sub-folders "
                             f"(root/<class>/*{IMAGE_EXTENSIONS[0]}, ...)")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        import numpy as np
        from PIL import Image
        path, label = self.samples[i]
        with Image.open(path) as im:
            img = im.convert("RGB")
        if not self.train:
            return preprocess(img, self.size), label
        w, h = img.size
        for _ in range(10):                     # a random crop of 8-100% of the area, aspect 3/4-4/3
            area = w * h * random.uniform(0.08, 1.0)
            ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = random.randint(0, w - cw), random.randint(0, h - ch)
                break
        else:
            cw = ch = min(w, h)
            x0, y0 = (w - cw) // 2, (h - ch) // 2
        img = img.resize((self.size, self.size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)    # (3, S, S)
        mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
        return (x - mean) / std, label


def _seed_worker(worker_id: int):
    random.seed(torch.initial_seed() % 2 ** 32)        # PIL crops draw from ``random``: one stream per worker


# --- one run -------------------------------------------------------------------------------------------

def train_run(attn: str = "none", seed: int = 0, epochs: int = DEFAULTS["epochs"],
              per_class: int = DEFAULTS["per_class"], test_per_class: int = DEFAULTS["test_per_class"],
              batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
              weight_decay: float = DEFAULTS["weight_decay"], width: int = DEFAULTS["width"],
              depth: int = DEFAULTS["depth"], patch: int = DEFAULTS["patch"], progress: bool = True,
              *, data=None, arch: str = "small", device: str = "cpu", sync_bn: str = "attention",
              workers: int = 0, optimizer: str = "adamw", channels_last: bool | None = None,
              options: dict | None = None, task: str = "patches"):
    r"""Train one model; return ``(model, record)`` (the record without file names).

    Loss: :math:`\frac1B\sum_i -\log \mathrm{softmax}(f(\mathrm{aug}(x_i)))_{y_i}` over the global
    batch of ``batch_size``, AdamW (weight decay on every parameter but SRM's and GCT's
    :math:`\beta`, :func:`param_groups`), learning rate ``lr ·`` :func:`lr_factor`.

    In a process group (``torchrun``), the model is wrapped in DistributedDataParallel, each
    process takes ``batch_size / W`` samples of every global batch, BatchNorms are synchronised
    as ``sync_bn`` says (:func:`sync_batchnorm`), and every rank returns the same weights; the
    returned model is the bare network (not the DDP wrapper). Evaluation runs on rank 0 only
    (the accuracies of other ranks' records are ``None``).

    Args (beyond the grid's): ``data``: an ImageFolder root with ``train/`` and ``val/`` (``None``:
    the photo patches of :func:`chattn.data.make_dataset`); ``arch``: ``"small"`` or
    ``"resnet50"``; ``device``: ``"cpu"`` or ``"cuda"`` (mixed precision); ``workers``: DataLoader
    processes for ``data``; ``optimizer``: ``"adamw"`` (the grid's) or ``"sgd"`` (momentum 0.9,
    L2 weight decay: the papers' ImageNet recipe); ``channels_last``: the memory layout of the
    network and its inputs, ``None``: channels-last in one process (about 2x faster convolutions on
    CPU), contiguous under DDP; ``options``: keyword arguments of every attention module (e.g.
    ``{"reduction": 8}``, kept in the record under ``model.options``); ``task``: ``"patches"`` or
    ``"recoloured"`` (:func:`chattn.data.recolour` on every training batch, after the augmentation,
    and with fixed draws on the evaluated patches).

    Example::

        >>> model, record = train_run("eca", epochs=1, per_class=8, test_per_class=4, progress=False)
        >>> sorted(record)[:3]
        ['amp', 'arch', 'attn']
    """
    seed = _validate.positive_int(seed, "seed", minimum=0)
    epochs = _validate.positive_int(epochs, "epochs")
    batch_size = _validate.positive_int(batch_size, "batch_size", minimum=2)
    lr = _validate.positive_float(lr, "lr")
    arch = _validate.one_of(arch, "arch", ("small", "resnet50"))
    device = _validate.one_of(device, "device", ("cpu", "cuda"))
    sync_bn = _validate.one_of(sync_bn, "sync_bn", ("attention", "all", "none"))
    optimizer = _validate.one_of(optimizer, "optimizer", ("adamw", "sgd"))
    task = _validate.one_of(task, "task", TASKS)
    options = dict(options or {})
    if not all(isinstance(k, str) for k in options):
        raise TypeError(f"options must be a dict with str keys, got {options!r}")
    if data is not None and task != "patches":
        raise ValueError(f"task={task!r} is a variant of the photo patches; it does not apply to data={str(data)!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch.cuda.is_available() is False")
    rank, world, local_rank = _world()
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size} must be a multiple of the number of processes ({world})")
    local_batch = batch_size // world
    dev = torch.device(device, local_rank) if device == "cuda" else torch.device("cpu")

    if data is None:
        x, y = make_dataset("train", patch, per_class, task=task)
        xt, yt = make_dataset("test", patch, test_per_class, task=task)
        if task == "recoloured":          # training draws fresh gains every batch, from the clean patches
            x, _ = make_dataset("train", patch, per_class)
            x_eval, _ = make_dataset("train", patch, per_class, task=task)
        classes = list(PHOTOS)
        train_set = torch.utils.data.TensorDataset(x, y)
    else:
        root = Path(data)
        train_set = ImageFolder(root / "train", patch, train=True)
        val_set = ImageFolder(root / "val", patch, train=False)
        if val_set.classes != train_set.classes:
            raise ValueError(f"data={str(root)!r}: train/ and val/ have different classes")
        classes = train_set.classes
    attn_name = None if attn in (None, "none") else attn
    torch.manual_seed(seed)
    if arch == "small":
        model = small_resnet(attn, len(classes), width, depth=depth, input_size=patch, **options)
    else:
        model = resnet50(attn_name, len(classes), **options)
    synced = sync_batchnorm(model, sync_bn, cuda=device == "cuda") if world > 1 else []
    # channels_last: about 2x faster convolutions on CPU, but float32 gradients of the small net on
    # this CPU were up to 2% (of a parameter's largest gradient) off a float64 reference, against
    # 4e-6 contiguous (measured, torch 2.13): fine for training one process, not for checking
    # that W processes compute what one does. So contiguous under DDP.
    if channels_last is None:
        channels_last = world == 1
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(dev, memory_format=layout)
    groups = param_groups(model, weight_decay)
    if optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=weight_decay)
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device == "cuda" else None)
    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    if data is None:
        g = torch.Generator().manual_seed(seed)        # augmentation draws, the same on every rank
        steps_per_epoch = math.ceil(len(sampler) / local_batch)
        x = x.contiguous(memory_format=layout)

        def batches():
            idx = torch.tensor(list(sampler))
            for i in range(0, len(idx), local_batch):
                j = idx[i:i + local_batch]
                # Rank r's samples sit at positions r, r + W, ... of the global batch: augment them
                # with the draws of those positions, so W processes see what one process sees.
                full = x.new_zeros((len(j) * world,) + x.shape[1:])
                full[rank::world] = x[j]
                full = augment(full, g)
                if task == "recoloured":
                    full = recolour(full, g)
                yield full[rank::world], y[j]
    else:
        loader = torch.utils.data.DataLoader(train_set, local_batch, sampler=sampler, num_workers=workers,
                                             pin_memory=device == "cuda", drop_last=True,
                                             worker_init_fn=_seed_worker, persistent_workers=workers > 0)
        steps_per_epoch = len(loader)

        def batches():
            yield from loader
    steps = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps))
    amp = device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    bar = _progress(steps, f"{attn} seed {seed}", progress and rank == 0)
    losses, epoch_losses = [], []
    start = time.perf_counter()
    net.train()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        epoch_losses = []
        for xb, yb in batches():
            if len(yb) < 2:                                   # BatchNorm needs two samples
                continue
            xb = xb.to(dev, non_blocking=True).contiguous(memory_format=layout)
            yb = yb.to(dev, non_blocking=True)
            with torch.autocast("cuda", enabled=amp) if amp else contextlib.nullcontext():
                loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            value = loss.detach().float()
            if world > 1:
                dist.all_reduce(value)
                value /= world
            losses.append(value.item())                       # the global batch's mean loss
            epoch_losses.append(losses[-1])
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    seconds = time.perf_counter() - start
    model = model.to(memory_format=torch.contiguous_format)     # measured as it will be loaded
    digests = [_weights_sha256(model)]
    if world > 1:
        digests = [None] * world
        dist.all_gather_object(digests, _weights_sha256(model))
    train_acc = train_loss = test_acc = test_loss = None
    if rank == 0:
        if data is None:
            x_eval = x_eval if task == "recoloured" else x
            train_acc, train_loss = evaluate(model, x_eval.contiguous().to(dev), y.to(dev))
            test_acc, test_loss = evaluate(model, xt.to(dev), yt.to(dev))
        else:
            train_loss = statistics.fmean(epoch_losses) if epoch_losses else None
            test_acc, test_loss = evaluate_loader(model, val_set, local_batch, dev, workers)
    bar.set_postfix(test_acc=f"{test_acc:.3f}" if test_acc is not None else "-")
    bar.close()
    model.eval()
    every = max(1, len(losses) // 500)                          # at most ~500 points in the record
    record = dict(
        attn=attn_name or "none", seed=seed, epochs=epochs,
        train_accuracy=train_acc, test_accuracy=test_acc, train_loss=train_loss, test_loss=test_loss,
        params=sum(p.numel() for p in model.parameters()), seconds=round(seconds, 2),
        model=model.config() if arch == "small" else dict(arch="resnet50", attn=attn_name or "none",
                                                          num_classes=len(classes), options=options),
        arch=arch, data=str(data) if data is not None else "photo patches", task=task, classes=classes,
        patch=patch, per_class=per_class, test_per_class=test_per_class, data_seed=0,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, optimizer="AdamW, warm-up + cosine" if optimizer == "adamw" else "SGD momentum 0.9, warm-up + cosine",
        no_weight_decay=[n for g in groups if g["weight_decay"] == 0 for n in g["names"]],
        world_size=world, device=str(dev.type), amp=amp, channels_last=bool(channels_last), sync_bn=sync_bn if world > 1 else "none",
        bn_synchronised=bool(synced), synchronised_bn=synced,
        rank_weights_sha256=digests, loss_curve_every=every, loss_curve=losses[::every],
        threads=torch.get_num_threads(), torch=torch.__version__, python=platform.python_version(),
        chattn=__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    if data is None:
        record.pop("classes")
    return model, record


@torch.no_grad()
def evaluate_loader(model: nn.Module, dataset, batch_size: int, device, workers: int = 0) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` in eval mode over ``dataset``; restores the mode."""
    was_training = model.training
    model.eval()
    correct, loss, n = 0, 0.0, 0
    for xb, yb in torch.utils.data.DataLoader(dataset, batch_size, num_workers=workers):
        xb, yb = xb.to(device), yb.to(device)
        logits = model(xb).float()
        correct += (logits.argmax(1) == yb).sum().item()
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        n += len(yb)
    model.train(was_training)
    return correct / n, loss / n


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, mininterval=2.0)


def save_weights(model: nn.Module, path: Path, config: dict | None = None) -> str:
    """Write ``model.state_dict()`` (buffers included) with safetensors, the config
    (``model.config()`` unless given) as metadata; return the file's sha256."""
    from safetensors.torch import save_file
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = model.config() if config is None else config
    save_file(state, str(path), metadata={"config": json.dumps(config), "chattn": __version__})
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ship_dir(task: str = "patches", options: dict | None = None) -> Path:
    """Where ``--ship`` writes a run: the grid (photo patches, default options) in
    :data:`WEIGHTS_DIR`, runs with module options in ``WEIGHTS_DIR/sweep``, runs of another task in
    ``WEIGHTS_DIR/<task>``.

    Example::

        >>> [ship_dir().name, ship_dir("patches", {"reduction": 8}).name, ship_dir("recoloured").name]
        ['weights', 'sweep', 'recoloured']
    """
    _validate.one_of(task, "task", TASKS)
    if task != "patches":
        return WEIGHTS_DIR / task
    return WEIGHTS_DIR / "sweep" if options else WEIGHTS_DIR


def run_and_save(attn: str, seed: int, out: Path | None = None, ship: bool = False, weights: bool = True,
                 **kwargs) -> dict:
    """:func:`train_run`, then write the weights (unless ``weights`` is false, or ``ship`` and
    ``seed != 0``) and the JSON record. With ``ship``, ``out`` defaults to :func:`ship_dir`."""
    model, record = train_run(attn, seed, **kwargs)
    options = record["model"].get("options") or {}
    out = ship_dir(record.get("task", "patches"), options) if out is None else Path(out)
    record["weights"] = None
    if _world()[0] != 0:                  # only rank 0 writes
        return record
    out.mkdir(parents=True, exist_ok=True)
    if weights and (not ship or seed == 0):
        path = out / (stem(record["attn"], None if ship else seed, record["arch"], options) + ".safetensors")
        record["weights"] = path.name
        record["weights_sha256"] = save_weights(model, path, record["model"])
    (out / (stem(record["attn"], seed, record["arch"], options) + ".json")).write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_records(directory) -> list[dict]:
    """Every run record (``small_resnet_*_seed*.json``) in ``directory``, sorted by config (the
    grid's order), module options (numbers by value) and seed."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory={str(directory)!r} is not a directory")
    recs = [json.loads(p.read_text()) for p in sorted(directory.glob("small_resnet_*_seed*.json"))]
    order = {name: i for i, name in enumerate(configs())}
    return sorted(recs, key=lambda r: (order.get(r["attn"], len(order)), r["attn"], _options_order(r), r["seed"]))


def _options_order(record: dict) -> tuple:
    """Sort key of a record's module options: by name, numbers by value (reduction 2 before 16)."""
    options = (record.get("model") or {}).get("options") or {}
    return tuple((k, 0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (k, 1, 0, str(v))
                 for k, v in sorted(options.items()))


def summarize(records: list[dict]) -> list[dict]:
    """Per module: runs, parameters, test accuracy mean and std (sample std, 0 for one run),
    mean train accuracy and seconds."""
    rows = {}
    for r in records:
        options = r.get("model", {}).get("options") or {}
        rows.setdefault((r["attn"], json.dumps(options, sort_keys=True)), []).append(r)
    out = []
    for (attn, options), rs in rows.items():
        acc = [r["test_accuracy"] for r in rs]
        out.append(dict(attn=attn, options=json.loads(options), runs=len(rs), params=rs[0]["params"], test_mean=statistics.fmean(acc),
                        test_std=statistics.stdev(acc) if len(acc) > 1 else 0.0,
                        train_mean=statistics.fmean(r["train_accuracy"] for r in rs),
                        seconds=statistics.fmean(r["seconds"] for r in rs)))
    return out


def format_summary(rows: list[dict]) -> str:
    """A Markdown table of :func:`summarize`."""
    lines = ["| module | runs | params | test acc (mean ± std) | train acc | s/run |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        label = " ".join([r["attn"]] + [f"{k}={v}" for k, v in sorted(r.get("options", {}).items())])
        lines.append(f"| {label} | {r['runs']} | {r['params']:,} | {100 * r['test_mean']:.2f} ± "
                     f"{100 * r['test_std']:.2f} | {100 * r['train_mean']:.2f} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def _report(r: dict):
    if r.get("test_accuracy") is None:             # not rank 0: rank 0 reports
        return

    def pct(v):
        return "     -" if v is None else f"{100 * v:6.2f}"
    options = " ".join(f"{k}={v}" for k, v in sorted((r["model"].get("options") or {}).items()))
    label = f"{r['attn']:9s} {options:14s}" if options else f"{r['attn']:9s}"     # the grid's lines as before
    print(f"{label} seed {r['seed']}  train {pct(r['train_accuracy'])}%  "
          f"test {pct(r['test_accuracy'])}%  {r['params']:7,d} params  {r['seconds']:6.1f} s"
          + (f"  ({r['world_size']} processes, {r['device']})" if r.get("world_size", 1) > 1 else ""), flush=True)


def _worker_init(threads: int):
    torch.set_num_threads(threads)


def _parallel(runs, out, args, kwargs):
    """Runs in ``args.jobs`` spawned processes of ``args.threads`` threads each; one progress bar
    over runs. Every run is seeded on its own, so the results do not depend on the scheduling."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    bar = _progress(len(runs), "runs", not args.quiet)
    with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_worker_init,
                             initargs=(args.threads,)) as pool:
        futures = [pool.submit(run_and_save, name, seed, out, args.ship, not args.no_weights, progress=False,
                               options=options, **kwargs)
                   for name, seed, options in runs]
        for f in as_completed(futures):
            bar.update(1)
            bar.clear()
            _report(f.result())
    bar.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m chattn.train", description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--attn", help=f"one of: none, {', '.join(available())}")
    what.add_argument("--all", action="store_true", help="every module and 'none'")
    what.add_argument("--sweep", action="append", metavar="MODULE:OPTION=V1,V2,...",
                      help="train MODULE once per value of OPTION (e.g. se:reduction=2,4,8,16,32); repeatable")
    what.add_argument("--summary", metavar="DIR", help="print mean ± std of test accuracy per module")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the attention module (e.g. reduction=8, k_size=5); repeatable")
    p.add_argument("--task", choices=TASKS, default="patches",
                   help="patches (default) or recoloured (per-sample per-channel gain and contrast)")
    p.add_argument("--no-weights", action="store_true", help="write the records only")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip runs whose record is already in the output directory (resume a sweep)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    p.add_argument("--out", default="runs", help="output directory (default runs/)")
    p.add_argument("--ship", action="store_true",
                   help=f"write into {WEIGHTS_DIR} (sweep/ for module options, <task>/ for another task; "
                        "seed-0 weights only)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--data", metavar="PATH", help="ImageFolder root with train/ and val/ (default: the photo patches)")
    p.add_argument("--arch", choices=("small", "resnet50"), default="small", help="network (default small)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: NCCL and mixed precision")
    p.add_argument("--sync-bn", choices=("attention", "all", "none"), default="attention",
                   help="under DDP, synchronise the BatchNorms of SRM/GSoP/EncNet/bilinear (default), all, or none")
    p.add_argument("--workers", type=int, default=4, help="DataLoader processes for --data (default 4)")
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                   help="adamw (default) or sgd (momentum 0.9, the papers' ImageNet recipe)")
    for key, value in DEFAULTS.items():
        p.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    args = p.parse_args(argv)

    if args.summary:
        print(format_summary(summarize(load_records(args.summary))))
        return 0
    try:
        given = [parse_option(o) for o in args.opt]
    except ValueError as e:
        p.error(f"--opt: {e}")
    try:
        sweeps = [parse_sweep(s) for s in args.sweep or []]
    except ValueError as e:
        p.error(f"--sweep: {e}")
    fixed = dict(given)
    if len(fixed) != len(given):
        p.error(f"--opt sets an option twice: {args.opt}")
    if fixed and args.all:
        p.error("--opt applies to one module (--attn or --sweep), not to --all")
    for attn, key, _ in sweeps:
        if key in fixed:
            p.error(f"--sweep {attn}:{key}=... and --opt {key}=... both set {key}")
    if sweeps:
        configs_ = [(attn, {**fixed, key: v}) for attn, key, values in sweeps for v in values]
    else:
        configs_ = [(name, dict(fixed)) for name in (configs() if args.all else [args.attn.lower()])]
    source = "--sweep" if sweeps else "--opt"
    seen = set()
    for name, options in configs_:
        if name not in configs():
            p.error(f"{'--sweep' if sweeps else '--attn'}: the module must be one of {configs()}, got {name!r}")
        if options and name == "none":
            p.error(f"{source}: options {sorted(options)} need an attention module; 'none' has none")
        if (name, json.dumps(options, sort_keys=True)) in seen:
            p.error(f"--sweep: {name} with options {options} is listed twice")
        seen.add((name, json.dumps(options, sort_keys=True)))
        try:                                               # a bad option fails here, before any training
            small_resnet(name, width=args.width, depth=args.depth, input_size=args.patch, **options) \
                if args.arch == "small" else resnet50(None if name == "none" else name, **options)
        except (TypeError, ValueError) as e:
            p.error(f"{source}: {name} with options {options}: {e}")
    if args.data is not None and args.task != "patches":
        p.error(f"--task {args.task} is a variant of the photo patches; it does not apply to --data")
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    if args.threads < 1 or args.jobs < 1:
        p.error("--threads and --jobs must be >= 1")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1          # started by torchrun
    if distributed and args.jobs != 1:
        p.error("--jobs runs independent processes; under torchrun use --jobs 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device (torch.cuda.is_available() is False)")
    if args.data is not None and not Path(args.data).is_dir():
        p.error(f"--data {args.data!r} is not a directory")
    torch.set_num_threads(args.threads)
    out = None if args.ship else Path(args.out)
    kwargs = {k: getattr(args, k) for k in DEFAULTS}
    kwargs.update(data=args.data, arch=args.arch, device=args.device, sync_bn=args.sync_bn, workers=args.workers,
                  optimizer=args.optimizer, task=args.task)
    # seed-major: one seed of every config first, so a partial run already covers the grid
    runs = [(name, seed, options) for seed in range(args.seeds) for name, options in configs_]
    if args.skip_existing:
        def done(name, seed, options):
            where = ship_dir(args.task, options) if args.ship else Path(args.out)
            return (where / (stem(name, seed, args.arch, options) + ".json")).is_file()
        skipped = [run for run in runs if done(*run)]
        runs = [run for run in runs if run not in skipped]
        print(f"--skip-existing: {len(skipped)} runs already recorded, {len(runs)} to train", flush=True)
    start = time.perf_counter()
    if distributed:
        if args.device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    main_process = _world()[0] == 0
    try:
        if args.jobs == 1:
            for name, seed, options in runs:
                _report(run_and_save(name, seed, out, ship=args.ship, weights=not args.no_weights,
                                     progress=not args.quiet, options=options, **kwargs))
        else:
            _parallel(runs, out, args, kwargs)
    finally:
        if distributed:
            dist.destroy_process_group()
    if main_process:
        print(f"{len(runs)} runs in {time.perf_counter() - start:.0f} s wall", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
