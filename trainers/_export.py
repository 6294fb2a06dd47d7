"""Save a trained model with its strategy and metrics; load it back.

A directory written by :func:`export_model` holds:

* ``model.pt``: the model (pickled ``nn.Module``, on the CPU) without its prunable weights
  (they are empty there);
* ``weights.pt``: the prunable weights in sparse, quantized form. For each layer: its shape, a
  bit mask of the nonzero weights (``numpy.packbits`` order) and only the nonzero entries:
  integer codes (int8 up to 8 bits, int16 for 16) with one float scale per output channel
  when ``bits < 32``, float32 values otherwise. A weight is ``code * scale[channel]``, so a
  channel really takes at most ``2**bits`` values and pruned weights are not stored at all;
  :func:`load_exported` rebuilds the dense weights from it;
* ``strategy.json``, ``metrics.json`` (the result without curve), ``MODEL_CARD.md``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._cost import prunable_layers
from ._result import TrainResult
from ._strategy import Strategy
from ._task import Task

__all__ = ["ExportedModel", "export_model", "load_exported", "pack_weight", "unpack_weight"]

_FORMAT = "paretune-weights-v1"


@dataclass(frozen=True, kw_only=True)
class ExportedModel:
    """What :func:`load_exported` returns.

    Attributes:
        model: The model in eval mode on the CPU.
        strategy: The strategy it was trained with.
        metrics: The measurements of its training run (``TrainResult.to_dict()`` less curve).
        task_name: Name of the task it was trained on.
        task_options: Options of that task.
    """

    model: nn.Module
    strategy: Strategy
    metrics: dict[str, Any]
    task_name: str
    task_options: dict[str, Any]


def pack_weight(weight: torch.Tensor, bits: int) -> dict[str, torch.Tensor]:
    """The sparse, quantized form of one weight tensor (see the module docstring).

    Examples:
        >>> packed = pack_weight(torch.tensor([[0.0, 3.0, -7.0], [0.0, 0.0, 2.0]]), 4)
        >>> packed["codes"].tolist(), packed["scale"].tolist()
        ([3, -7, 7], [1.0, 0.2857142984867096])
        >>> unpack_weight(packed)
        tensor([[ 0.,  3., -7.],
                [ 0.,  0.,  2.]])
    """
    weight = weight.detach().float().cpu()
    nonzero = weight != 0
    packed = {
        "shape": torch.tensor(weight.shape, dtype=torch.int64),
        "mask": torch.from_numpy(np.packbits(nonzero.flatten().numpy())),
    }
    if bits >= 32:
        packed["values"] = weight[nonzero]
        return packed
    qmax = 2 ** (bits - 1) - 1
    dims = tuple(range(1, weight.dim()))
    scale = weight.abs().amax(dim=dims, keepdim=True) / qmax
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    dtype = torch.int8 if bits <= 8 else torch.int16
    codes = torch.round(weight / safe).clamp(-qmax, qmax).to(dtype)
    packed["codes"] = codes[nonzero]
    packed["scale"] = scale.flatten()
    return packed


def unpack_weight(packed: dict[str, torch.Tensor]) -> torch.Tensor:
    """The dense float32 weight tensor of :func:`pack_weight`'s output."""
    shape = tuple(int(n) for n in packed["shape"])
    count = int(np.prod(shape)) if shape else 1
    bits = np.unpackbits(packed["mask"].numpy(), count=count).astype(bool)
    nonzero = torch.from_numpy(bits).view(shape)
    dense = torch.zeros(shape, dtype=torch.float32)
    if "values" in packed:
        dense[nonzero] = packed["values"].float()
        return dense
    scale = packed["scale"].view((-1,) + (1,) * (len(shape) - 1)).expand(shape)
    dense[nonzero] = packed["codes"].float() * scale[nonzero]
    return dense


