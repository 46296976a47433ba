"""Networks with a channel-attention module plugged in by name.

- :func:`resnet50`: the ImageNet ResNet-50 with each module where its paper puts it.
- :func:`small_resnet`: a small ResNet for CPU training on small real-image patches.
"""
from .resnet import resnet50, flops
from .small import SmallResNet, small_resnet

__all__ = ["resnet50", "flops", "SmallResNet", "small_resnet"]
