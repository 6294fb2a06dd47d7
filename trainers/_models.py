"""Model factories of the built-in tasks (plain ``nn.Linear`` / ``nn.Conv2d`` layers)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._task_param import TaskParam

__all__ = ["MLP", "DigitsCNN", "LeNet5", "ResNet20", "reshape_hidden", "shape_params"]


def shape_params(
    *, width: int, depth: int, max_width: int, max_depth: int, conv: bool = False
) -> tuple[TaskParam, ...]:
    """The ``width`` and ``depth`` task parameters of a built-in model (defaults = its shape).

    Examples:
        >>> [p.allowed for p in shape_params(width=16, depth=2, max_width=256, max_depth=4)]
        ['an int in [1, 256]', 'an int in [1, 4]']
    """
    what = ("channels of the first conv layer", "conv layers") if conv else (
        "units of the first hidden layer", "hidden layers")  # fmt: skip
    return (
        TaskParam(
            name="width", type="int", default=width, low=1, high=max_width, description=what[0]
        ),
        TaskParam(
            name="depth",
            type="int",
            default=depth,
            low=1,
            high=max_depth,
            description=f"number of {what[1]}",
        ),
    )


def reshape_hidden(hidden: Sequence[int], *, width: int, depth: int) -> tuple[int, ...]:
    """Hidden sizes with ``width`` units in the first layer and ``depth`` layers.

    Later layers keep the taper of ``hidden`` (layer ``i`` has ``round(width * hidden[i] /
    hidden[0])`` units, at least 1); layers beyond ``len(hidden)`` repeat the last ratio.

    Examples:
        >>> reshape_hidden((256, 128), width=256, depth=2)
        (256, 128)
        >>> reshape_hidden((256, 128), width=100, depth=3)
        (100, 50, 50)
    """
    if not hidden:
        return (width,) * depth
    ratios = [size / hidden[0] for size in hidden]
    ratios += [ratios[-1]] * max(0, depth - len(ratios))
    return tuple(max(1, round(width * ratio)) for ratio in ratios[:depth])


class MLP(nn.Sequential):
    """Fully connected ReLU network with dropout after each hidden layer.

    ``width`` and ``depth`` (the built-in tasks' parameters) reshape ``hidden`` with
    :func:`reshape_hidden`; left ``None`` they keep it.

    Examples:
        >>> MLP(in_features=4, hidden=(8,), num_classes=3)(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
        >>> MLP(in_features=4, hidden=(8, 4), num_classes=3, width=16, depth=3)[5]
        Linear(in_features=8, out_features=8, bias=True)
    """

    def __init__(
        self,
        *,
        in_features: int,
        hidden: Sequence[int],
        num_classes: int,
        dropout: float = 0.0,
        width: int | None = None,
        depth: int | None = None,
    ) -> None:
        if width is not None or depth is not None:
            hidden = reshape_hidden(
                hidden,
                width=hidden[0] if width is None else width,
                depth=len(hidden) if depth is None else depth,
            )
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


class DigitsCNN(nn.Sequential):
    """A small CNN for 1x8x8 digit images: ``depth`` 3x3 conv layers, then two linear layers.

    Conv layer ``i`` has ``width * 2**i`` channels (default 16 and 32), then one 2x2 max pool.

    Examples:
        >>> DigitsCNN(num_classes=10)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
        >>> DigitsCNN(num_classes=10, width=4, depth=3)[4]
        Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """

    def __init__(
        self, *, num_classes: int, dropout: float = 0.0, width: int = 16, depth: int = 2
    ) -> None:
        convs: list[nn.Module] = []
        channels = 1
        for index in range(depth):
            convs += [nn.Conv2d(channels, width * 2**index, 3, padding=1), nn.ReLU()]
            channels = width * 2**index
        super().__init__(
            *convs,
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(channels * 4 * 4, 64),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(64, num_classes),
        )


class LeNet5(nn.Sequential):
    """LeNet-5 for 1x28x28 images (ReLU and max pooling).

    Examples:
        >>> LeNet5(num_classes=10)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, *, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(84, num_classes),
        )


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.extra = planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.extra:
            # He et al.'s option A: subsample and zero-pad the channels (no parameters).
            shortcut = x[:, :, :: self.stride, :: self.stride]
            half = self.extra // 2
            shortcut = F.pad(shortcut, (0, 0, 0, 0, half, self.extra - half))
        return F.relu(out + shortcut)


class ResNet20(nn.Module):
    """ResNet-20 for 3x32x32 images (He et al. 2016, CIFAR variant, option-A shortcuts).

    Examples:
        >>> model = ResNet20(num_classes=10)
        >>> sum(p.numel() for p in model.parameters())
        269722
    """

    def __init__(self, *, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks: list[nn.Module] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for index in range(3):
                blocks.append(_BasicBlock(in_planes, planes, stride if index == 0 else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.conv(x)))
        out = self.blocks(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(self.dropout(out))  # type: ignore[no-any-return]
