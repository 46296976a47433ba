"""chattn: channel attention for convolutional networks.

Every module is ``s = F(X; θ)``, ``Y = s · X``: a squeeze (:mod:`chattn.squeeze`), an excitation
(:mod:`chattn.excite`) and the scale (:class:`chattn.ChannelAttention`). Build any of the eleven
by name::

    >>> import chattn
    >>> chattn.available()
    ['se', 'enc', 'gsop', 'fca', 'bilinear', 'eca', 'rcan_ca', 'dia', 'srm', 'gct', 'soca']
    >>> eca = chattn.create("eca", 256)
"""
from . import excite, squeeze
from .base import ChannelAttention, Compose, Gate, GateCall, record_gates
from .modules import (SE, EncModule, GSoP, FcaNet, BilinearAttention, ECA, CALayer, DIA, SRM, GCT,
                      SOCA)
from .registry import available, create, register

__version__ = "0.1.0"

# Submodules with heavier dependencies (scikit-image, matplotlib, ipywidgets) load on first use:
# ``import chattn`` stays light, and ``chattn.pretrained.load("se")`` still works.
_LAZY = ("models", "data", "pretrained", "interactive", "bench", "train", "viz", "analysis", "runs", "distributed")


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chattn' has no attribute {name!r}")

__all__ = ["available", "create", "register", "ChannelAttention", "Compose", "Gate", "GateCall",
           "record_gates", "squeeze", "excite",
           "SE", "EncModule", "GSoP", "FcaNet", "BilinearAttention", "ECA", "CALayer", "DIA", "SRM",
           "GCT", "SOCA"]
