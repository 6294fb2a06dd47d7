"""A task's own parameters: declaration, checks, the model factory, replay keyed by own columns."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from paretune.trainers import (
    Strategy,
    Task,
    TaskParam,
    TrainResult,
    TrainStatus,
    build_task_model,
    declared_params,
    get_task,
    make_replay_task,
    static_cost,
    strategy_from_params,
    train,
    write_replay_table,
)
from torch import nn

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"


def _original_mlp(in_features: int, hidden: tuple[int, ...], classes: int) -> nn.Sequential:
    """The built-in MLP as it was written before it had width and depth (the oracle)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, classes))


def _original_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Identity(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Identity(),
        nn.Linear(64, 10),
    )


@pytest.mark.parametrize(
    ("name", "oracle"),
    [
        ("digits-mlp", lambda: _original_mlp(64, (256, 128), 10)),
        ("synthetic", lambda: _original_mlp(20, (64, 64), 3)),
        ("digits-cnn", _original_cnn),
    ],
)
def test_default_shape_is_the_original_model_bit_for_bit(name: str, oracle: Any) -> None:
    task = get_task(name)
    torch.manual_seed(3)
    expected = oracle().state_dict()
    for strategy in (Strategy(), Strategy(task_params={"width": task.params[0].default})):
        torch.manual_seed(3)
        got = build_task_model(task, strategy).state_dict()
        assert list(got) == list(expected)
        assert all(torch.equal(got[key], expected[key]) for key in expected)


def test_training_with_default_params_equals_training_without() -> None:
    task = get_task("digits-mlp")
    plain = train(task, Strategy(epochs=2, lr=0.01), device="cpu")
    named = train(
        task, Strategy(epochs=2, lr=0.01, task_params={"width": 256, "depth": 2}), device="cpu"
    )
    timeless = [[{k: v for k, v in p.items() if k != "train_seconds"} for p in r.curve]
                for r in (plain, named)]  # fmt: skip
    assert timeless[0] == timeless[1]
    assert plain.test_accuracy == named.test_accuracy
    assert "task_params" not in plain.strategy.to_dict()  # old keys and stored strategies


def test_width_and_depth_shape_the_model_and_its_cost() -> None:
    task = get_task("digits-mlp")
    strategy = Strategy(epochs=1, task_params={"width": 32, "depth": 3})
    model = build_task_model(task, strategy)
    sizes = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert sizes == [32, 16, 16, 10]
    params = sum(p.numel() for p in model.parameters())
    assert (
        static_cost(task, strategy)["params"]
        == params
        == 64 * 32 + 32 + 32 * 16 + 16 + (16 * 16 + 16) + 16 * 10 + 10
    )
    result = train(task, strategy, device="cpu")
    assert result.params == params
    assert result.strategy.task_params == {"width": 32, "depth": 3}
    cnn = build_task_model(get_task("digits-cnn"), Strategy(task_params={"width": 4, "depth": 3}))
    convs = [m.out_channels for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [4, 8, 16]
    assert cnn(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_strategy_carries_task_params_through_dict_round_trip() -> None:
    strategy = Strategy(lr=0.1, task_params={"width": 64, "act": "relu", "scale": 0.5})
    values = strategy.to_dict()
    assert values["task_params"] == {"width": 64, "act": "relu", "scale": 0.5}
    assert Strategy.from_dict(json.loads(json.dumps(values))) == strategy
    assert strategy.replace(lr=0.2).task_params == strategy.task_params
    assert hash(strategy) == hash(Strategy(lr=0.1, task_params={"width": 1}))  # still hashable


@pytest.mark.parametrize(
    "task_params",
    [{"width": [1, 2]}, {"width": None}, {"lr": 0.1}, {"not a name": 1}, {"x": math.nan}, "w"],
)
def test_strategy_refuses_task_params_that_are_not_json_scalars(task_params: Any) -> None:
    with pytest.raises(ValueError, match="The 'task_params' parameter of Strategy must be"):
        Strategy(task_params=task_params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "lr", "type": "float", "default": 0.1, "low": 0.0, "high": 1.0},
         "'name' parameter of TaskParam must be a name that is no Strategy field"),
        ({"name": "task_params", "type": "int", "default": 1, "low": 0, "high": 2},
         "no Strategy field"),
        ({"name": "2x", "type": "int", "default": 1, "low": 0, "high": 2}, "Python identifier"),
        ({"name": "w", "type": "integer", "default": 1, "low": 0, "high": 2},
         "'type' parameter of TaskParam must be one of int, float, categorical, bool"),
        ({"name": "w", "type": "int", "default": 9, "low": 0, "high": 2},
         "'default' parameter of TaskParam must be an int in \\[0, 2\\]. Got 9"),
        ({"name": "w", "type": "int", "default": 1, "low": 3, "high": 2}, "'high' parameter"),
        ({"name": "w", "type": "int", "default": 1}, "'low' parameter"),
        ({"name": "w", "type": "categorical", "default": "a"}, "'choices' parameter"),
        ({"name": "w", "type": "categorical", "default": "a", "choices": ("a", "a")},
         "distinct values"),
        ({"name": "w", "type": "categorical", "default": "a", "choices": ("a", [1])},
         "distinct values"),
        ({"name": "w", "type": "bool", "default": 1}, "'default' parameter of TaskParam must be "
         "a bool"),
    ],
)  # fmt: skip
def test_bad_declarations_are_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TaskParam(**kwargs)


