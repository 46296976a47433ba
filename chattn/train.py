r"""Train the small ResNet with each attention module on the photo-patch task, record every run.

.. code-block:: bash

    python -m chattn.train --attn se                   # one run, seed 0, into runs/
    python -m chattn.train --all --seeds 5 --ship --jobs 2 --threads 1 --skip-existing
                                                       # the grid: 12 configs x 5 seeds, shipped
    python -m chattn.train --summary chattn/weights/patches/epochs24   # mean ± std per module
    python -m chattn.train --attn se --opt reduction=8 # a module option, in the record and file names
    python -m chattn.train --sweep se:reduction=2,8,16,32 --seeds 3     # one run per value and seed
    python -m chattn.train --all --task recoloured     # every patch its own channel gains and contrast
    python -m chattn.train --attn none --width 48      # a wider plain network (a capacity control)

The file reads top to bottom: the recipe as plain data (:class:`Config`, every default in one
place; the command line is built from its fields), the pieces of a run (:func:`lr_factor`,
:func:`param_groups`, :func:`evaluate`), one run (:func:`train_run`), writing it
(:func:`run_and_save`), and the command line (:func:`main`). Records, file names and the shipped
layout are :mod:`chattn.runs`'; the synchronised BatchNorm is :mod:`chattn.distributed`'s;
ImageFolder and the ImageNet preprocessing are :mod:`chattn.data`'s.

A run: :func:`chattn.models.small_resnet` (``attn``), AdamW with warm-up and cosine decay
(weight decay on every parameter except those the official recipes exempt, :func:`param_groups`),
cross-entropy on augmented train patches (:func:`chattn.data.augment`), then the accuracy of the
model in eval mode on the un-augmented train patches and on the test patches (a disjoint region of
every photo). Each run writes ``small_resnet_{attn}_seed{seed}.safetensors`` (the state_dict with
buffers; the model config in the file's metadata) and ``small_resnet_{attn}_seed{seed}.json``.

Two single-threaded processes (``--jobs 2 --threads 1``) use two cores better than one process
with two threads: the convolutions here are small, and idle OpenMP threads spin on a shared CPU.

**Module options, network options, sweeps, another task.** ``--opt KEY=VALUE`` (repeatable) passes
an option to every attention module of the network (``--attn se --opt reduction=8``, ``--attn eca
--opt k_size=5``); the value is read as an int, else a float, else ``True``/``False``/``None``,
else a string (:func:`parse_option`). ``--sweep MODULE:OPTION=V1,V2,...`` (repeatable, instead of
``--attn``) trains the module once per value (:func:`parse_sweep`), ``--seeds`` times each, seed
by seed (one seed of every value first, so a partial sweep already covers every value); ``--opt``
may fix another option of the swept module. A bad option (unknown name, a value the module
refuses, an option for ``none`` or with ``--all``) stops the command before any training. The
record keeps the options under ``model.options`` and the file names carry them, sorted by name,
then the network's ``--width`` / ``--depth`` when not the default (:func:`chattn.runs.stem`:
``small_resnet_se_reduction8_seed1.json``, ``small_resnet_none_width48_seed0.json``).
``--task recoloured`` trains and evaluates on :func:`chattn.data.recolour`'s task (every patch its
own per-channel gain and contrast; fresh draws per training batch, fixed draws on the evaluated
patches; the record's ``task``); not with ``--data``. ``--no-weights`` writes the records only.

**Shipping.** ``--ship`` writes where :mod:`chattn.pretrained` reads (:func:`chattn.runs.ship_dir`):
``chattn/weights/<task>/epochs<E>/`` for the grid (E: the run's ``--epochs``), its ``sweep/`` for
runs with module options, its ``control/`` for networks of another width or depth, and, with
``--curve``, ``chattn/weights/<task>/curve/epochs<N>/`` for the plain network trained for another
number of epochs; seed 0's weights under the name without the seed, records for every seed.
:data:`chattn.runs.EPOCHS` says which E the book reads. A sweep need not train the grid's own
value: :func:`chattn.pretrained.sweep_records` takes the grid's runs for it. ``--skip-existing``
skips the runs already recorded, so an interrupted command resumes where it stopped; ``--jobs``
does not change what a run computes. The README prints the commands that made every shipped
folder.

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
batch), ``--sync-bn all`` synchronises every BatchNorm, ``none`` none
(:func:`chattn.distributed.sync_batchnorm`). Only rank 0 writes; the record says the world size,
the device, which BatchNorms were synchronised, and each rank's sha256 of its final weights.

With ``--sync-bn all`` a W-process run computes what one process computes on the same global
batch: the same samples per step (the sampler's shards, augmented with the draws of their
position in the global batch), the same BatchNorm statistics, and DDP's averaged gradient is the
gradient of the global batch's mean loss. So the loss curves agree to float rounding (tested).

``--data PATH`` trains on a folder of images in the ImageNet layout, ``PATH/train/<class>/*.jpg``
and ``PATH/val/<class>/*.jpg`` (:class:`chattn.data.ImageFolder`, read with PIL): random resized
crops of ``--patch`` pixels and flips for training, the centre crop for validation, ImageNet
normalisation.

The seed sets the initial weights, the batch order and the augmentation; the patches are the same
for every run (data seed 0), so the spread over seeds is the spread of training alone.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from . import __version__, _validate
from .data import PHOTOS, TASKS, ImageFolder, augment, make_dataset, recolour, seed_worker
from .distributed import POOLED_BN, SyncBatchNorm, state_sha256, sync_batchnorm, world  # noqa: F401 (re-exported)
from .models.resnet import resnet50
from .models.small import check_width, small_resnet
from .runs import (NETWORK_DEFAULTS, configs, format_summary, load_records, network_options, save_weights, ship_dir,
                   stem, summarize)


# --- the recipe, as plain data ---------------------------------------------------------------------

def _opt(default, help: str, **cli):
    """A :class:`Config` field: its default, and the help (and choices) of its command-line flag."""
    return field(default=default, metadata=dict(help=help, **cli))


@dataclass(frozen=True)
class Config:
    """Everything a run is trained with except the module, its options and the seed: every default
    lives here, and every field is a command-line flag (``batch_size``: ``--batch-size``).

    Example::

        >>> Config(epochs=12).epochs, Config().lr
        (12, 0.004)
    """
    epochs: int = _opt(3, "passes over the training set")
    per_class: int = _opt(400, "training patches per class")
    test_per_class: int = _opt(200, "test patches per class")
    batch_size: int = _opt(64, "global batch (split over the processes under torchrun)")
    lr: float = _opt(4e-3, "peak learning rate (warm-up over 20%% of the steps, then a cosine to 0)")
    weight_decay: float = _opt(5e-4, "decoupled weight decay (AdamW) or L2 (SGD)")
    width: int = _opt(NETWORK_DEFAULTS["width"], "channels of the small net's first stage (w, 2w, 4w; a multiple of 4)")
    depth: int = _opt(NETWORK_DEFAULTS["depth"], "blocks per stage of the small net")
    patch: int = _opt(32, "side of the input patches (of the crops with --data)")
    task: str = _opt("patches", "patches, or recoloured (per-sample per-channel gain and contrast)", choices=TASKS)
    arch: str = _opt("small", "network", choices=("small", "resnet50"))
    optimizer: str = _opt("adamw", "adamw, or sgd (momentum 0.9, the papers' ImageNet recipe)",
                          choices=("adamw", "sgd"))
    data: str | None = _opt(None, "ImageFolder root with train/ and val/ (default: the photo patches)")
    workers: int = _opt(4, "DataLoader processes for --data")
    device: str = _opt("cpu", "cuda: NCCL and mixed precision", choices=("cpu", "cuda"))
    sync_bn: str = _opt("attention", "under DDP, synchronise the BatchNorms of SRM/GSoP/EncNet/bilinear "
                        "(attention), every BatchNorm (all), or none", choices=("attention", "all", "none"))
    channels_last: bool | None = _opt(None, "memory layout; None: channels-last in one process, contiguous "
                                      "under DDP", cli=False)

    def check(self, world_size: int = 1) -> Config:
        """The same config with its values checked (a ``ValueError`` naming the field otherwise);
        ``world_size``: the processes the batch is split over."""
        _validate.positive_int(self.epochs, "epochs")
        _validate.positive_int(self.per_class, "per_class")
        _validate.positive_int(self.test_per_class, "test_per_class")
        batch_size = _validate.positive_int(self.batch_size, "batch_size", minimum=2)
        _validate.positive_float(self.lr, "lr")
        check_width(self.width)
        _validate.positive_int(self.depth, "depth")
        _validate.positive_int(self.patch, "patch", minimum=4)
        _validate.positive_int(self.workers, "workers", minimum=0)
        for name in ("task", "arch", "optimizer", "device", "sync_bn"):
            _validate.one_of(getattr(self, name), name, self.__dataclass_fields__[name].metadata["choices"])
        if self.data is not None and self.task != "patches":
            raise ValueError(f"task={self.task!r} is a variant of the photo patches; it does not apply to "
                             f"data={str(self.data)!r}")
        if self.data is not None and not Path(self.data).is_dir():
            raise ValueError(f"data={str(self.data)!r} is not a directory")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch.cuda.is_available() is False")
        if batch_size % world_size:
            raise ValueError(f"batch_size={batch_size} must be a multiple of the number of processes ({world_size})")
        return self


# the help of each field, once: in Config's docstring (the API page) as on the command line
Config.__doc__ += "\n    Args:\n" + "".join(
    f"        {f.name}: {f.metadata['help'].replace('%%', '%')} (default ``{f.default!r}``).\n"
    for f in dataclasses.fields(Config))


def build_network(attn: str, config: Config, options: dict | None = None, num_classes: int = len(PHOTOS)) -> nn.Module:
    """The network a run trains, freshly initialised (seed first): the small ResNet of
    ``config``'s width, depth and patch with ``attn`` and its module ``options``, or ResNet-50.

    Args:
        attn: the module's name (``'none'`` or ``None``: the plain network).
        config: the recipe; its ``arch``, ``width``, ``depth`` and ``patch`` are read.
        options: keyword arguments of every attention module (e.g. ``{"reduction": 8}``); default none.
        num_classes: the number of outputs, default 8 (the photographs).
    """
    options = dict(options or {})
    if not all(isinstance(k, str) for k in options):
        raise TypeError(f"options must be a dict with str keys, got {options!r}")
    if config.arch == "small":
        return small_resnet(attn, num_classes, config.width, depth=config.depth, input_size=config.patch, **options)
    return resnet50(None if attn in (None, "none") else attn, num_classes, **options)


# --- the pieces of a run -----------------------------------------------------------------------------

def parse_option(text: str) -> tuple[str, object]:
    """``'reduction=8'`` -> ``('reduction', 8)``: the value as an int, else a float, else
    ``True``/``False``/``None``, else the string. Raises ``ValueError`` for anything else.

    Args:
        text: ``key=value``, as ``--opt`` takes it.

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

    Args:
        text: ``module:option=v1,v2,...``, as ``--sweep`` takes it.

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


