"""Save a trained model for deployment, with its strategy, measurements and card; load it back.

A directory written by :func:`export_model` holds no pickled code:

* ``weights.pt``: tensors only (``torch.save`` of dicts of tensors, numbers and strings, read
  with ``weights_only=True``): the prunable weights in sparse, quantized form and every other
  parameter and buffer. For each prunable layer: its shape, a bit mask of the nonzero weights
  (``numpy.packbits`` order) and only the nonzero entries: integer codes (int8 up to 8 bits,
  int16 for 16) with one float scale per output channel when ``bits < 32``, float32 values
  otherwise. A weight is ``code * scale[channel]``, so a channel really takes at most
  ``2**bits`` values and pruned weights are not stored at all;
* ``export.json``: the task (name and options) and the strategy the architecture is rebuilt
  from, the input preprocessing, the format version;
* ``model.onnx``: the same model for ONNX Runtime (see :mod:`paretune.trainers._onnx`), raw
  inputs in, weights of 8 bits or fewer as int8;
* ``strategy.json``, ``metrics.json`` (every figure of the card), ``MODEL_CARD.md``.

The exported model takes raw inputs: when the task normalizes its data
(:meth:`Task.input_preprocessing`), a :class:`Normalize` layer runs first.
"""

from __future__ import annotations

import copy
import datetime
import io
import json
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._cost import measure_latency, prunable_layers
from ._data import eval_batches, task_example
from ._device import torch_threads
from ._evaluate import predict
from ._export_dir import ExportFolder, check_export_dir
from ._inputs import Example
from ._metrics import compute_metrics
from ._model_card import model_card, task_code
from ._onnx import OnnxResult, export_onnx
from ._preprocessing import Normalize, Preprocessing
from ._quant import prepare_quantization
from ._result import TrainResult
from ._strategy import Strategy
from ._task import Task, task_metrics
from ._task_params import build_task_model

__all__ = [
    "EXPORT_FILES",
    "ExportedModel",
    "Provenance",
    "export_model",
    "load_exported",
    "pack_weight",
    "unpack_weight",
]

