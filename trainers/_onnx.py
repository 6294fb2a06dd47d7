"""The ONNX file of an export: torch's exporter, integer weights (QDQ), checked and timed in
ONNX Runtime on the CPU.

``onnx`` and ``onnxruntime`` come with the optional extra ``export``
(``pip install 'paretune[export]'``) and are imported only here, when an export is written;
without them the export skips the ONNX file and says why.

* The graph is the exported model itself (raw inputs, its preprocessing layer first), traced
  by ``torch.onnx.export(dynamo=True)``; the TorchScript exporter (``dynamo=False``) is only
  tried when that fails. The batch dimension is dynamic; the input is called ``input``, the
  output ``output``.
* Weights of 8 bits or fewer are stored as int8 initializers, each read through a
  ``DequantizeLinear`` node with one scale per output channel (axis 0): the integer codes of
  ``weights.pt``, so pruned weights are zeros and a channel holds at most ``2**bits`` values.
* Outputs are compared with torch's on real inputs, and the latency is the median of timed
  batch-1 runs in ONNX Runtime (CPU, one thread), with its interquartile range.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import re
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._cost import Latency
from ._layers import QuantizedLayer

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "OnnxResult", "export_onnx", "time_calls"]

INPUT_NAME = "input"
OUTPUT_NAME = "output"
#: Loggers the exporters talk through (silenced while exporting).
_CHATTY = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "onnxscript")


@dataclass(frozen=True, kw_only=True)
class OnnxResult:
    """What :func:`export_onnx` made, or why it made nothing.

    Attributes:
        data: The ``model.onnx`` bytes (None when skipped).
        skipped: Why there is no ONNX file (empty when there is one).
        exporter: ``"dynamo"`` or ``"torchscript"``.
        opset: The ONNX opset of the graph.
        int8_layers: Layers whose weights are stored as int8 codes (QDQ).
        float_layers: Prunable layers whose weights stay float32 (more than 8 bits, or a
            weight the exporter transformed).
        float_bytes: Size of the same graph with float32 weights.
        max_abs_diff: Largest absolute difference between ONNX Runtime's and torch's outputs
            on the check inputs.
        agreement: Fraction of check inputs whose argmax is the same (classifiers; NaN else).
        latency: ONNX Runtime's batch-1 latency on the CPU, one thread.
    """

    data: bytes | None = None
    skipped: str = ""
    exporter: str = ""
    opset: int = 0
    int8_layers: int = 0
    float_layers: int = 0
    float_bytes: int = 0
    max_abs_diff: float = math.nan
    agreement: float = math.nan
    latency: Latency | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``onnx`` entry of ``metrics.json``."""
        if self.data is None:
            return {"skipped": self.skipped}
        return {
            "file": "model.onnx",
            "exporter": self.exporter,
            "opset": self.opset,
            "input": INPUT_NAME,
            "output": OUTPUT_NAME,
            "bytes": len(self.data),
            "float_bytes": self.float_bytes,
            "int8_layers": self.int8_layers,
            "float_layers": self.float_layers,
            "max_abs_diff": self.max_abs_diff,
            "agreement": None if math.isnan(self.agreement) else self.agreement,
        }


def time_calls(
    call: Callable[[], object],
    *,
    warmup: int = 20,
    min_repeats: int = 21,
    max_repeats: int = 1000,
    max_seconds: float = 0.5,
    precision: float = 0.02,
) -> Latency:
    """Time ``call`` until the median is known to ``precision`` (as ``measure_latency``).

    After ``warmup`` untimed calls, calls are timed one by one; from ``min_repeats`` on, every
    10 more, the timing stops when the median's relative standard error (``0.93 x IQR /
    sqrt(n) / median``) is at most ``precision``, or at ``max_repeats`` calls or
    ``max_seconds`` of timed calls.

    Examples:
        >>> latency = time_calls(lambda: sum(range(100)))
        >>> latency.median_ms > 0, latency.repeats >= 21
        (True, True)
    """
    for _ in range(warmup):
        call()
    times: list[float] = []
    while True:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
        n = len(times)
        if n >= max_repeats:
            break
        if n >= min_repeats and (n - min_repeats) % 10 == 0:
            summary = _summary(times, precision)
            if summary.converged or sum(times) >= max_seconds * 1000.0:
                break
    return _summary(times, precision)


