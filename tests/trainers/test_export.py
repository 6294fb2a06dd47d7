"""Export and reload: raw inputs in (torch and ONNX Runtime), no pickled code, integer weights
on disk, a card whose lines run, and a folder that is never written through a link."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from paretune.trainers import (
    CIFAR10_FILES,
    CIFAR10_PREPROCESSING,
    MNIST_FILES,
    MNIST_PREPROCESSING,
    Preprocessing,
    Provenance,
    Strategy,
    Task,
    TrainResult,
    evaluate,
    export_model,
    get_task,
    load_exported,
    train,
    unpack_weight,
)

#: A digits-quick style strategy: pruned and 4-bit, with 8-bit activations.
DIGITS = Strategy(epochs=2, lr=0.005, prune_rate=0.5, bits=4, act_bits=8)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Task, TrainResult, Path]:
    """One digits-mlp training, exported once with its ONNX file (shared by this module)."""
    task = get_task("digits-mlp")
    result = train(task, DIGITS, device="cpu", keep_model=True)
    folder = tmp_path_factory.mktemp("digits") / "model"
    provenance = Provenance(
        study="digits-test", trial=7, validation={"val_accuracy": 0.9123}, fit_on_validation=True
    )
    export_model(folder, result=result, task=task, provenance=provenance)
    return task, result, folder


def _raw_test_inputs(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits test split as raw pixel values 0-16 (exact integers) and its labels."""
    data = task.data()
    preprocessing = task.input_preprocessing()
    assert preprocessing is not None
    raw = torch.round(preprocessing.invert(data.x_test))
    assert float(raw.min()) >= 0 and float(raw.max()) <= 16
    torch.testing.assert_close(preprocessing.apply(raw), data.x_test, rtol=0, atol=1e-6)
    return raw, data.y_test


@pytest.mark.slow
def test_the_exported_model_takes_raw_inputs_in_torch_and_onnx_runtime(
    digits: tuple[Task, TrainResult, Path],
) -> None:
    task, result, folder = digits
    assert result.model is not None
    raw, labels = _raw_test_inputs(task)
    with torch.no_grad():
        trained = result.model.eval()(task.data().x_test).argmax(dim=1)
        exported = load_exported(folder)
        through_torch = exported.model(raw).argmax(dim=1)
        naive = exported.network(raw).argmax(dim=1)  # raw inputs without the preprocessing
    assert torch.equal(through_torch, trained)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    outputs = session.run(None, {"input": raw.numpy()})[0]
    assert np.array_equal(outputs.argmax(axis=1), trained.numpy())
    with torch.no_grad():
        expected = exported.model(raw).numpy()
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-4)
    accuracy = float((through_torch == labels).float().mean())
    assert accuracy == pytest.approx(exported.metrics["test_accuracy"])
    assert accuracy > float((naive == labels).float().mean())  # the preprocessing matters
    assert exported.metrics["preprocessing"]["mean"] == [task.input_preprocessing().mean[0]]


@pytest.mark.slow
def test_onnx_stores_the_4_bit_weights_as_int8_through_dequantize_linear(
    digits: tuple[Task, TrainResult, Path],
) -> None:
    _, _, folder = digits
    model = onnx.load(str(folder / "model.onnx"))
    codes = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    quantized = [i for i in codes if i.name.endswith("_quantized")]
    assert len(quantized) == 3  # the three Linear layers of the MLP
    floats = [
        i
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT and i.name.endswith(".weight")
    ]
    assert floats == []  # no float copy of a weight left
    dequantize = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dequantize) == 3
    assert all(a.name == "axis" and a.i == 0 for n in dequantize for a in n.attribute)
    packed = torch.load(folder / "weights.pt", weights_only=True)["layers"]
    zeros = total = 0
    for init in quantized:
        values = onnx.numpy_helper.to_array(init)
        assert int(np.abs(values).max()) <= 7  # 4 bits: codes in [-7, 7]
        layer = init.name.removeprefix("network.").removesuffix(".weight_quantized")
        dense = unpack_weight(packed[layer]).numpy()
        assert np.array_equal(values == 0, dense == 0)  # pruned weights stay zeros
        zeros, total = zeros + int((values == 0).sum()), total + values.size
    assert zeros / total >= DIGITS.prune_rate - 0.005
    metrics = json.loads((folder / "metrics.json").read_text())
    size = (folder / "model.onnx").stat().st_size
    assert size == metrics["onnx"]["bytes"] < metrics["onnx"]["float_bytes"] / 2.5
    assert metrics["onnx"]["agreement"] == 1.0 and metrics["onnx"]["max_abs_diff"] < 1e-4
    for key in ("latency_cpu_onnxruntime", "latency_cpu_torch"):
        assert metrics[key]["median_ms"] > 0 and metrics[key]["threads"] == 1