def lr_factor(step: int, steps: int, warmup: float = 0.2) -> float:
    r"""Learning-rate multiplier: linear warm-up over the first 20% of the steps, then a cosine to 0.

    .. math::
        f(t) = \begin{cases} (t+1)/T_w & t < T_w \\
        \tfrac12\big(1 + \cos(\pi\,(t - T_w)/(T - T_w))\big) & t \ge T_w \end{cases}

        T_w = \max(1, \lfloor 0.2\,T \rceil)

    Args:
        step: t, the index of the optimiser step, from 0.
        steps: T, the number of steps of the run.
        warmup: the fraction of the steps that warm up, default 0.2 (the 0.2 above).

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

    Args:
        model: the network.
        weight_decay: :math:`\lambda` of the decayed group.

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


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 400) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` in eval mode on ``(x, y)``; restores the mode.

    Args:
        model: a classifier, ``(N, 3, p, p) -> (N, K)`` logits.
        x: the inputs, ``(N, 3, p, p)``.
        y: the class indices, int64 ``(N,)``.
        batch_size: samples per forward pass, default 400.
    """
    was_training = model.training
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        correct += (logits.argmax(1) == y[i:i + batch_size]).sum().item()
        loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").item()
    model.train(was_training)
    return correct / len(x), loss / len(x)


