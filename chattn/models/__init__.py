"""Networks with a channel-attention module plugged in by name.

- :func:`resnet50`: the ImageNet ResNet-50 with each module where its official ResNet code puts it
  (where SE goes for the four published in other networks: EncNet, bilinear, RCAN's CA, SoCA).
- :func:`small_resnet`: a small ResNet for CPU training on small real-image patches.
- :func:`load_checkpoint`: an official ImageNet checkpoint (SE, ECA, FcaNet, SRM, GCT, GSoP) into
  :func:`resnet50` (also ``resnet50(attn, checkpoint=PATH)``); the official files and their key names are
  :mod:`chattn.models.checkpoints`.
"""
from .checkpoints import CheckpointError
from .resnet import flops, load_checkpoint, resnet50
from .small import SmallResNet, small_resnet

__all__ = ["resnet50", "flops", "SmallResNet", "small_resnet", "load_checkpoint", "CheckpointError"]