def export_model(directory: str | Path, *, result: TrainResult, task: Task) -> Path:
    """Write ``result``'s model, strategy and metrics to ``directory`` (created if needed).

    The result must come from ``train(..., keep_model=True)``.

    Examples:
        >>> import tempfile
        >>> from paretune.trainers import Strategy, evaluate, get_task, train
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> result = train(task, Strategy(epochs=1, bits=4), device="cpu", keep_model=True)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     exported = load_exported(export_model(folder, result=result, task=task))
        >>> evaluate(exported.model, task) == result.test_accuracy
        True
    """
    if result.model is None:
        raise ValueError("The result holds no model: train with keep_model=True to export it.")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(result.model).to("cpu").eval()
    bits = result.strategy.bits
    prunable = {id(layer): layer for layer in prunable_layers(model, select=task.prunable)}
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for name, module in model.named_modules():
        if id(module) in prunable:
            layers[name] = pack_weight(prunable[id(module)].weight, bits)
            # the weights live in weights.pt only
            prunable[id(module)].weight = nn.Parameter(torch.empty(0))
    torch.save(model, folder / "model.pt")
    torch.save({"format": _FORMAT, "bits": bits, "layers": layers}, folder / "weights.pt")
    metrics = {k: v for k, v in result.to_dict().items() if k not in ("curve", "strategy")}
    metrics["task"] = task.name
    metrics["task_options"] = dict(task.options)
    (folder / "strategy.json").write_text(json.dumps(result.strategy.to_dict(), indent=2) + "\n")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    (folder / "MODEL_CARD.md").write_text(_model_card(result, task))
    return folder


def load_exported(directory: str | Path) -> ExportedModel:
    """Load what :func:`export_model` wrote (the model in eval mode on the CPU)."""
    folder = Path(directory)
    for name in ("model.pt", "weights.pt", "strategy.json", "metrics.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{name!r} not found in {str(folder)!r}: not an export.")
    model: nn.Module = torch.load(folder / "model.pt", map_location="cpu", weights_only=False)
    packed = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    if packed.get("format") != _FORMAT:
        raise ValueError(f"Unknown weights format {packed.get('format')!r} in {str(folder)!r}.")
    modules = dict(model.named_modules())
    for name, entry in packed["layers"].items():
        modules[name].weight = nn.Parameter(unpack_weight(entry))
    metrics = json.loads((folder / "metrics.json").read_text())
    strategy = Strategy.from_dict(json.loads((folder / "strategy.json").read_text()))
    return ExportedModel(
        model=model.eval(),
        strategy=strategy,
        metrics=metrics,
        task_name=str(metrics.get("task", "")),
        task_options=dict(metrics.get("task_options", {})),
    )


def _model_card(result: TrainResult, task: Task) -> str:
    strategy = result.strategy.to_dict()
    lines = [
        f"# Model card: {task.name}",
        "",
        f"{task.description}",
        "",
        f"Status: {result.status.value} after {result.epochs} epochs. {result.reason}".rstrip(),
        "",
        "## Strategy",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in strategy.items() if v is not None),
        "",
        "## Measurements",
        "",
        "| metric | value |",
        "|---|---|",
        f"| validation accuracy | {result.val_accuracy:.4f} |",
        f"| test accuracy | {result.test_accuracy:.4f} |",
        f"| params | {result.params} |",
        f"| nonzero params | {result.nonzero_params} |",
        f"| sparsity | {result.sparsity:.4f} |",
        f"| size (bits) | {result.size_bits:.0f} |",
        f"| BitOps | {result.bitops:.4g} |",
        f"| latency (ms, batch 1) | {result.latency_ms:.4f} |",
        f"| training seconds | {result.train_seconds:.2f} |",
        "",
        "size_bits = nonzero prunable weights x bits + other parameters x 32. Prunable weights "
        "are those of the linear and convolution layers; weights.pt stores only the nonzero "
        "ones (a bit mask marks where), as integer codes with one scale per output channel "
        "when bits < 32.",
        "",
    ]
    return "\n".join(lines)
