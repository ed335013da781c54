"""The small CIFAR-10 ResNets of He et al. 2016 (section 4.2): three stages of 16/32/64 channels, 3x3 basic
blocks, and the parameter-free "option A" shortcut, laid out so that the state dicts of
akamaster/pytorch_resnet_cifar10 load as they are (`cifar_resnet20:PATH`)."""

import torch
import torch.nn.functional as F
from torch import nn

from patchgen.errors import UserError
from patchgen.victims.classifier import IMAGENET_MEAN, IMAGENET_STD, ClassifierVictim
from patchgen.victims.state_dict_file import load_fitting, read_state_dict

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DEPTHS = (20, 32, 44, 56, 110, 1202)  # 6n+2 layers; the depths the paper trains, and upstream publishes
CIFAR_IMGSZ = 32
STAGE_WIDTHS = (16, 32, 64)


class DownsampleShortcut(nn.Module):
    """Option A: every other pixel, and the new channels zero on both sides; no weights, so the shortcut adds
    nothing to the parameter count (the paper's comparison with plain nets depends on it)."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.pad = extra_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        changes_shape = stride != 1 or in_channels != channels
        self.shortcut = DownsampleShortcut(channels - in_channels) if changes_shape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int, classes: int = len(CIFAR10_NAMES)):
        super().__init__()
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, STAGE_WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        stages, in_channels = [], STAGE_WIDTHS[0]
        for stage, channels in enumerate(STAGE_WIDTHS):
            strides = [1 if stage == 0 else 2] + [1] * (blocks - 1)
            layers = []
            for stride in strides:
                layers.append(BasicBlock(in_channels, channels, stride))
                in_channels = channels
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(STAGE_WIDTHS[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def load_cifar_resnet(depth: int, path, name: str) -> ClassifierVictim:
    """Input normalised with the ImageNet mean and std: what the upstream trainer used for CIFAR-10."""
    if depth not in DEPTHS:
        raise UserError(f"{name}: CIFAR ResNet depth {depth} is not one of {', '.join(map(str, DEPTHS))} "
                        "(cifar_resnetDEPTH:PATH, e.g. cifar_resnet20:resnet20.th)")
    state = read_state_dict(path, name)
    model = load_fitting(CifarResNet(depth), state, name, f"cifar_resnet{depth}")
    return ClassifierVictim(model, CIFAR10_NAMES, CIFAR_IMGSZ, name, mean=IMAGENET_MEAN, std=IMAGENET_STD)
