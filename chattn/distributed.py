r"""Training in more than one process: a BatchNorm over the global batch, and the process's place.

- :class:`SyncBatchNorm`: :class:`torch.nn.SyncBatchNorm`'s computation over any process group
  (gloo on CPU, where torch's refuses to run).
- :func:`sync_batchnorm` swaps a model's BatchNorms (those inside the modules that normalise pooled
  statistics, :data:`POOLED_BN`, or all) for synchronised ones, in place.
- :func:`world`: ``(rank, world_size, local_rank)``, ``(0, 1, 0)`` outside a process group.

:mod:`chattn.train` uses them under ``torchrun``.
"""
from __future__ import annotations

import hashlib
import os

import torch
from torch import distributed as dist
from torch import nn

from . import _validate

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
        model: the network; changed in place.
        which: ``"attention"``: the BatchNorms inside modules of :data:`POOLED_BN` (SRM, GSoP,
            EncNet, bilinear); ``"all"``: every BatchNorm; ``"none"``.
        cuda: use :class:`torch.nn.SyncBatchNorm` (CUDA only) instead of :class:`SyncBatchNorm`.

    Example::

        >>> from chattn.models import small_resnet
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


def world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``: from torchrun's environment when a process group is up."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def state_sha256(model: nn.Module) -> str:
    """sha256 of ``model.state_dict()`` (names and bytes, in order): equal on every rank when the
    processes hold the same weights.

    Args:
        model: any ``nn.Module``.

    Returns:
        The hex digest, 64 characters.
    """
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