_FORMAT = "paretune-export-v2"
_WEIGHTS_FORMAT = "paretune-weights-v2"
#: The files an export writes (``model.onnx`` only with the ``export`` extra).
EXPORT_FILES = (
    "export.json",
    "weights.pt",
    "strategy.json",
    "model.onnx",
    "metrics.json",
    "MODEL_CARD.md",
)
#: Files of earlier exports that a forced export removes (``model.pt`` was a pickled module).
_STALE = ("model.pt",)
#: Test inputs the ONNX graph is checked on.
_CHECK_SAMPLES = 512


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where an exported model comes from: what its card says beside the measurements.

    Attributes:
        study: The study it was chosen in.
        trial: The trial whose strategy it retrained.
        validation: The study's validation figures of that trial (``{"val_accuracy": …}``):
            the card's validation accuracy. Empty: this run's own, unless it trained on the
            validation split.
        fit_on_validation: The run trained on train + validation.
        threads: CPU threads torch trained with (None: torch's current setting).
        data_dir: Where the task's data files are (recorded, to rebuild a task that needs
            them).
    """

    study: str | None = None
    trial: int | None = None
    validation: Mapping[str, float] = field(default_factory=dict)
    fit_on_validation: bool = False
    threads: int | None = None
    data_dir: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExportedModel:
    """What :func:`load_exported` returns.

    Attributes:
        model: The exported model in eval mode on the CPU; it takes RAW inputs (the
            preprocessing layer runs first), like ``model.onnx``.
        network: The trained network alone, which takes the task's preprocessed inputs (what
            ``evaluate(network, task)`` feeds it).
        preprocessing: What turns raw inputs into the network's inputs (None: nothing).
        strategy: The strategy it was trained with.
        metrics: ``metrics.json`` (every figure of the model card).
        task_name: Name of the task it was trained on.
        task_options: Options of that task.
    """

    model: nn.Module
    network: nn.Module
    preprocessing: Preprocessing | None
    strategy: Strategy
    metrics: dict[str, Any]
    task_name: str
    task_options: dict[str, Any]


class _RawInputs(nn.Module):
    """``network(preprocess(x))``: the exported model, taking raw inputs."""

    def __init__(self, preprocess: Normalize, network: nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.network(self.preprocess(x))
        return out


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


def unpack_weight(packed: Mapping[str, torch.Tensor]) -> torch.Tensor:
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


def _json(value: Any) -> bytes:
    def plain(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None  # NaN is not JSON
        if isinstance(item, Mapping):
            return {str(k): plain(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [plain(v) for v in item]
        return item

    return (json.dumps(plain(value), indent=2, default=str) + "\n").encode()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def export_model(
    directory: str | Path,
    *,
    result: TrainResult,
    task: Task,
    provenance: Provenance | None = None,
    force: bool = False,
    onnx: bool = True,
) -> Path:
    """Write ``result``'s model for deployment to ``directory`` (see the module docstring).

    The model is read back from the written files, its test figures are measured once, its
    ONNX file is checked against it in ONNX Runtime, and its CPU latency (torch and ONNX
    Runtime, batch 1, one thread) is timed; ``metrics.json`` and ``MODEL_CARD.md`` hold them.

    Args:
        directory: The folder (created when missing).
        result: A result of ``train(..., keep_model=True)``.
        task: The task it was trained on.
        provenance: Study, trial and the study's validation figures for the card.
        force: Write into a folder that already holds files.
        onnx: Write ``model.onnx`` (needs the ``export`` extra; skipped with a reason when
            it is missing).

    Returns:
        The folder.

    Raises:
        ValueError: The result holds no model, or the folder or a file name in it is a
            symbolic link.
        FileExistsError: The folder holds files and ``force`` is false.

    Examples:
        >>> import tempfile
        >>> from paretune.trainers import Strategy, evaluate, get_task, train
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> result = train(task, Strategy(epochs=1, bits=4), device="cpu", keep_model=True)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     exported = load_exported(export_model(folder, result=result, task=task,
        ...                                           onnx=False))
        >>> evaluate(exported.network, task) == result.test_accuracy
        True
    """
    if result.model is None:
        raise ValueError("The result holds no model: train with keep_model=True to export it.")
    origin = provenance or Provenance()
    folder = check_export_dir(directory, names=(*EXPORT_FILES, *_STALE), force=force)
    trained = result.model
    device = str(next((p.device for p in trained.parameters()), torch.device("cpu")))
    network = copy.deepcopy(trained).to("cpu").eval()
    strategy = result.strategy
    names = {id(layer): name for name, layer in network.named_modules()}
    layers = {
        names[id(layer)]: pack_weight(layer.weight, strategy.bits)
        for layer in prunable_layers(network, select=task.prunable)
    }
    weights = {f"{name}.weight" for name in layers}
    state = {k: v.detach().cpu() for k, v in network.state_dict().items() if k not in weights}
    preprocessing = task.input_preprocessing()
    manifest = {
        "format": _FORMAT,
        "task": {
            "name": task.name,
            "reference": task.reference,
            "options": dict(task.options),
            "data_dir": origin.data_dir,
        },
        "strategy": strategy.to_dict(),
        "preprocessing": preprocessing.to_dict() if preprocessing else None,
        "input_shape": list(task.input_shape),
        "num_classes": task.num_classes,
        "regression": task.regression,
    }
    buffer = io.BytesIO()
    torch.save(
        {"format": _WEIGHTS_FORMAT, "bits": strategy.bits, "layers": layers, "state": state}, buffer
    )
    with ExportFolder(folder) as out:
        for stale in _STALE:
            out.remove(stale)
        out.write("export.json", _json(manifest))
        out.write("weights.pt", buffer.getvalue())
        out.write("strategy.json", _json(strategy.to_dict()))
        loaded = load_exported(folder, task=task)  # everything below measures what was written
        raw = _raw_inputs(task, loaded.preprocessing)
        with torch_threads(1):
            tests = _test_metrics(loaded.network, task)
            cpu = measure_latency(loaded.model, example=raw, warmup=20)
            made = (
                export_onnx(
                    loaded.model,
                    inputs=raw,
                    layers=layers,
                    prefix="network." if preprocessing else "",
                    classify=not task.regression,
                )
                if onnx
                else OnnxResult(skipped="not asked for (onnx=False)")
            )
        if made.data is not None:
            out.write("model.onnx", made.data)
        else:
            out.remove("model.onnx")
        document = _document(result, task, origin, tests, cpu, made, preprocessing, raw=raw)
        document["device"] = device
        out.write("metrics.json", _json(document))
        out.write("MODEL_CARD.md", model_card(document, directory=str(folder)).encode())
    return folder


def _inputs_record(raw: object) -> dict[str, Any] | None:
    """How the model is called and each input tensor's per-sample shape and dtype (for the
    card's code); None for inputs of another kind.

    Examples:
        >>> _inputs_record((torch.zeros(4, 6), torch.zeros(4, 2, dtype=torch.long)))
        {'call': 'tuple', 'tensors': [{'name': None, 'shape': [6], 'dtype': 'float32'}, \
{'name': None, 'shape': [2], 'dtype': 'int64'}]}
    """

    def tensor(name: str | None, value: object) -> dict[str, Any] | None:
        if not isinstance(value, torch.Tensor):
            return None
        dtype = str(value.dtype).removeprefix("torch.")
        return {"name": name, "shape": list(value.shape[1:]), "dtype": dtype}

    if isinstance(raw, torch.Tensor):
        call, items = "tensor", [tensor(None, raw)]
    elif isinstance(raw, Mapping):
        call, items = "dict", [tensor(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, tuple | list):
        call, items = "tuple", [tensor(None, v) for v in raw]
    else:
        return None
    if any(item is None for item in items):
        return None
    return {"call": call, "tensors": items}


def _raw_inputs(task: Task, preprocessing: Preprocessing | None) -> Example:
    """Raw inputs to check and time the export on: test inputs, back through the inverse of
    the preprocessing (a dataset task: its first validation inputs)."""
    example = task_example(task) if task.streams else task.data().x_test[:_CHECK_SAMPLES]
    if preprocessing is not None and isinstance(example, torch.Tensor):
        return preprocessing.invert(example)
    return example


def _test_metrics(network: nn.Module, task: Task) -> dict[str, float]:
    """The task's metrics (and accuracy, for a classifier) of ``network`` on the test split."""
    if task.streams:
        split: Any = eval_batches(task, "test", device=torch.device("cpu"))
    else:
        data = task.data()
        split = (data.x_test, data.y_test)
    outputs, targets = predict(network, split)
    metrics = compute_metrics(task_metrics(task), outputs, targets, prefix="test_")
    if not task.regression:
        metrics["test_accuracy"] = int((outputs.argmax(dim=1) == targets).sum()) / len(targets)
    return metrics


