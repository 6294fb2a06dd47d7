"""``MODEL_CARD.md``: an export's figures, preprocessing and the lines that run it.

The card is drawn from the ``metrics.json`` document alone, so both always say the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["model_card"]


def _number(value: Any, digits: int = 4) -> str:
    if not isinstance(value, int | float) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        return "not measured"
    return f"{value:.{digits}f}"


def _size(bits: float) -> str:
    """``41,324 bits (5.17 kB)``: exact enough to tell two front rows apart."""
    return f"{bits:,.0f} bits ({bits / 8000:.2f} kB)"


def _ms(value: float) -> str:
    return f"{value:.3g} ms" if value >= 0.01 else f"{value * 1000:.3g} us"


def _latency(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return "not measured"
    return (
        f"median {_ms(entry['median_ms'])} (interquartile range {_ms(entry['spread_ms'])}, "
        f"{entry['repeats']} runs)"
    )


def _shape(shape: Sequence[int] | None) -> str:
    return "(batch, " + ", ".join(str(n) for n in shape) + ")" if shape else "(batch, ...)"


def task_code(
    name: str, reference: object, options: Mapping[str, Any], data_dir: object = None
) -> str:
    """The Python expression that builds a user task again, for an export's card and messages.

    ``get_task(reference, options=...)`` when the task was built by ``get_task`` from a module
    (not from the running script or notebook, whose ``__main__`` is another program's).

    Examples:
        >>> task_code("mine", "mytasks:make_task", {"hidden": 24})
        "get_task('mytasks:make_task', options={'hidden': 24})"
        >>> task_code("mine", "mytasks:make_task", {}, "/data/mine")
        "get_task('mytasks:make_task', options={}, data_dir='/data/mine')"
        >>> task_code("mine", "__main__:make_task", {})
        "make_task()  # your own code, which builds task 'mine'"
        >>> task_code("mine", "__main__:make_task", {"hidden": 16}, "/data/mine")
        "make_task(hidden=16, data_dir='/data/mine')  # your own code, which builds task 'mine'"
    """
    where = f", data_dir={data_dir!r}" if isinstance(data_dir, str) else ""
    if isinstance(reference, str) and not reference.startswith("__main__:"):
        return f"get_task({reference!r}, options={dict(options)!r}{where})"
    factory = reference.partition(":")[2] if isinstance(reference, str) else "make_task"
    arguments = [f"{key}={value!r}" for key, value in options.items()]
    if isinstance(data_dir, str):
        arguments.append(f"data_dir={data_dir!r}")
    return f"{factory}({', '.join(arguments)})  # your own code, which builds task {name!r}"


def _code_torch(document: Mapping[str, Any], folder: str, shape: Sequence[int]) -> list[str]:
    task, options = document["task"], document["task_options"]
    builtin = document.get("builtin_task", True)
    lines = ["```python", "import torch"]
    if builtin:
        lines += ["from paretune.trainers import load_exported", ""]
        lines.append(f"model = load_exported({folder!r}).model")
    else:
        build = task_code(
            task, document.get("task_reference"), options, document.get("task_data_dir")
        )
        imports = "get_task, load_exported" if build.startswith("get_task(") else "load_exported"
        lines += [f"from paretune.trainers import {imports}", ""]
        lines.append(f"task = {build}")
        lines.append(f"model = load_exported({folder!r}, task=task).model")
    raw, call = _example_code(document.get("inputs"), shape)
    lines += [
        f"raw = {raw}  # a batch of raw inputs (see Inputs)",
        f"print({call}.argmax(dim=1))" if document.get("classifier") else f"print({call})",
        "```",
    ]
    return lines


def _zeros(shape: Sequence[int], dtype: str = "float32") -> str:
    sizes = ", ".join(str(n) for n in (1, *shape))
    return (
        f"torch.zeros({sizes})"
        if dtype == "float32"
        else f"torch.zeros({sizes}, dtype=torch.{dtype})"
    )


def _one_dtype(inputs: object) -> str:
    """The dtype of a model's one input tensor (``int64`` for token ids; float32 else).

    Examples:
        >>> _one_dtype({"call": "tensor", "tensors": [{"name": None, "shape": [6],
        ...     "dtype": "int64"}]}), _one_dtype(None)
        ('int64', 'float32')
    """
    if isinstance(inputs, Mapping) and inputs.get("call") == "tensor" and inputs.get("tensors"):
        return str(inputs["tensors"][0].get("dtype") or "float32")
    return "float32"


def _example_code(inputs: object, shape: Sequence[int]) -> tuple[str, str]:
    """A batch of one zero input (as the model takes it) and the call, as code.

    Examples:
        >>> _example_code({"call": "tuple", "tensors": [{"name": None, "shape": [6],
        ...     "dtype": "float32"}, {"name": None, "shape": [2], "dtype": "int64"}]}, [])
        ('(torch.zeros(1, 6), torch.zeros(1, 2, dtype=torch.int64))', 'model(*raw)')
    """
    if not isinstance(inputs, Mapping) or inputs.get("call") not in ("tuple", "dict"):
        return _zeros(shape, _one_dtype(inputs)), "model(raw)"
    tensors = inputs["tensors"]
    if inputs["call"] == "dict":
        items = ", ".join(f"{t['name']!r}: {_zeros(t['shape'], t['dtype'])}" for t in tensors)
        return "{" + items + "}", "model(**raw)"
    items = ", ".join(_zeros(t["shape"], t["dtype"]) for t in tensors)
    return f"({items}{',' if len(tensors) == 1 else ''})", "model(*raw)"


def _inputs_line(document: Mapping[str, Any], shape: Sequence[int]) -> str:
    """The card's line on the model's input(s)."""
    inputs = document.get("inputs")
    if not isinstance(inputs, Mapping) or inputs.get("call") not in ("tuple", "dict"):
        return f"Input `input`: {_one_dtype(inputs)}, shape {_shape(shape)}."
    described = "; ".join(
        f"{'`' + t['name'] + '`: ' if t['name'] else ''}{t['dtype']}, shape {_shape(t['shape'])}"
        for t in inputs["tensors"]
    )
    how = "model(**inputs)" if inputs["call"] == "dict" else "model(*inputs)"
    return f"Inputs: {len(inputs['tensors'])} tensors, called as `{how}`: {described}."


def _code_onnx(document: Mapping[str, Any], folder: str, shape: Sequence[int]) -> list[str]:
    onnx = document["onnx"]
    sizes = ", ".join(str(n) for n in (1, *shape))
    out = f"session.run(None, {{{onnx['input']!r}: raw}})[0]"
    return [
        "```python",
        "import numpy as np",
        "import onnxruntime as ort",
        "",
        f"session = ort.InferenceSession({str(Path(folder) / onnx['file'])!r})",
        f"raw = np.zeros(({sizes}{',' if len(shape) == 0 else ''}), "
        f"dtype=np.{_one_dtype(document.get('inputs'))})"
        "  # a batch of raw inputs (see Inputs)",
        f"print({out}.argmax(axis=1))" if document.get("classifier") else f"print({out})",
        "```",
    ]


def _figures(document: Mapping[str, Any]) -> list[str]:
    study, trial = document.get("study"), document.get("trial")
    validation = document.get("validation") or {}
    rows = []
    for key, value in validation.items():
        name = "validation accuracy" if key == "val_accuracy" else f"validation {key[4:]}"
        rows.append((name, f"{_number(value)} ({document['validation_source']})"))
    if not validation:
        rows.append(("validation accuracy", document["validation_source"]))
    tests = document.get("test_metrics") or {}
    for key, value in tests.items():
        name = "test accuracy" if key == "test_accuracy" else f"test {key[5:]}"
        rows.append((name, f"{_number(value)} (this exported model, measured once)"))
    data = "train + validation splits" if document.get("fit_on_validation") else "train split"
    threads = document["threads"]
    rows += [
        ("epochs", str(document["epochs"])),
        (
            "training time",
            f"{document['train_seconds']:.2f} s on {document['device']} with {threads} torch "
            f"thread{'s' if threads != 1 else ''} ({data})",
        ),
        ("size", _size(document["size_bits"])),
        ("sparsity", f"{document['sparsity']:.1%} of the linear / convolution weights are zero"),
        ("params", f"{document['params']:,} ({document['nonzero_params']:,} nonzero)"),
        ("BitOps", f"{document['bitops']:.4g} per sample"),
        (f"latency, training device ({document['device']})", _ms(document["latency_ms"])),
        ("latency, CPU, torch, 1 thread", _latency(document.get("latency_cpu_torch"))),
        (
            "latency, CPU, ONNX Runtime, 1 thread",
            _latency(document.get("latency_cpu_onnxruntime")),
        ),
    ]
    title = "| figure | value |"
    if study is not None:
        title = f"| figure (study {study!r}, trial {trial}) | value |"
    return [title, "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def _onnx(document: Mapping[str, Any]) -> list[str]:
    onnx = document["onnx"]
    if "skipped" in onnx:
        return [f"ONNX skipped: {onnx['skipped']}."]
    agreement = onnx.get("agreement")
    same = f", the same class on {agreement:.1%} of them" if agreement is not None else ""
    return [
        f"`{onnx['file']}` ({onnx['bytes']:,} bytes; {onnx['float_bytes']:,} with float32 "
        f"weights), opset {onnx['opset']}, made by torch's {onnx['exporter']} exporter. "
        f"{onnx['int8_layers']} layer(s) store their weights as int8 codes read through "
        f"`DequantizeLinear` (one scale per output channel; pruned weights are zeros), "
        f"{onnx['float_layers']} as float32. Its outputs differ from torch's by at most "
        f"{onnx['max_abs_diff']:.2g} on {document['checked_inputs']} test inputs{same}."
    ]


def _note(document: Mapping[str, Any]) -> str:
    timing = "Latencies are batch-1 forward passes after warm-up; on a busy machine they are noisy."
    if document.get("study") is not None and document.get("fit_on_validation"):
        return (
            "The validation figures are the study's, measured when the trial trained on the "
            "training split alone; this model was retrained on train + validation, so its own "
            f"validation figures would mean nothing. {timing}"
        )
    return timing


def model_card(document: Mapping[str, Any], *, directory: str) -> str:
    """The markdown of ``MODEL_CARD.md`` for the ``metrics.json`` ``document``.

    Args:
        document: What ``metrics.json`` holds.
        directory: The export's folder as the user named it (in the code lines).
    """
    study, trial = document.get("study"), document.get("trial")
    title = f"# Model card: {document['task']}"
    if study is not None:
        title += f" (study {study!r}, trial {trial})"
    shape = document.get("input_shape") or []
    preprocessing = document.get("preprocessing")
    if preprocessing:
        values = ", ".join(f"{v:.6g}" for v in preprocessing["mean"])
        spreads = ", ".join(f"{v:.6g}" for v in preprocessing["std"])
        along = " per feature / channel (dimension 1)" if len(preprocessing["mean"]) > 1 else ""
        prep = [
            f"Raw inputs: {preprocessing['description']}.",
            "",
            f"The model normalizes them itself, first thing: `(x - mean) / std` with mean "
            f"`{values}` and std `{spreads}`{along}. Feed raw inputs; do not normalize them "
            "again.",
        ]
    else:
        prep = ["The model takes its inputs as the task's data gives them (no preprocessing)."]
    output = (
        "class scores (logits); the predicted class is the argmax"
        if document.get("classifier")
        else "the model's prediction"
    )
    strategy = document["strategy"]
    lines = [
        title,
        "",
        document.get("description") or "",
        "",
        f"Exported {document['exported_at']} by paretune {document['versions']['paretune']} "
        f"(torch {document['versions']['torch']}). Every figure below is in `metrics.json`.",
        "",
        "## Inputs and outputs",
        "",
        _inputs_line(document, shape),
        "",
        *prep,
        "",
        f"Output `output`: {output}.",
        "",
        "## Run it",
        "",
        "With torch (paretune installed; no pickled code is loaded):",
        "",
        *_code_torch(document, directory, shape),
        "",
    ]
    if "skipped" not in document["onnx"]:
        lines += [
            "With ONNX Runtime (numpy only):",
            "",
            *_code_onnx(document, directory, shape),
            "",
        ]
    lines += [
        "## Figures",
        "",
        *_figures(document),
        "",
        _note(document),
        "",
        "## ONNX",
        "",
        *_onnx(document),
        "",
        "## Strategy",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in strategy.items() if v is not None),
        "",
        "## Files",
        "",
        "- `weights.pt`: tensors only (read with `torch.load(weights_only=True)`): the nonzero "
        "linear / convolution weights as integer codes with one scale per output channel "
        "(when bits < 32) and a bit mask of where they are, and every other parameter;",
        "- `export.json`: the task and strategy the architecture is rebuilt from, and the "
        "preprocessing;",
        *(
            ["- `model.onnx`: the same model for ONNX Runtime (raw inputs);"]
            if "skipped" not in document["onnx"]
            else []
        ),
        "- `strategy.json`, `metrics.json`, this card.",
        "",
        "size_bits = nonzero linear / convolution weights x bits + other parameters x 32.",
        "",
    ]
    return "\n".join(lines)
