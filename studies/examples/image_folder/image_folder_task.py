"""An image-folder task: PNG files on disk, read by a torch ``Dataset`` through a DataLoader.

The folder holds one directory per split and, inside, one directory per class::

    root/train/<class>/*.png
    root/val/<class>/*.png
    root/test/<class>/*.png

Copy this file next to your study file, point ``data_dir`` (or ``--data-dir``) at your
folder, and run the study with this directory on the Python path::

    PYTHONPATH=studies/examples/image_folder paretune run \
        studies/examples/image_folder/image_folder.toml --data-dir path/to/root

Images are converted to RGB (or grayscale with ``channels = 1``), resized to ``size`` x
``size`` and scaled to [0, 1]. The training split flips images horizontally at random: the
flip is the train dataset's own transform, drawn from torch's generator in the worker that
loads the image, which the trainer seeds from the trial's seed, so a trial's data order and
its flips repeat exactly. Validation and test images are read as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from paretune.trainers import DatasetSplits, LoaderOptions, Task
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")


class ImageFolder(Dataset[tuple[torch.Tensor, int]]):
    """The PNG files of ``root/<class>/*.png`` as ``(image, label)`` pairs.

    Args:
        root: The split's directory.
        classes: Class names in label order (the sub-directories to read).
        size: Images are resized to ``size`` x ``size``.
        channels: 3 (RGB) or 1 (grayscale).
        flip: Flip each image horizontally with probability 1/2 (training only).
    """

    def __init__(
        self, root: Path, *, classes: list[str], size: int, channels: int, flip: bool
    ) -> None:
        self.files = [
            (path, label)
            for label, name in enumerate(classes)
            for path in sorted((root / name).glob("*.png"))
        ]
        if not self.files:
            raise FileNotFoundError(f"no PNG files in {root}/<class>/")
        self.size = size
        self.mode = "RGB" if channels == 3 else "L"
        self.flip = flip

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[index]
        with Image.open(path) as file:
            image = file.convert(self.mode)
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
        pixels = torch.from_numpy(array.reshape(self.size, self.size, -1)).permute(2, 0, 1)
        if self.flip and torch.rand(()) < 0.5:
            pixels = pixels.flip(-1)
        return pixels.contiguous(), label


def small_cnn(dropout: float, *, channels: int, classes: int, width: int) -> nn.Module:
    """Two 3x3 convolutions, global average pooling and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(2 * width, classes),
    )


def make_task(
    data_dir: str | None = None,
    *,
    size: int = 32,
    channels: int = 3,
    width: int = 16,
    num_workers: int = 2,
    persistent_workers: bool = False,
    pin_memory: bool | None = None,
    epochs: int = 10,
) -> Task:
    """The image-folder task; every argument can be set in the study's ``task_options``.

    Args:
        data_dir: The folder root (``root/<split>/<class>/*.png``).
        size: Side of the (square) images the model sees.
        channels: 3 (RGB) or 1 (grayscale).
        width: Channels of the first convolution.
        num_workers: DataLoader worker processes.
        persistent_workers: Keep the workers between epochs.
        pin_memory: Pinned batches (None: when training on CUDA).
        epochs: The task's default epochs.
    """
    if data_dir is None:
        raise ValueError("The image-folder task needs data_dir (the folder root).")
    if channels not in (1, 3):
        raise ValueError(f"The 'channels' option must be 1 or 3. Got {channels!r} instead.")
    root = Path(data_dir)
    for split in SPLITS:
        if not (root / split).is_dir():
            raise FileNotFoundError(f"{root / split} is missing (expected {root}/<split>/<class>/)")
    classes = sorted(path.name for path in (root / "train").iterdir() if path.is_dir())
    if len(classes) < 2:
        raise ValueError(f"{root / 'train'} must hold at least 2 class directories.")

    def load_datasets() -> DatasetSplits:
        def split(name: str) -> ImageFolder:
            return ImageFolder(
                root / name, classes=classes, size=size, channels=channels, flip=name == "train"
            )

        return DatasetSplits(train=split("train"), val=split("val"), test=split("test"))

    def build_model(dropout: float) -> nn.Module:
        return small_cnn(dropout, channels=channels, classes=len(classes), width=width)

    return Task(
        name="image-folder",
        description=f"small CNN on the PNG folder {root} ({len(classes)} classes)",
        default_epochs=epochs,
        build_model=build_model,
        load_datasets=load_datasets,
        input_shape=(channels, size, size),
        num_classes=len(classes),
        loader_options=LoaderOptions(
            num_workers=num_workers,
            persistent_workers=persistent_workers,
            pin_memory=pin_memory,
        ),
        options={"size": size, "channels": channels, "width": width},
    )