def _summary(times: list[float], precision: float) -> Latency:
    median = statistics.median(times)
    first, _, third = statistics.quantiles(times, n=4, method="inclusive")
    spread = third - first
    error = math.sqrt(math.pi / 2) / 1.349 * spread / math.sqrt(len(times))
    error = error / median if median > 0 else 0.0
    return Latency(median, spread, len(times), error, precision, error <= precision)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No exporter chatter: stdout, stderr, warnings and torch's exporter loggers."""
    loggers = [logging.getLogger(name) for name in _CHATTY]
    levels = [logger.level for logger in loggers]
    sink = io.StringIO()
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with (
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class _ActivationQuantizer:
    """A forward pre-hook quantizing a layer's input per tensor, with exporter-friendly ops
    (the same numbers as the training layers' activation quantization)."""

    def __init__(self, bits: int) -> None:
        self.qmax = float(2 ** (bits - 1) - 1)

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        dims = tuple(range(x.dim()))
        scale = (x.abs().amax(dim=dims) / self.qmax).clamp_min(torch.finfo(x.dtype).tiny)
        return (torch.round(x / scale) * scale, *args[1:])


def _exportable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose activation quantization the exporters can trace."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, QuantizedLayer) and module.act_bits is not None:
            module.register_forward_pre_hook(_ActivationQuantizer(module.act_bits))
            module.act_bits = None
    return model


def _torch_export(model: nn.Module, example: torch.Tensor) -> tuple[Any, str]:
    """The ``onnx.ModelProto`` of ``model`` and the exporter that made it."""
    import onnx

    failures: list[str] = []
    with _quiet():
        try:
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                verbose=False,
            )
            if program is None:  # pragma: no cover - dynamo=True always returns a program
                raise RuntimeError("the exporter returned no program")
            return program.model_proto, "dynamo"
        except Exception as error:  # noqa: BLE001 - any exporter failure: try the other one
            failures.append(f"dynamo: {type(error).__name__}: {str(error).splitlines()[0]}")
        with tempfile.TemporaryDirectory(prefix="paretune-onnx-") as folder:
            path = Path(folder) / "model.onnx"
            try:
                torch.onnx.export(
                    model,
                    (example,),
                    path,
                    dynamo=False,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    opset_version=17,
                )
                return onnx.load(str(path)), "torchscript"
            except Exception as error:  # noqa: BLE001
                failures.append(
                    f"torchscript: {type(error).__name__}: {str(error).splitlines()[0]}"
                )
    raise RuntimeError("; ".join(failures))


def _dense_codes(packed: Mapping[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """The int8 codes (dense, zeros where pruned) and per-channel scales of a packed weight."""
    shape = tuple(int(n) for n in packed["shape"])
    count = int(np.prod(shape)) if shape else 1
    nonzero = np.unpackbits(packed["mask"].numpy(), count=count).astype(bool)
    codes = np.zeros(count, dtype=np.int8)
    codes[nonzero] = packed["codes"].numpy().astype(np.int8)
    scale = packed["scale"].numpy().astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1.0))  # a pruned channel: codes all zero
    return codes.reshape(shape), scale