@pytest.mark.slow
def test_the_card_tells_the_studys_figures_and_its_code_runs(
    digits: tuple[Task, TrainResult, Path],
) -> None:
    task, result, folder = digits
    card = (folder / "MODEL_CARD.md").read_text()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert "study 'digits-test', trial 7" in card
    assert metrics["val_accuracy"] == 0.9123 and "| validation accuracy | 0.9123" in card
    network = load_exported(folder).network
    assert metrics["test_accuracy"] == evaluate(network, task) == result.test_accuracy
    assert f"| test accuracy | {metrics['test_accuracy']:.4f} (this exported model" in card
    assert f"| epochs | {DIGITS.epochs} |" in card
    assert "1 torch thread" in card and metrics["threads"] == 1
    assert f"{result.size_bits:,.0f} bits" in card
    assert "ONNX Runtime, 1 thread | median" in card
    assert "pixel values 0-16" in card and "Feed raw inputs" in card
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    assert len(blocks) == 2 and "load_exported" in blocks[0] and "onnxruntime" in blocks[1]
    for block in blocks:
        ran = subprocess.run(
            [sys.executable, "-c", block],
            cwd=folder.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert re.search(r"\[\d\]", ran.stdout), ran.stdout  # the predicted class of a sample


class _Payload:
    """Unpickling it would create ``path`` (the marker of code run from a file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


@pytest.mark.slow
def test_a_crafted_pickle_is_refused_and_never_run(
    digits: tuple[Task, TrainResult, Path], tmp_path: Path
) -> None:
    _, _, folder = digits
    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.mkdir()
    for name in ("export.json", "strategy.json", "metrics.json"):
        (evil / name).write_bytes((folder / name).read_bytes())
    (evil / "weights.pt").write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(ValueError, match="weights.pt is refused"):
        load_exported(evil)
    assert not marker.exists()
    torch.save({"format": "paretune-weights-v2", "evil": _Payload(marker)}, evil / "weights.pt")
    with pytest.raises(ValueError, match="weights.pt is refused"):
        load_exported(evil)
    assert not marker.exists()
    # an export of the old format: a pickled model.pt is never read
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.pt").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="pickled module, which is never loaded"):
        load_exported(old)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Payload(marker)))  # the payload is real: unpickling runs it
    assert marker.exists()


def test_a_user_task_is_never_imported_by_load_exported(tmp_path: Path) -> None:
    (tmp_path / "export.json").write_text(
        json.dumps({"format": "paretune-export-v2", "task": {"name": "os:system", "options": {}}})
    )
    for name in ("weights.pt", "strategy.json"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(ValueError, match="never imports code on its own"):
        load_exported(tmp_path)


@pytest.mark.parametrize(
    ("rate", "bits", "act_bits"), [(0.0, 32, None), (0.8, 4, None), (0.5, 2, 8), (0.3, 16, None)]
)
def test_weights_pt_is_tensors_only_sparse_and_quantized(
    tmp_path: Path, rate: float, bits: int, act_bits: int | None
) -> None:
    task = get_task("synthetic", options={"n_samples": 300})
    strategy = Strategy(epochs=3, prune_rate=rate, bits=bits, act_bits=act_bits)
    result = train(task, strategy, device="cpu", keep_model=True)
    folder = export_model(tmp_path / "model", result=result, task=task, onnx=False)
    assert {p.name for p in folder.iterdir()} == {
        "export.json",
        "weights.pt",
        "strategy.json",
        "metrics.json",
        "MODEL_CARD.md",
    }
    exported = load_exported(folder)
    assert exported.strategy == strategy
    assert exported.task_name == "synthetic"
    assert exported.metrics["test_accuracy"] == result.test_accuracy
    assert exported.metrics["onnx"] == {"skipped": "not asked for (onnx=False)"}
    assert evaluate(exported.network, task) == result.test_accuracy
    assert evaluate(exported.network, task, split="val") == result.val_accuracy

    packed = torch.load(folder / "weights.pt", weights_only=True)
    layers = packed["layers"]
    assert len(layers) == 3
    assert not any(name.endswith(".weight") and name[:-7] in layers for name in packed["state"])
    stored = [entry.get("codes", entry.get("values")) for entry in layers.values()]
    total = sum(int(torch.tensor(entry["shape"].tolist()).prod()) for entry in layers.values())
    assert sum(s.numel() for s in stored) / total <= 1 - rate + 0.005  # only nonzeros on disk
    assert all(int((s == 0).sum()) == 0 for s in stored)
    if bits < 32:
        qmax = 2 ** (bits - 1) - 1
        for entry in layers.values():
            assert entry["codes"].dtype == (torch.int8 if bits <= 8 else torch.int16)
            assert int(entry["codes"].abs().max()) <= qmax
            assert entry["scale"].shape == (int(entry["shape"][0]),)
    assert result.model is not None
    for name, module in result.model.named_modules():
        if name in layers:  # the file holds exactly the trained weights
            torch.testing.assert_close(
                unpack_weight(layers[name]), module.weight.detach().cpu(), rtol=1e-6, atol=1e-7
            )
    if bits < 32:
        for name, module in exported.network.named_modules():
            if name in layers:
                for channel in module.weight.detach():
                    assert len(torch.unique(channel)) <= 2**bits
    assert json.loads((folder / "metrics.json").read_text())["sparsity"] == pytest.approx(
        result.sparsity
    )


def test_onnx_is_skipped_with_a_reason_without_the_extra(tmp_path: Path) -> None:
    """With onnx / onnxruntime not importable, the torch files are written and the card and
    metrics say why there is no ONNX file (in a subprocess where importing them fails)."""
    blocked = tmp_path / "blocked"
    for module in ("onnx", "onnxruntime"):
        (blocked / module).mkdir(parents=True)
        (blocked / module / "__init__.py").write_text(
            f"raise ImportError({f'No module named {module!r}'!r})\n"
        )
    script = f"""
from paretune.trainers import Strategy, export_model, get_task, train
task = get_task("synthetic", options={{"n_samples": 200}})
result = train(task, Strategy(epochs=1), device="cpu", keep_model=True)
export_model({str(tmp_path / "model")!r}, result=result, task=task)
"""
    path = os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])
    ran = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    folder = tmp_path / "model"
    assert not (folder / "model.onnx").exists() and (folder / "weights.pt").exists()
    skipped = json.loads((folder / "metrics.json").read_text())["onnx"]["skipped"]
    assert "not installed" in skipped and "paretune[export]" in skipped
    assert f"ONNX skipped: {skipped}." in (folder / "MODEL_CARD.md").read_text()
    assert load_exported(folder).metrics["latency_cpu_onnxruntime"] is None


def test_export_needs_the_model(tmp_path: Path) -> None:
    task = get_task("synthetic", options={"n_samples": 200})
    result = train(task, Strategy(epochs=1), device="cpu")
    with pytest.raises(ValueError, match="keep_model=True"):
        export_model(tmp_path, result=result, task=task)


@pytest.fixture(scope="module")
def small() -> tuple[Task, TrainResult]:
    task = get_task("synthetic", options={"n_samples": 200})
    return task, train(task, Strategy(epochs=1), device="cpu", keep_model=True)


def test_a_folder_with_files_is_refused_unless_forced(
    small: tuple[Task, TrainResult], tmp_path: Path
) -> None:
    task, result = small
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already holds files"):
        export_model(tmp_path, result=result, task=task, onnx=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    (tmp_path / "model.pt").write_bytes(b"a pickled module of an older export")
    export_model(tmp_path, result=result, task=task, onnx=False, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "model.pt").exists()  # the stale pickle is gone
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert load_exported(tmp_path).strategy == result.strategy


def test_a_symlink_is_never_written_through_even_forced(
    small: tuple[Task, TrainResult], tmp_path: Path
) -> None:
    task, result = small
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "model"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(ValueError, match="is a symbolic link"):
        export_model(link, result=result, task=task, onnx=False, force=True)
    assert list(target.iterdir()) == []
    folder = tmp_path / "real"
    folder.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    for name in ("metrics.json", "weights.pt", "model.onnx"):
        planted = folder / name
        planted.symlink_to(precious)
        with pytest.raises(ValueError, match="is a symbolic link"):
            export_model(folder, result=result, task=task, onnx=False, force=True)
        assert precious.read_text() == "keep me"
        planted.unlink()


def test_preprocessing_records_check_and_match_the_loaders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="The 'mean' and 'std' parameters of Preprocessing"):
        Preprocessing(mean=(0.0, 1.0), std=(1.0,))
    with pytest.raises(ValueError, match="The 'mean' parameter of Preprocessing must be"):
        Preprocessing(mean=(), std=())
    for name in (*MNIST_FILES.values(), *CIFAR10_FILES):
        (tmp_path / name).write_bytes(b"")  # the tasks only check that the files are there
    pixels = torch.arange(256, dtype=torch.float32).view(1, 1, 16, 16)
    mnist = get_task("mnist-lenet5", data_dir=str(tmp_path)).input_preprocessing()
    assert mnist == MNIST_PREPROCESSING and "0-255" in mnist.description
    expected = (pixels / 255 - 0.1307) / 0.3081  # what mnist_splits computes
    torch.testing.assert_close(mnist.apply(pixels), expected, rtol=0, atol=2e-6)
    cifar = get_task("cifar10-resnet20", data_dir=str(tmp_path)).input_preprocessing()
    assert cifar == CIFAR10_PREPROCESSING
    images = pixels.expand(1, 3, 16, 16)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    torch.testing.assert_close(cifar.apply(images), (images / 255 - mean) / std, atol=2e-6, rtol=0)
    digits = get_task("digits-cnn").input_preprocessing()
    assert digits is not None and "1x8x8" in digits.description
    assert get_task("diabetes-mlp").input_preprocessing() is None


_USER_TASK = """
import torch
from torch import nn
from paretune.trainers import DataSplits, Task


def make_task(hidden=4):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(90, 3, generator=g)
    y = (x[:, 0] > 0).long()
    splits = DataSplits(
        x_train=x[:50], y_train=y[:50], x_val=x[50:70], y_val=y[50:70], x_test=x[70:], y_test=y[70:]
    )
    return Task(
        name="my-task",
        build_model=lambda dropout: nn.Sequential(
            nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2)
        ),
        load_data=lambda: splits,
        input_shape=(3,),
        num_classes=2,
    )
