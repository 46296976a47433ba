"""One factory for every channel-attention module: ``create('se', 256, reduction=16)``.

Modules register themselves with :func:`register`; :func:`create` builds one by name and
:func:`available` lists the names, :func:`options_of` the options of one. Models take an ``attn`` name instead of a class.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Callable, Dict, Iterable

from torch import nn

_REGISTRY: Dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Class decorator: make ``cls`` reachable as ``create(name, channels, **options)``.

    Args:
        name: the name :func:`create` will know the class by.
    """
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


def options_of(name: str) -> list[str]:
    """The keyword options ``create(name, channels, ...)`` accepts (the constructor's parameters
    after ``channels``).

    Args:
        name: a registered module name.
    """
    params = list(inspect.signature(_REGISTRY[name]).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_options(name: str, options: Iterable[str], network: Iterable[str] = (), caller: str = "create") -> None:
    """Raise a TypeError naming every option that neither the network nor the module ``name``
    accepts, with both lists and the closest accepted name.

    Args:
        name: a registered module name.
        options: the option names given.
        network: the option names the calling network accepts itself (empty for :func:`create`).
        caller: the function the options were given to, for the message.

    Example::

        >>> check_options("se", ["reductoin"], ["num_classes"], "resnet50")
        Traceback (most recent call last):
        ...
        TypeError: resnet50 got an unknown option 'reductoin' (did you mean 'reduction'?); the network accepts ['num_classes'], the module SE ('se') accepts ['reduction', 'bias']
    """
    network, module = list(network), options_of(name)
    bad = [o for o in options if o not in module]
    if bad:
        hint = difflib.get_close_matches(bad[0], network + module, n=1)
        accepts = ([f"the network accepts {network}"] if network else []) + [
            f"the module {_REGISTRY[name].__name__} ({name!r}) accepts {module}"]
        raise TypeError(f"{caller} got an unknown option {bad[0]!r}"
                        + (f" (did you mean {hint[0]!r}?)" if hint else "")
                        + (f" and {bad[1:]}" if bad[1:] else "") + "; " + ", ".join(accepts))


def create(name: str, channels: int, **options) -> nn.Module:
    """Build the channel-attention module ``name`` for ``channels`` input channels.

    Options are the official constructor's keyword arguments (``reduction``, ``k_size``,
    ``dct_h``, ``freq_sel_method``, ``ncodes``, ``att_dim``, ``mode``, ``epsilon`` ...).

    Args:
        name: a name of :func:`available` (case-insensitive).
        channels: C, the input's channels.
        **options: the module's keyword options (:func:`options_of`); an unknown one raises a TypeError naming what the module accepts.

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
    check_options(key, options)
    return _REGISTRY[key](channels, **options)