def _latency(latency: Any) -> dict[str, Any] | None:
    if latency is None:
        return None
    return {
        "median_ms": latency.median_ms,
        "spread_ms": latency.spread_ms,
        "repeats": latency.repeats,
        "threads": 1,
        "batch": 1,
    }


def _document(
    result: TrainResult,
    task: Task,
    origin: Provenance,
    tests: Mapping[str, float],
    cpu: Any,
    made: OnnxResult,
    preprocessing: Preprocessing | None,
    *,
    raw: object,
) -> dict[str, Any]:
    """``metrics.json``: every figure of the model card."""
    from ._tasks import list_tasks

    if origin.validation:
        validation = {k: float(v) for k, v in origin.validation.items()}
        source = f"study {origin.study!r}, trial {origin.trial}, trained on the training split"
    elif origin.fit_on_validation:
        validation, source = {}, "not measured: this run trained on the validation split"
    else:
        validation = {k: v for k, v in result.metrics.items() if k.startswith("val_")}
        if not task.regression:
            validation["val_accuracy"] = result.val_accuracy
        source = "this training run"
    return {
        "format": _FORMAT,
        "task": task.name,
        "task_reference": task.reference,
        "task_data_dir": origin.data_dir,
        "task_options": dict(task.options),
        "study": origin.study,
        "trial": origin.trial,
        "strategy": result.strategy.to_dict(),
        "validation": validation,
        "validation_source": source,
        "val_accuracy": validation.get("val_accuracy"),
        "test_accuracy": tests.get("test_accuracy"),
        "test_metrics": dict(tests),
        "status": result.status.value,
        "epochs": result.epochs,
        "fit_on_validation": origin.fit_on_validation,
        "train_seconds": result.train_seconds,
        "threads": origin.threads if origin.threads is not None else torch.get_num_threads(),
        "params": result.params,
        "nonzero_params": result.nonzero_params,
        "sparsity": result.sparsity,
        "size_bits": result.size_bits,
        "bitops": result.bitops,
        "latency_ms": result.latency_ms,
        "latency_cpu_torch": _latency(cpu),
        "latency_cpu_onnxruntime": _latency(made.latency),
        "onnx": made.to_dict(),
        "preprocessing": preprocessing.to_dict() if preprocessing else None,
        "input_shape": list(raw.shape[1:]) if isinstance(raw, torch.Tensor) else None,
        "inputs": _inputs_record(raw),
        "checked_inputs": len(raw) if isinstance(raw, torch.Tensor) else 0,
        "classifier": not task.regression,
        "description": task.description,
        "builtin_task": task.name in list_tasks(),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {name: _version(name) for name in ("paretune", "torch", "onnxruntime")},
    }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read as JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object.")
    return data