"""


def test_a_user_tasks_export_names_its_factory_and_options_and_the_card_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "walk_task.py").write_text(_USER_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    task = get_task("walk_task:make_task", options={"hidden": 24})
    assert task.reference == "walk_task:make_task" and dict(task.options) == {"hidden": 24}
    result = train(task, Strategy(epochs=1, lr=0.01), device="cpu", keep_model=True)
    folder = tmp_path / "model"
    export_model(folder, result=result, task=task)
    recorded = json.loads((folder / "export.json").read_text())["task"]
    assert recorded["name"] == "my-task" and recorded["reference"] == "walk_task:make_task"
    assert recorded["options"] == {"hidden": 24}
    # without the task: the message says how to build it (never imported on its own)
    build = "get_task('walk_task:make_task', options={'hidden': 24})"
    with pytest.raises(ValueError, match=re.escape(f"load_exported(DIR, task={build})")):
        load_exported(folder)
    card = (folder / "MODEL_CARD.md").read_text()
    assert f"task = {build}" in card
    block = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)[0]
    ran = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,  # where the user's module is, as get_task looks for it
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert re.search(r"\[\d\]", ran.stdout), ran.stdout


class _Pairs(torch.utils.data.Dataset[tuple[Any, torch.Tensor]]):
    """Items of two inputs, as a tuple or as a dict."""

    def __init__(self, n: int, seed: int, *, named: bool) -> None:
        g = torch.Generator().manual_seed(seed)
        self.a, self.b = torch.randn(n, 3, generator=g), torch.randn(n, 2, generator=g)
        self.y = torch.randint(0, 4, (n,), generator=g)
        self.named = named

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Any, torch.Tensor]:
        pair = {"a": self.a[i], "b": self.b[i]} if self.named else (self.a[i], self.b[i])
        return pair, self.y[i]


class _TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fa, self.fb = torch.nn.Linear(3, 4), torch.nn.Linear(2, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fa(a) + self.fb(b)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("named", "inputs", "line"),
    [
        (
            False,
            "Inputs: 2 tensors, called as `model(*inputs)`: float32, shape (batch, 3); float32, "
            "shape (batch, 2).",
            "raw = (torch.zeros(1, 3), torch.zeros(1, 2))",
        ),
        (
            True,
            "Inputs: 2 tensors, called as `model(**inputs)`: `a`: float32, shape (batch, 3); "
            "`b`: float32, shape (batch, 2).",
            "raw = {'a': torch.zeros(1, 3), 'b': torch.zeros(1, 2)}",
        ),
    ],
)
def test_the_card_of_a_model_of_several_inputs_calls_it_with_them(
    tmp_path: Path, named: bool, inputs: str, line: str
) -> None:
    from paretune.trainers import DatasetSplits

    task = Task(
        name="pairs",
        build_model=lambda dropout: _TwoInputs(),
        load_datasets=lambda: DatasetSplits(
            train=_Pairs(32, 0, named=named),
            val=_Pairs(16, 1, named=named),
            test=_Pairs(16, 2, named=named),
        ),
        num_classes=4,
    )
    result = train(task, Strategy(epochs=1, batch_size=8), device="cpu", keep_model=True)
    folder = export_model(tmp_path / "model", result=result, task=task)
    card = (folder / "MODEL_CARD.md").read_text()
    assert inputs in card and line in card
    onnx_written = (folder / "model.onnx").exists()
    assert ("`model.onnx`" in card.split("## Files")[1]) == onnx_written
    if importlib.util.find_spec("onnx") is not None:  # the reason is the inputs' form
        why = "takes keyword inputs, model(**inputs)" if named else "takes several inputs"
        assert not onnx_written and f"ONNX skipped: the model {why}" in card
    # the card's lines after the task's: its batch goes through the exported model
    block = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)[0]
    after = block.split("model = load_exported")[1].split("\n", 1)[1]
    scope = {"torch": torch, "model": load_exported(folder, task=task).model}
    exec(after, scope)  # noqa: S102 - the card's own two lines


class _Bag(torch.nn.Module):
    """Token ids in, class scores out (an ``nn.Embedding`` model)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.head = torch.nn.Embedding(20, 8), torch.nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(x).mean(1))  # type: ignore[no-any-return]


