"""Networks with a channel-attention module plugged in by name.

- :func:`resnet50`: the ImageNet ResNet-50 with each module where its paper puts it.
- :func:`small_resnet`: a small ResNet for CPU training on small real-image patches.
- :func:`load_checkpoint`: an official ImageNet checkpoint (SE, ECA, FcaNet, SRM, GCT, GSoP) into
  :func:`resnet50` (also ``resnet50(attn, checkpoint=PATH)``), :mod:`chattn.models.checkpoints`.
"""
from .resnet import resnet50, flops
from .small import SmallResNet, small_resnet
from .checkpoints import CheckpointError, load_checkpoint

__all__ = ["resnet50", "flops", "SmallResNet", "small_resnet", "load_checkpoint", "CheckpointError"]