def _resolve_task(manifest: Mapping[str, Any], task: Task | None, data_dir: str | None) -> Task:
    """The task to rebuild the architecture from: the caller's, or a built-in by name."""
    from ._tasks import get_task, list_tasks  # the registry imports the datasets

    recorded = manifest.get("task") or {}
    name = str(recorded.get("name", ""))
    options = dict(recorded.get("options") or {})
    if task is not None:
        if not isinstance(task, Task):
            raise TypeError(
                f"The 'task' parameter of load_exported must be a Task. Got {task!r} instead."
            )
        if task.name != name:
            raise ValueError(f"This export is of task {name!r}; the task given is {task.name!r}.")
        return task
    if name not in list_tasks():
        build = task_code(
            name, recorded.get("reference"), options, data_dir or recorded.get("data_dir")
        ).partition("  #")[0]
        raise ValueError(
            f"This export is of task {name!r}, which is not a built-in task: load_exported "
            f"never imports code on its own. Build the task yourself and pass it: "
            f"load_exported(DIR, task={build})."
        )
    return get_task(name, options=options, data_dir=data_dir or recorded.get("data_dir"))


def load_exported(
    directory: str | Path, *, task: Task | None = None, data_dir: str | None = None
) -> ExportedModel:
    """Load what :func:`export_model` wrote, never unpickling code.

    The architecture is rebuilt from the task and the strategy (``export.json``), then the
    tensors of ``weights.pt`` (read with ``torch.load(weights_only=True)``) are loaded into it.

    Args:
        directory: The export's folder.
        task: The task it was trained on. Needed for a task that is not built in (a user
            task ``package.module:factory`` is never imported by this function); a built-in
            task is rebuilt by name.
        data_dir: Where a built-in task's data files are (MNIST, CIFAR-10), when not where
            the export recorded.

    Raises:
        FileNotFoundError: A file of the export is missing.
        ValueError: A file is not of this format (a pickled ``model.pt`` of an older export,
            or a ``weights.pt`` holding anything but tensors is refused, not run), the task is
            not built in and none was given, or the weights do not fit the task's model.
    """
    folder = Path(directory)
    if not (folder / "export.json").is_file():
        if (folder / "model.pt").exists():
            raise ValueError(
                f"{folder} is an export of an older paretune: its model.pt is a pickled "
                "module, which is never loaded (unpickling can run code). Export the "
                "strategy again."
            )
        raise FileNotFoundError(f"'export.json' not found in {str(folder)!r}: not an export.")
    for name in ("weights.pt", "strategy.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{name!r} not found in {str(folder)!r}: not an export.")
    manifest = _read_json(folder / "export.json")
    if manifest.get("format") != _FORMAT:
        raise ValueError(f"Unknown export format {manifest.get('format')!r} in {str(folder)!r}.")
    resolved = _resolve_task(manifest, task, data_dir)
    strategy = Strategy.from_dict(_read_json(folder / "strategy.json"))
    try:
        packed = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{folder / 'weights.pt'} is refused: it holds more than tensors, or is damaged "
            f"({first})"
        ) from None
    if not isinstance(packed, dict) or packed.get("format") != _WEIGHTS_FORMAT:
        raise ValueError(f"{folder / 'weights.pt'} is not a paretune weights file.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(strategy.seed)
        network = build_task_model(resolved, strategy)
    prepare_quantization(network, bits=32, act_bits=strategy.act_bits, select=resolved.prunable)
    state = dict(packed["state"])
    for name, entry in packed["layers"].items():
        state[f"{name}.weight"] = unpack_weight(entry)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"The weights in {str(folder)!r} do not fit task {resolved.name!r}'s model: "
            f"{str(error).splitlines()[0]}"
        ) from None
    network.eval()
    recorded = manifest.get("preprocessing")
    preprocessing = Preprocessing.from_dict(recorded) if recorded else None
    model = network if preprocessing is None else _RawInputs(preprocessing.module(), network)
    metrics_path = folder / "metrics.json"
    metrics = _read_json(metrics_path) if metrics_path.is_file() else {}
    recorded_task = manifest.get("task") or {}
    return ExportedModel(
        model=model.eval(),
        network=network,
        preprocessing=preprocessing,
        strategy=strategy,
        metrics=metrics,
        task_name=str(recorded_task.get("name", "")),
        task_options=dict(recorded_task.get("options") or {}),
    )
