"""Export and reload: same test accuracy, really sparse and quantized weights on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from paretune.trainers import (
    Strategy,
    Task,
    evaluate,
    export_model,
    get_task,
    load_exported,
    train,
    unpack_weight,
)


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("synthetic", options={"n_samples": 300})


@pytest.mark.parametrize(
    ("rate", "bits", "act_bits"), [(0.0, 32, None), (0.8, 4, None), (0.5, 2, 8), (0.3, 16, None)]
)
def test_export_reload_keeps_accuracy_sparsity_and_bits(
    task: Task, tmp_path: Path, rate: float, bits: int, act_bits: int | None
) -> None:
    strategy = Strategy(epochs=3, prune_rate=rate, bits=bits, act_bits=act_bits)
    result = train(task, strategy, device="cpu", keep_model=True)
    folder = export_model(tmp_path / "model", result=result, task=task)
    assert {p.name for p in folder.iterdir()} >= {
        "model.pt",
        "weights.pt",
        "strategy.json",
        "metrics.json",
        "MODEL_CARD.md",
    }
    exported = load_exported(folder)
    assert exported.strategy == strategy
    assert exported.task_name == "synthetic"
    assert exported.metrics["test_accuracy"] == result.test_accuracy
    assert evaluate(exported.model, task) == result.test_accuracy
    assert evaluate(exported.model, task, split="val") == result.val_accuracy

    packed = torch.load(folder / "weights.pt", weights_only=True)
    layers = packed["layers"]
    assert len(layers) == 3
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
    torch.testing.assert_close(
        next(iter(torch.load(folder / "model.pt", weights_only=False).parameters())),
        torch.empty(0),
    )  # model.pt holds no copy of the prunable weights
    if bits < 32:
        for name, module in exported.model.named_modules():
            if name in layers:
                for channel in module.weight.detach():
                    assert len(torch.unique(channel)) <= 2**bits
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["sparsity"] == pytest.approx(result.sparsity)
    assert "size_bits" in (folder / "MODEL_CARD.md").read_text()


def test_export_needs_the_model(task: Task, tmp_path: Path) -> None:
    result = train(task, Strategy(epochs=1), device="cpu")
    with pytest.raises(ValueError, match="keep_model=True"):
        export_model(tmp_path, result=result, task=task)


def test_load_exported_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'model.pt' not found"):
        load_exported(tmp_path)


def test_evaluate_rejects_unknown_split(task: Task) -> None:
    with pytest.raises(ValueError, match="The 'split' parameter of evaluate must be one of"):
        evaluate(task.new_model(), task, split="dev")