def _to_qdq(proto: Any, layers: Mapping[str, Mapping[str, torch.Tensor]], prefix: str) -> int:
    """Replace the float weights of ``layers`` (packed with int codes) by int8 initializers
    read through ``DequantizeLinear``; the number of layers replaced."""
    from onnx import helper, numpy_helper

    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    inputs = {value.name: value for value in graph.input}
    replaced = 0
    for layer, packed in layers.items():
        name = f"{prefix}{layer}.weight"
        found = initializers.get(name)
        if found is None or "codes" not in packed or packed["codes"].dtype != torch.int8:
            continue
        codes, scale = _dense_codes(packed)
        if tuple(found.dims) != codes.shape:  # transformed by the exporter: keep it float
            continue
        graph.initializer.remove(found)
        if name in inputs:  # initializers listed as graph inputs (older IR)
            graph.input.remove(inputs[name])
        graph.initializer.extend(
            [
                numpy_helper.from_array(codes, f"{name}_quantized"),
                numpy_helper.from_array(scale, f"{name}_scale"),
                numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{name}_zero_point"),
            ]
        )
        node = helper.make_node(
            "DequantizeLinear",
            [f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"],
            [name],
            name=f"{name}_dequantize",
            axis=0,
        )
        graph.node.insert(0, node)
        replaced += 1
    return replaced


def _session(data: bytes) -> Any:
    """An ONNX Runtime CPU session with one thread (the trials' thread policy)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _missing() -> str:
    """Why ONNX cannot be written here ("" when it can)."""
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        return (
            f"{', '.join(missing)} not installed (pip install 'paretune[export]' adds "
            "onnx, onnxruntime and onnxscript)"
        )
    return ""


@torch.no_grad()
def export_onnx(
    model: nn.Module,
    *,
    inputs: object,
    layers: Mapping[str, Mapping[str, torch.Tensor]],
    prefix: str = "",
    classify: bool = True,
) -> OnnxResult:
    """The ONNX file of ``model`` (see the module docstring), checked and timed.

    Args:
        model: The exported model on the CPU, in eval mode (raw inputs).
        inputs: A batch of raw inputs (at least 2 samples) to trace and check on.
        layers: The packed prunable weights by layer name (``pack_weight``'s output).
        prefix: Where those layers live in ``model`` (``"network."``).
        classify: The outputs are class scores (the argmax agreement is measured).

    Returns:
        The file and its checks, or an :class:`OnnxResult` saying why it was skipped.
    """
    reason = _missing()
    if not reason and isinstance(inputs, Mapping):
        reason = (
            "the model takes keyword inputs, model(**inputs) (ONNX export handles one "
            "positional input tensor)"
        )
    elif not reason and not isinstance(inputs, torch.Tensor):
        reason = "the model takes several inputs (ONNX export handles one input tensor)"
    if reason:
        return OnnxResult(skipped=reason)
    if not isinstance(inputs, torch.Tensor):  # pragma: no cover - checked above
        raise TypeError("inputs must be a tensor")
    inputs = inputs.detach().cpu()
    if inputs.is_floating_point():  # token ids and other integer inputs keep their dtype
        inputs = inputs.float()
    if len(inputs) < 2:
        inputs = torch.cat([inputs, inputs])
    try:
        proto, exporter = _torch_export(_exportable(model), inputs[:2])
    except RuntimeError as error:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # torch colours its messages
        return OnnxResult(skipped=f"torch's ONNX exporters failed ({plain})")
    import onnx

    float_bytes = proto.ByteSize()
    int8 = _to_qdq(proto, layers, prefix)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    session = _session(data)
    expected = model(inputs).float().numpy()
    got = session.run(None, {INPUT_NAME: inputs.numpy()})[0]
    agreement = math.nan
    if classify and expected.ndim == 2 and expected.shape[1] > 1:
        agreement = float(np.mean(expected.argmax(axis=1) == got.argmax(axis=1)))
    one = inputs[:1].numpy()
    latency = time_calls(lambda: session.run(None, {INPUT_NAME: one}))
    return OnnxResult(
        data=data,
        exporter=exporter,
        opset=max(
            (o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0
        ),
        int8_layers=int8,
        float_layers=len(layers) - int8,
        float_bytes=float_bytes,
        max_abs_diff=float(np.max(np.abs(expected - got))) if expected.size else 0.0,
        agreement=agreement,
        latency=latency,
    )