def _user_task(params: tuple[Any, ...], build: Any) -> Task:
    data = get_task("synthetic", options={"n_samples": 200}).data()
    return Task(
        name="mine",
        build_model=build,
        load_data=lambda: data,
        input_shape=(20,),
        num_classes=3,
        params=params,
    )


def test_duplicate_or_foreign_declarations_are_refused() -> None:
    width = TaskParam(name="width", type="int", default=4, low=1, high=8)
    build = lambda dropout, **values: _original_mlp(20, (4,), 3)  # noqa: E731
    with pytest.raises(ValueError, match="Task 'mine' declares the parameter 'width' twice"):
        declared_params(_user_task((width, width), build))
    with pytest.raises(ValueError, match="must be a tuple of TaskParam"):
        declared_params(_user_task(({"name": "width"},), build))


def test_user_factory_receives_the_values_a_strategy_sets() -> None:
    seen: list[dict[str, Any]] = []

    def build(dropout: float, **values: Any) -> nn.Module:
        seen.append(values)
        return _original_mlp(20, (values.get("width", 8),), 3)

    params = (
        TaskParam(name="width", type="int", default=8, low=1, high=64),
        TaskParam(name="act", type="categorical", default="relu", choices=("relu", "gelu")),
        TaskParam(name="scale", type="float", default=1.0, choices=(0.5, 1.0)),
        TaskParam(name="bias", type="bool", default=True),
    )
    task = _user_task(params, build)
    result = train(task, Strategy(epochs=1, task_params={"width": 5, "scale": 0.5}), device="cpu")
    assert seen[-1] == {"width": 5, "scale": 0.5}
    assert result.params == 20 * 5 + 5 + 5 * 3 + 3
    train(task, Strategy(epochs=1), device="cpu")
    assert seen[-1] == {}  # called build_model(dropout), as before task parameters existed


def test_factories_that_take_only_dropout_still_work() -> None:
    old = _user_task((), lambda dropout: _original_mlp(20, (4,), 3))
    assert train(old, Strategy(epochs=1), device="cpu").status is TrainStatus.COMPLETED
    # a built-in task (which declares width and depth) with a factory of its own
    task = dataclasses.replace(
        get_task("digits-mlp"), build_model=lambda dropout: _original_mlp(64, (16,), 10)
    )
    assert train(task, Strategy(epochs=1), device="cpu").params == 64 * 16 + 16 + 16 * 10 + 10


@pytest.mark.parametrize(
    ("task_params", "message"),
    [
        ({"width": 0}, "The parameter 'width' of task 'digits-mlp' must be an int in "
         "\\[1, 4096\\]. Got 0 instead."),
        ({"width": 64.0}, "'width' of task 'digits-mlp' must be an int .* Got 64.0 instead"),
        ({"depth": True}, "'depth' of task 'digits-mlp' must be an int .* Got True instead"),
        ({"heads": 2}, "Task 'digits-mlp' has no parameter 'heads'. Known: width, depth."),
    ],
)  # fmt: skip
def test_values_outside_the_declaration_name_task_parameter_value_allowed(
    task_params: dict[str, Any], message: str
) -> None:
    task = get_task("digits-mlp")
    with pytest.raises(ValueError, match=message):
        train(task, Strategy(epochs=1, task_params=task_params), device="cpu")
    flat = {"lr": 0.01, **task_params}
    with pytest.raises(ValueError, match="has no parameter|must be|Unknown key"):
        strategy_from_params(flat, task=task)


def test_strategy_from_params_splits_flat_values() -> None:
    task = get_task("digits-cnn")
    strategy = strategy_from_params({"lr": 0.01, "width": 8, "momentum": None}, task=task)
    assert strategy.lr == 0.01 and strategy.task_params == {"width": 8}
    nested = strategy_from_params(strategy.to_dict(), task=task)
    assert nested == strategy
    assert strategy_from_params({"lr": 0.01}, task=task).to_dict() == Strategy(lr=0.01).to_dict()


# -- replay tables keyed by their own columns ----------------------------------------------

OPS = ("none", "skip", "conv1x1", "conv3x3", "avgpool")
COLUMNS = tuple(f"op_{i}" for i in range(6))