def test_a_model_of_token_ids_is_exported_to_onnx_with_integer_inputs(tmp_path: Path) -> None:
    """The ids were cast to float before tracing, and every exporter failed."""
    pytest.importorskip("onnxruntime")
    from paretune.trainers import DataSplits

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 20, (120, 6), generator=g)
    y = x[:, 0] % 2
    data = DataSplits(
        x_train=x[:80], y_train=y[:80], x_val=x[80:100], y_val=y[80:100], x_test=x[100:],
        y_test=y[100:],
    )  # fmt: skip
    task = Task(name="tokens", build_model=lambda dropout: _Bag(), load_data=lambda: data,
                num_classes=2)  # fmt: skip
    result = train(task, Strategy(epochs=1, batch_size=16), device="cpu", keep_model=True)
    folder = export_model(tmp_path / "model", result=result, task=task)
    assert (folder / "model.onnx").exists()
    card = (folder / "MODEL_CARD.md").read_text()
    assert "Input `input`: int64, shape (batch, 6)." in card
    assert "raw = np.zeros((1, 6), dtype=np.int64)" in card
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "model.onnx"))
    scores = session.run(None, {"input": x[100:].numpy()})[0]
    with torch.no_grad():
        expected = load_exported(folder, task=task).model(x[100:]).numpy()
    assert np.allclose(scores, expected, atol=1e-5)
