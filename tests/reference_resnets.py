r"""The six official attention ResNet-50s, transcribed as their repositories build them, for the
checkpoint tests: the official parameter names, the official order of registration, the official
forward. Written from reading each repository at the commit named in ``official_networks/*.json``
(the attention modules themselves are the transcriptions of ``reference.py``).

What each network does differently from torchvision's ResNet-50 (v1.5: stride on the 3x3 conv):

- senet.pytorch, ECANet, FcaNet, SRM: the module after ``bn3``, before the residual add; its
  attribute is ``se``, ``eca``, ``att``, ``rclb``. SRM's block registers ``downsample`` before
  ``rclb``, the others after. FcaNet: DCT size 56/28/14/7 by stage, ``top16``; ECA: k = 3, 5, 5, 7.
- GSoP-Net1: the attention layers are attributes of the last bottleneck of each stage itself
  (``conv_for_DR``...), with stride 2 in the dimension reduction of stage 1; ``layer4`` has stride
  1; the head is ``AvgPool2d(14)``.
- GCT (maskrcnn-benchmark's ResNet): ``stem.conv1`` and each block's ``conv1``-``conv3`` and
  ``downsample`` start with a GCT (``nn.Sequential(GCT, Conv2d)``); the stride sits on the first
  1x1 (``stride_in_1x1=True``); the block's ``downsample`` is registered first.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import reference as ref

ECA_K = (3, 5, 5, 7)
FCA_SIZE = {64: 56, 128: 28, 256: 14, 512: 7}


class Bottleneck(nn.Module):
    """torchvision's bottleneck with the attention ``name`` (``se``, ``eca``, ``att``, ``rclb``)
    after bn3, or GSoP's flat chan_att layers (``gsop``)."""

    def __init__(self, inplanes, planes, stride, downsample, name, attn):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.name, self.gsop = name, None
        if name == "rclb":                                 # SRM: downsample first
            self.downsample = downsample
        if name == "gsop":
            if attn is not None:                           # its layers are the block's own attributes
                for child, module in attn.named_children():
                    self.add_module(child, module)
                object.__setattr__(self, "gsop", attn)      # not a child: its layers are
        elif attn is not None:
            self.add_module(name, attn)
        if name != "rclb":
            self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        if self.gsop is not None:
            out = out * ref.GSoPBlock.chan_att(self, out)
        elif self.name != "gsop" and getattr(self, self.name, None) is not None:
            out = getattr(self, self.name)(out)
        out += residual
        return self.relu(out)


def _attention(attn, planes, stage, block, blocks):
    c = planes * 4
    if attn == "se":
        return "se", ref.SELayer(c, 16)
    if attn == "eca":
        return "eca", ref.eca_layer(c, ECA_K[stage])
    if attn == "fca":
        return "att", ref.MultiSpectralAttentionLayer(c, FCA_SIZE[planes], FCA_SIZE[planes], 16, "top16")
    if attn == "srm":
        return "rclb", ref.SRMLayer(c)
    if attn == "gsop":
        last = block == blocks - 1
        return "gsop", ref.GSoPBlock(c, 128, stride=2 if planes <= 64 else 1) if last else None
    raise ValueError(attn)


class OfficialResNet(nn.Module):
    """SE-, ECA-, Fca-, SRM-ResNet-50 and GSoP-Net1, as their repositories build them."""

    def __init__(self, attn, num_classes=1000):
        super().__init__()
        self.attn = attn
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        last = 1 if attn == "gsop" else 2
        for i, (planes, n, stride) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, last))):
            self.add_module(f"layer{i + 1}", self._make_layer(planes, n, stride, i))
        self.avgpool = nn.AvgPool2d(14, stride=1) if attn == "gsop" else nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def _make_layer(self, planes, blocks, stride, stage):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = []
        for b in range(blocks):
            name, attn = _attention(self.attn, planes, stage, b, blocks)
            layers.append(Bottleneck(self.inplanes, planes, stride if b == 0 else 1,
                                     downsample if b == 0 else None, name, attn))
            self.inplanes = planes * 4
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class GCTBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, stride):
        super().__init__()
        self.downsample = None
        if cin != cout:
            self.downsample = nn.Sequential(ref.GCT(cin), nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))
        self.conv1 = nn.Sequential(ref.GCT(cin), nn.Conv2d(cin, mid, 1, stride, bias=False))   # stride in 1x1
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Sequential(ref.GCT(mid), nn.Conv2d(mid, mid, 3, 1, 1, bias=False))
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Sequential(ref.GCT(mid), nn.Conv2d(mid, cout, 1, bias=False))
        self.bn3 = nn.BatchNorm2d(cout)

    def forward(self, x):
        identity = x
        out = F.relu_(self.bn1(self.conv1(x)))
        out = F.relu_(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return F.relu_(out)


class GCTStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(ref.GCT(3), nn.Conv2d(3, 64, 7, 2, 3, bias=False))
        self.bn1 = nn.BatchNorm2d(64)

    def forward(self, x):
        return F.max_pool2d(F.relu_(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)


class GCTResNet(nn.Module):
    """GCT-ResNet-50 of z-x-yang/GCT ``PyTorch/resnet.py``."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = GCTStem()
        cin = 64
        for i, n in enumerate((3, 4, 6, 3)):
            mid, cout = 64 * 2 ** i, 256 * 2 ** i
            blocks = [GCTBottleneck(cin if b == 0 else cout, mid, cout, (2 if i else 1) if b == 0 else 1)
                      for b in range(n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def official_resnet50(attn: str) -> nn.Module:
    return GCTResNet() if attn == "gct" else OfficialResNet(attn)