@torch.no_grad()
def evaluate_loader(model: nn.Module, dataset, batch_size: int, device, workers: int = 0) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` in eval mode over ``dataset``; restores the mode.

    Args:
        model: a classifier, ``(N, 3, S, S) -> (N, K)`` logits.
        dataset: a dataset of ``(x, y)`` pairs, e.g. an :class:`~chattn.data.ImageFolder`.
        batch_size: samples per forward pass.
        device: where the batches are moved (the model's device).
        workers: the DataLoader's ``num_workers``, default 0.
    """
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


def load_data(config: Config):
    """``(train_set, train_eval, test_eval, classes)`` of a run: the photo patches (data seed 0, the
    same for every run; ``train_eval`` and ``test_eval`` are ``(x, y)`` tensors, recoloured with
    fixed draws for the recoloured task, whose ``train_set`` holds the clean patches that training
    recolours afresh every batch), or a folder of images (``train_eval`` is ``None``,
    ``test_eval`` the ``val/`` :class:`~chattn.data.ImageFolder`).

    Args:
        config: the recipe; its ``data``, ``patch``, ``per_class``, ``test_per_class`` and ``task``
            are read.
    """
    c = config
    if c.data is None:
        x, y = make_dataset("train", c.patch, c.per_class, task=c.task)
        test_eval = make_dataset("test", c.patch, c.test_per_class, task=c.task)
        train_eval = (x, y)
        if c.task == "recoloured":
            x, _ = make_dataset("train", c.patch, c.per_class)
        return torch.utils.data.TensorDataset(x, y), train_eval, test_eval, list(PHOTOS)
    root = Path(c.data)
    train_set = ImageFolder(root / "train", c.patch, train=True)
    val_set = ImageFolder(root / "val", c.patch, train=False)
    if val_set.classes != train_set.classes:
        raise ValueError(f"data={str(root)!r}: train/ and val/ have different classes")
    return train_set, None, val_set, train_set.classes


def _patch_batches(x, y, sampler, local_batch: int, generator: torch.Generator, task: str):
    """The batches of one epoch of the photo patches, for this process: the sampler's indices,
    augmented (and recoloured) with the draws of their positions in the global batch."""
    rank, world_size = sampler.rank, sampler.num_replicas

    def batches():
        idx = torch.tensor(list(sampler))
        for i in range(0, len(idx), local_batch):
            j = idx[i:i + local_batch]
            # Rank r's samples sit at positions r, r + W, ... of the global batch: augment them
            # with the draws of those positions, so W processes see what one process sees.
            full = x.new_zeros((len(j) * world_size,) + x.shape[1:])
            full[rank::world_size] = x[j]
            full = augment(full, generator)
            if task == "recoloured":
                full = recolour(full, generator)
            yield full[rank::world_size], y[j]
    return batches


# --- one run -------------------------------------------------------------------------------------------

def train_run(attn: str = "none", seed: int = 0, config: Config | None = None, progress: bool = True, *,
              options: dict | None = None, **overrides):
    r"""Train one model; return ``(model, record)`` (the record without file names).

    Loss: :math:`\frac1B\sum_i -\log \mathrm{softmax}(f(\mathrm{aug}(x_i)))_{y_i}` over the global
    batch of ``batch_size``, AdamW (weight decay on every parameter but SRM's and GCT's
    :math:`\beta`, :func:`param_groups`), learning rate ``lr ·`` :func:`lr_factor`.

    In a process group (``torchrun``), the model is wrapped in DistributedDataParallel, each
    process takes ``batch_size / W`` samples of every global batch, BatchNorms are synchronised
    as ``sync_bn`` says (:func:`chattn.distributed.sync_batchnorm`), and every rank returns the
    same weights; the returned model is the bare network (not the DDP wrapper). Evaluation runs on
    rank 0 only (the accuracies of other ranks' records are ``None``).

    Args:
        attn: the module (``'none'``: the plain network).
        seed: sets the initial weights, the batch order and the augmentation.
        config: the recipe (:class:`Config`; ``None``: its defaults).
        progress: show a progress bar.
        options: keyword arguments of every attention module (e.g. ``{"reduction": 8}``, kept in
            the record under ``model.options``).
        **overrides: fields of :class:`Config` replacing ``config``'s (``epochs=1``).

    Example::

        >>> model, record = train_run("eca", epochs=1, per_class=8, test_per_class=4, progress=False)
        >>> sorted(record)[:3]
        ['amp', 'arch', 'attn']
    """
    config = config or Config()
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(Config)})
    if unknown:
        raise TypeError(f"train_run got {unknown}, which are not fields of Config: "
                        f"{[f.name for f in dataclasses.fields(Config)]}")
    rank, world_size, local_rank = world()
    c = dataclasses.replace(config, **overrides).check(world_size)
    seed = _validate.positive_int(seed, "seed", minimum=0)
    options = dict(options or {})
    local_batch = c.batch_size // world_size
    dev = torch.device(c.device, local_rank) if c.device == "cuda" else torch.device("cpu")

    train_set, train_eval, test_eval, classes = load_data(c)

    # the network and its optimiser: the seed sets the initial weights
    torch.manual_seed(seed)
    model = build_network(attn, c, options, len(classes))
    synced = sync_batchnorm(model, c.sync_bn, cuda=c.device == "cuda") if world_size > 1 else []
    # channels_last: about 2x faster convolutions on CPU, but float32 gradients of the small net on
    # this CPU were up to 2% (of a parameter's largest gradient) off a float64 reference, against
    # 4e-6 contiguous (measured, torch 2.13): fine for training one process, not for checking
    # that W processes compute what one does. So contiguous under DDP.
    channels_last = world_size == 1 if c.channels_last is None else c.channels_last
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(dev, memory_format=layout)
    groups = param_groups(model, c.weight_decay)
    if c.optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=c.lr, weight_decay=c.weight_decay)
    else:
        opt = torch.optim.SGD(groups, lr=c.lr, momentum=0.9, weight_decay=c.weight_decay)
    net = model
    if world_size > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if c.device == "cuda" else None)

    # the batches: the seed sets their order and augmentation
    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True,
                                                  seed=seed)
    if c.data is None:
        g = torch.Generator().manual_seed(seed)        # augmentation draws, the same on every rank
        steps_per_epoch = math.ceil(len(sampler) / local_batch)
        x, y = train_set.tensors
        batches = _patch_batches(x.contiguous(memory_format=layout), y, sampler, local_batch, g, c.task)
    else:
        loader = torch.utils.data.DataLoader(train_set, local_batch, sampler=sampler, num_workers=c.workers,
                                             pin_memory=c.device == "cuda", drop_last=True,
                                             worker_init_fn=seed_worker, persistent_workers=c.workers > 0)
        steps_per_epoch = len(loader)

        def batches():
            yield from loader

    # the loop
    steps = c.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps))
    amp = c.device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    bar = _progress(steps, f"{attn} seed {seed}", progress and rank == 0)
    losses, epoch_losses = [], []
    start = time.perf_counter()
    net.train()
    for epoch in range(c.epochs):
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
            if world_size > 1:
                dist.all_reduce(value)
                value /= world_size
            losses.append(value.item())                       # the global batch's mean loss
            epoch_losses.append(losses[-1])
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    seconds = time.perf_counter() - start

    # the measurements, on rank 0
    model = model.to(memory_format=torch.contiguous_format)     # measured as it will be loaded
    digests = [state_sha256(model)]
    if world_size > 1:
        digests = [None] * world_size
        dist.all_gather_object(digests, state_sha256(model))
    train_acc = train_loss = test_acc = test_loss = None
    if rank == 0:
        if c.data is None:
            train_acc, train_loss = evaluate(model, train_eval[0].contiguous().to(dev), train_eval[1].to(dev))
            test_acc, test_loss = evaluate(model, test_eval[0].to(dev), test_eval[1].to(dev))
        else:
            train_loss = statistics.fmean(epoch_losses) if epoch_losses else None
            test_acc, test_loss = evaluate_loader(model, test_eval, local_batch, dev, c.workers)
    bar.set_postfix(test_acc=f"{test_acc:.3f}" if test_acc is not None else "-")
    bar.close()
    model.eval()

    # the record: what was run, what it measured, where
    attn_name = "none" if attn in (None, "none") else attn
    every = max(1, len(losses) // 500)                          # at most ~500 points in the record
    record = dict(
        attn=attn_name, seed=seed, epochs=c.epochs,
        train_accuracy=train_acc, test_accuracy=test_acc, train_loss=train_loss, test_loss=test_loss,
        params=sum(p.numel() for p in model.parameters()), seconds=round(seconds, 2),
        model=model.config() if c.arch == "small" else dict(arch="resnet50", attn=attn_name,
                                                            num_classes=len(classes), options=options),
        arch=c.arch, data=str(c.data) if c.data is not None else "photo patches", task=c.task, classes=classes,
        patch=c.patch, per_class=c.per_class, test_per_class=c.test_per_class, data_seed=0,
        batch_size=c.batch_size, lr=c.lr, weight_decay=c.weight_decay,
        optimizer="AdamW, warm-up + cosine" if c.optimizer == "adamw" else "SGD momentum 0.9, warm-up + cosine",
        no_weight_decay=[n for g in groups if g["weight_decay"] == 0 for n in g["names"]],
        world_size=world_size, device=str(dev.type), amp=amp, channels_last=bool(channels_last),
        sync_bn=c.sync_bn if world_size > 1 else "none", bn_synchronised=bool(synced), synchronised_bn=synced,
        rank_weights_sha256=digests, loss_curve_every=every, loss_curve=losses[::every],
        threads=torch.get_num_threads(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
        torch=torch.__version__, python=platform.python_version(),
        chattn=__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    if c.data is None:
        record.pop("classes")
    return model, record


def config_of(record: dict) -> Config:
    """The :class:`Config` a record was trained with (the photo patches; ``channels_last`` as the
    record says): ``train_run(r["attn"], r["seed"], config_of(r), options=r["model"]["options"])``
    trains the run again.

    Args:
        record: a run record (a dict, as :func:`chattn.runs.load_records` returns them); the fields
            it lacks keep :class:`Config`'s defaults.

    Example::

        >>> config_of({"epochs": 12, "model": {"width": 48}}).width
        48
    """
    model = record.get("model") or {}
    c = Config()
    values = {k: record[k] for k in ("epochs", "per_class", "test_per_class", "batch_size", "lr",
                                      "weight_decay", "patch", "task", "arch") if k in record}
    values.update({k: model[k] for k in ("width", "depth") if k in model})
    if "channels_last" in record:
        values["channels_last"] = record["channels_last"]
    return dataclasses.replace(c, **values)


# --- writing a run ---------------------------------------------------------------------------------------

def out_dir(config: Config, options: dict, out=None, ship: bool = False, curve: bool = False) -> Path:
    """Where a run is written: ``out``, or with ``ship`` :func:`chattn.runs.ship_dir` of its task,
    epochs, module options and network options (``curve``: ``<task>/curve/epochs<N>/``).

    Args:
        config: the run's recipe.
        options: the run's module options.
        out: the folder without ``ship``; default ``runs``.
        ship: write into the shipped weights' layout instead of ``out``.
        curve: with ``ship``, the plain network at another epoch count.
    """
    if not ship:
        return Path("runs" if out is None else out)
    return ship_dir(config.task, options, epochs=config.epochs, curve=curve,
                    network={"width": config.width, "depth": config.depth} if config.arch == "small" else {})


def writes_weights(seed: int, ship: bool, weights: bool = True) -> bool:
    """Whether :func:`run_and_save` writes a run's weights file: ``weights`` asked for, and in the
    shipped layout (``ship``) for seed 0 only.

    Args:
        seed: the run's seed.
        ship: the run writes into the shipped weights' layout.
        weights: the weights file is asked for, default True.
    """
    return weights and (not ship or seed == 0)


def run_and_save(attn: str, seed: int, out: Path | None = None, ship: bool = False, weights: bool = True,
                 config: Config | None = None, curve: bool = False, **kwargs) -> dict:
    """:func:`train_run`, then write the weights (unless ``weights`` is false, or ``ship`` and
    ``seed != 0``) and the JSON record, named by :func:`chattn.runs.stem`, into :func:`out_dir`.

    Only rank 0 of a process group writes. Returns the record, with ``weights`` (the file name, or
    ``None``).

    Args:
        attn: the module (``'none'``: the plain network).
        seed: the run's seed.
        out: the folder to write into; default: :func:`out_dir` of the run.
        ship: write into the shipped weights' layout (weights of seed 0 only).
        weights: write the weights file as well as the record, default True.
        config: the recipe (:class:`Config`; ``None``: its defaults).
        curve: with ``ship``, the plain network at another epoch count.
        **kwargs: passed on to :func:`train_run` (``progress``, ``options``, fields of
            :class:`Config`).
    """
    model, record = train_run(attn, seed, config, **kwargs)
    options = record["model"].get("options") or {}
    network = {k: record["model"][k] for k in ("width", "depth") if k in record["model"]}
    config = dataclasses.replace(config or Config(), **{k: v for k, v in kwargs.items() if k in Config.__dataclass_fields__})
    where = Path(out) if out is not None else out_dir(config, options, None, ship, curve)
    record["weights"] = None
    if world()[0] != 0:                  # only rank 0 writes
        return record
    where.mkdir(parents=True, exist_ok=True)
    if writes_weights(seed, ship, weights):
        path = where / (stem(record["attn"], None if ship else seed, record["arch"], options, network) + ".safetensors")
        record["weights"] = path.name
        record["weights_sha256"] = save_weights(model, path, record["model"])
    (where / (stem(record["attn"], seed, record["arch"], options, network) + ".json")).write_text(
        json.dumps(record, indent=1) + "\n")
    return record


def _report(r: dict):
    if r.get("test_accuracy") is None:             # not rank 0: rank 0 reports
        return

    def pct(v):
        return "     -" if v is None else f"{100 * v:6.2f}"
    given = {**(r["model"].get("options") or {}), **network_options(r["model"])}
    options = " ".join(f"{k}={v}" for k, v in sorted(given.items()))
    label = f"{r['attn']:9s} {options:14s}" if options else f"{r['attn']:9s}"     # the grid's lines as before
    print(f"{label} seed {r['seed']}  train {pct(r['train_accuracy'])}%  "
          f"test {pct(r['test_accuracy'])}%  {r['params']:7,d} params  {r['seconds']:6.1f} s"
          + (f"  ({r['world_size']} processes, {r['device']})" if r.get("world_size", 1) > 1 else ""), flush=True)


def _worker_init(threads: int):
    torch.set_num_threads(threads)


def _parallel(runs, args, config: Config):
    """Runs in ``args.jobs`` spawned processes of ``args.threads`` threads each; one progress bar
    over runs. Every run is seeded on its own, so the results do not depend on the scheduling."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    bar = _progress(len(runs), "runs", not args.quiet)
    out = None if args.ship else args.out
    with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_worker_init,
                             initargs=(args.threads,)) as pool:
        futures = [pool.submit(run_and_save, name, seed, out, args.ship, not args.no_weights, config, args.curve,
                               progress=False, options=options)
                   for name, seed, options in runs]
        for f in as_completed(futures):
            bar.update(1)
            bar.clear()
            _report(f.result())
    bar.close()


# --- the command line ------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m chattn.train", description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--attn", help=f"one of: {', '.join(configs())}")
    what.add_argument("--all", action="store_true", help="every module and 'none'")
    what.add_argument("--sweep", action="append", metavar="MODULE:OPTION=V1,V2,...",
                      help="train MODULE once per value of OPTION (e.g. se:reduction=2,4,8,16,32); repeatable")
    what.add_argument("--summary", metavar="DIR", help="print mean ± std of test accuracy per module")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the attention module (e.g. reduction=8, k_size=5); repeatable")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    p.add_argument("--out", default="runs", help="output directory (default runs/)")
    p.add_argument("--ship", action="store_true",
                   help="write into chattn/weights/<task>/epochs<E>/ (sweep/ for module options, control/ for "
                        "another width or depth; seed-0 weights only)")
    p.add_argument("--curve", action="store_true",
                   help="with --ship: the plain network at another epoch count, into chattn/weights/<task>/curve/"
                        "epochs<N>/")
    p.add_argument("--no-weights", action="store_true", help="write the records only")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip runs whose record is already in the output directory (resume)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    recipe = p.add_argument_group("the recipe (chattn.train.Config)")
    for f in dataclasses.fields(Config):
        if f.metadata.get("cli", True):
            kind = str if f.name == "data" else type(f.default)
            recipe.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default,
                                choices=f.metadata.get("choices"),
                                help=f"{f.metadata['help']} (default {f.default})")
    return p


def _flags(message: str) -> str:
    """A message about Config's fields in the words of the command line (``task=`` -> ``--task``)."""
    names = "|".join(f.name for f in dataclasses.fields(Config))
    return re.sub(rf"\b({names})=", lambda m: "--" + m.group(1).replace("_", "-") + " ", message)


def plan(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> tuple[Config, list, list]:
    """What a command line trains, everything checked before any training: ``(config, runs,
    skipped)``, its recipe and its runs ``(module, seed, options)`` seed-major (one seed of every
    configuration first), less those ``--skip-existing`` skips, which are ``skipped``. A bad
    argument is ``parser.error`` (exit 2), or a ``ValueError`` without a parser. :func:`main` and
    ``scripts/train_queue.py`` use it.

    Args:
        args: ``_parser().parse_args(...)``; not ``--summary``.
        parser: the parser that reports errors; ``None``: raise ``ValueError``.
    """
    def error(message: str):
        if parser is not None:
            parser.error(message)
        raise ValueError(message)

    # what to train: (module, options) configurations, checked before any training
    try:
        given = [parse_option(o) for o in args.opt]
    except ValueError as e:
        error(f"--opt: {e}")
    try:
        sweeps = [parse_sweep(s) for s in args.sweep or []]
    except ValueError as e:
        error(f"--sweep: {e}")
    fixed = dict(given)
    if len(fixed) != len(given):
        error(f"--opt sets an option twice: {args.opt}")
    if fixed and args.all:
        error("--opt applies to one module (--attn or --sweep), not to --all")
    for attn, key, _ in sweeps:
        if key in fixed:
            error(f"--sweep {attn}:{key}=... and --opt {key}=... both set {key}")
    if sweeps:
        todo = [(attn, {**fixed, key: v}) for attn, key, values in sweeps for v in values]
    else:
        todo = [(name, dict(fixed)) for name in (configs() if args.all else [args.attn.lower()])]
    if args.seeds < 1:
        error("--seeds must be >= 1")
    if args.threads < 1 or args.jobs < 1:
        error("--threads and --jobs must be >= 1")
    if args.curve and not args.ship:
        error("--curve names a shipped folder; it needs --ship")
    try:
        config = Config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                           if f.metadata.get("cli", True)}).check()
    except ValueError as e:
        error(_flags(str(e)))
    source = "--sweep" if sweeps else "--opt"
    seen = set()
    for name, options in todo:
        if name not in configs():
            error(f"{'--sweep' if sweeps else '--attn'}: the module must be one of {configs()}, got {name!r}")
        if options and name == "none":
            error(f"{source}: options {sorted(options)} need an attention module; 'none' has none")
        if (name, json.dumps(options, sort_keys=True)) in seen:
            error(f"--sweep: {name} with options {options} is listed twice")
        seen.add((name, json.dumps(options, sort_keys=True)))
        try:                                               # a bad option fails here, before any training
            build_network(name, config, options)
        except (TypeError, ValueError) as e:
            error(f"{source}: {name} with options {options}: {e}")
        if args.curve:
            try:
                out_dir(config, options, ship=True, curve=True)
            except ValueError as e:
                error(f"--curve: {e}")

    # seed-major: one seed of every configuration first, so a partial run already covers the grid
    runs = [(name, seed, options) for seed in range(args.seeds) for name, options in todo]
    skipped = [run for run in runs if args.skip_existing and record_path(args, config, *run).is_file()]
    return config, [run for run in runs if run not in skipped], skipped


def record_path(args: argparse.Namespace, config: Config, name: str, seed: int, options: dict) -> Path:
    """Where the command line ``args`` writes the record of run ``(name, seed, options)``.

    Args:
        args: the parsed command line (its ``--out``, ``--ship`` and ``--curve``).
        config: its recipe (:func:`plan`'s).
        name: the module (``'none'``: the plain network).
        seed: the run's seed.
        options: the run's module options.
    """
    where = out_dir(config, options, args.out, args.ship, args.curve)
    network = {"width": config.width, "depth": config.depth} if config.arch == "small" else {}
    return where / (stem(name, seed, config.arch, options, network) + ".json")


def main(argv=None) -> int:
    """The command line (``python -m chattn.train --help``): check everything, then train the runs
    seed by seed (one seed of every configuration first) and write them; ``0`` on success. A bad
    argument stops it with argparse's usage error (exit 2) before any training.

    Args:
        argv: the command-line arguments; default: ``sys.argv[1:]``.
    """
    p = _parser()
    args = p.parse_args(argv)
    if args.summary:
        print(format_summary(summarize(load_records(args.summary))))
        return 0
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1          # started by torchrun
    if distributed and args.jobs != 1:
        p.error("--jobs runs independent processes; under torchrun use --jobs 1")
    config, runs, skipped = plan(args, p)
    torch.set_num_threads(args.threads)
    if args.skip_existing:
        print(f"--skip-existing: {len(skipped)} runs already recorded, {len(runs)} to train", flush=True)
    start = time.perf_counter()
    if distributed:
        if config.device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if config.device == "cuda" else "gloo")
    main_process = world()[0] == 0
    try:
        if args.jobs == 1:
            for name, seed, options in runs:
                _report(run_and_save(name, seed, None if args.ship else args.out, args.ship, not args.no_weights,
                                     config, args.curve, progress=not args.quiet, options=options))
        else:
            _parallel(runs, args, config)
    finally:
        if distributed:
            dist.destroy_process_group()
    if main_process:
        print(f"{len(runs)} runs in {time.perf_counter() - start:.0f} s wall", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