def _nas_rows(n: int = 40, seed: int = 0) -> list[dict[str, str]]:
    """Distinct cells of six operation choices (a NAS-Bench-201-like key)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, str]] = []
    while len(rows) < n:
        cell = {c: OPS[int(rng.integers(len(OPS)))] for c in COLUMNS}
        if cell not in rows:
            rows.append(cell)
    return rows


def _accuracy(cell: dict[str, str]) -> float:
    """A made-up accuracy that depends on every column (the oracle of a lookup)."""
    return 0.5 + sum(OPS.index(cell[c]) * (i + 1) for i, c in enumerate(COLUMNS)) / 200


def write_nas_table(path: Path, rows: list[dict[str, str]], epochs: int = 3) -> None:
    results = []
    for cell in rows:
        final = _accuracy(cell)
        curve = tuple({"val_accuracy": final * (e + 1) / epochs} for e in range(epochs))
        results.append(
            TrainResult(
                status=TrainStatus.COMPLETED,
                reason="",
                val_accuracy=final,
                test_accuracy=final - 0.01,
                params=1000 + OPS.index(cell["op_0"]),
                nonzero_params=1000,
                sparsity=0.0,
                size_bits=32000.0 + 100 * OPS.index(cell["op_5"]),
                bitops=0.0,
                latency_ms=0.1,
                train_seconds=1.0,
                epochs=epochs,
                curve=curve,
                strategy=Strategy(epochs=epochs, task_params=cell),
            )
        )
    write_replay_table(path, results, source_task="nas-bench-like")


def test_replay_table_keyed_by_six_categorical_columns(tmp_path: Path) -> None:
    rows = _nas_rows()
    path = tmp_path / "nas.npz"
    write_nas_table(path, rows)
    task = make_replay_task(path)
    declared = declared_params(task)
    assert list(declared) == list(COLUMNS)
    for name in COLUMNS:
        held = sorted({row[name] for row in rows})
        assert declared[name].kind.value == "categorical"
        assert list(declared[name].choices) == held
        assert declared[name].default == held[0]
    for cell in rows[:10]:
        result = train(task, Strategy(epochs=3, seed=7, task_params=cell))
        assert result.val_accuracy == pytest.approx(_accuracy(cell), abs=1e-6)
        assert result.size_bits == 32000.0 + 100 * OPS.index(cell["op_5"])
        assert result.strategy.task_params == cell
    strategy = strategy_from_params({"epochs": 3, **rows[0]}, task=task)
    assert train(task, strategy).val_accuracy == pytest.approx(_accuracy(rows[0]), abs=1e-6)


def test_replay_lookup_errors_speak_of_the_table_columns(tmp_path: Path) -> None:
    rows = _nas_rows(8)
    path = tmp_path / "nas.npz"
    write_nas_table(path, rows)
    task = make_replay_task(path)
    held = list(rows)
    choices = {c: sorted({row[c] for row in rows}) for c in COLUMNS}
    missing = dict(rows[0])
    for column in COLUMNS:  # change one column at a time until the cell is not held
        for op in choices[column]:
            if {**missing, column: op} not in held:
                missing[column] = op
                break
        if missing not in held:
            break
    assert missing not in held
    with pytest.raises(ValueError, match="does not hold this strategy.*differ in: \\{op_"):
        train(task, Strategy(epochs=3, task_params=missing))
    with pytest.raises(ValueError, match="parameter 'op_0' of task 'replay:.*' must be one of"):
        train(task, Strategy(epochs=3, task_params={**rows[0], "op_0": "conv7x7"}))
    with pytest.raises(ValueError, match="has no parameter 'width'"):
        train(task, Strategy(epochs=3, task_params={"width": 3}))


def test_replay_rows_must_set_the_same_columns(tmp_path: Path) -> None:
    rows = _nas_rows(2)
    runs = []
    for cell in ({"op_0": rows[0]["op_0"]}, rows[1]):
        runs.append(
            TrainResult(
                status=TrainStatus.COMPLETED, reason="", val_accuracy=0.5, test_accuracy=0.5,
                params=1, nonzero_params=1, sparsity=0.0, size_bits=32.0, bitops=0.0,
                latency_ms=0.1, train_seconds=1.0, epochs=1, curve=({"val_accuracy": 0.5},),
                strategy=Strategy(epochs=1, task_params=cell),
            )
        )  # fmt: skip
    with pytest.raises(ValueError, match="must set the same task parameters"):
        write_replay_table(tmp_path / "bad.npz", runs)


def test_old_tables_keyed_by_strategy_fields_still_replay() -> None:
    path = DATA / "digits_mlp_grid.npz"
    task = make_replay_task(path)
    assert task.params == ()
    with np.load(path, allow_pickle=False) as data:
        first = json.loads(str(data["strategies"][0]))
        accuracy = float(data["curve_val_accuracy"][0][int(data["epochs"][0]) - 1])
    result = train(task, Strategy.from_dict(first))
    assert result.val_accuracy == pytest.approx(accuracy)
