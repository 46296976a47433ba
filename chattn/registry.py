"""One factory for every channel-attention module: ``create('se', 256, reduction=16)``.

Modules register themselves with :func:`register`; :func:`create` builds one by name and
:func:`available` lists the names. Models take an ``attn`` name instead of a class.
"""
from __future__ import annotations

from typing import Callable, Dict

from torch import nn

_REGISTRY: Dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Class decorator: make ``cls`` reachable as ``create(name, channels, **options)``."""
    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"attention module {name!r} is registered twice")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls
    return wrap


def available() -> list[str]:
    """Names accepted by :func:`create`, in the order of the notes."""
    return list(_REGISTRY)


def create(name: str, channels: int, **options) -> nn.Module:
    """Build the channel-attention module ``name`` for ``channels`` input channels.

    Options are the official constructor's keyword arguments (``reduction``, ``k_size``,
    ``dct_h``, ``freq_sel_method``, ``ncodes``, ``att_dim``, ``mode``, ``epsilon`` ...).

    Example::

        >>> import chattn
        >>> se = chattn.create("se", 256, reduction=16)
        >>> sum(p.numel() for p in se.parameters())
        8192
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {available()}, got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown attention module name={name!r}; available: {available()}")
    return _REGISTRY[key](channels, **options)
