"""Argument checks shared by every module: clear errors at the boundary, never deep inside torch."""
from __future__ import annotations

import numbers

import torch


def positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def one_of(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def reduced_width(channels: int, reduction, name: str = "reduction") -> int:
    """Hidden width ``C // r`` of a bottleneck excitation; it must be at least one channel."""
    reduction = positive_int(reduction, name)
    if reduction > channels:
        raise ValueError(f"{name}={reduction} is larger than channels={channels}: "
                         f"the hidden layer C // r would have no units; use {name} <= {channels}")
    return channels // reduction


def feature_map(x, channels: int | None = None, name: str = "x", min_size: tuple[int, int] = (1, 1)):
    """Check that ``x`` is a floating (B, C, H, W) tensor with the expected channel count."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have 4 dimensions (B, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} has {x.shape[1]} channels, but the module was built for channels={channels}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} has an empty batch (shape {tuple(x.shape)})")
    if x.shape[2] < min_size[0] or x.shape[3] < min_size[1]:
        raise ValueError(f"{name} has spatial size {tuple(x.shape[2:])}; this operation needs at least "
                         f"{min_size[0]}x{min_size[1]}")
    return x


def batch_for_norm(x, module, what: str = "BatchNorm over (B, C, 1, 1)"):
    """A BatchNorm over pooled (B, C, 1, 1) statistics has one value per channel per sample:
    training needs at least two samples."""
    if module.training and x.shape[0] < 2:
        raise ValueError(f"{type(module).__name__} in training mode needs a batch of at least 2 "
                         f"(its {what} has one value per channel per sample); got batch size "
                         f"{x.shape[0]}. Use a larger batch, or module.eval() for inference.")
