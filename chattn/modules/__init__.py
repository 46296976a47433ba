"""The eleven named modules, in the order of the notes. Importing registers them."""
from .se import SE
from .enc import EncModule
from .gsop import GSoP
from .fca import FcaNet
from .bilinear import BilinearAttention
from .eca import ECA
from .rcan_ca import CALayer
from .dia import DIA
from .srm import SRM
from .gct import GCT
from .soca import SOCA

__all__ = ["SE", "EncModule", "GSoP", "FcaNet", "BilinearAttention", "ECA", "CALayer", "DIA", "SRM",
           "GCT", "SOCA"]
