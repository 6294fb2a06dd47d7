"""Fused trials: each member trains as it would alone (registries parametrized), ends alone."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from paretune.trainers import (
    DataSplits,
    Metric,
    StackedOptimizer,
    Strategy,
    Task,
    TrainStatus,
    build_optimizer,
    fusable,
    fuse_key,
    get_task,
    list_optimizers,
    list_schedules,
    train,
    train_fused,
)

#: Sub-parameters that differ from the defaults, per optimizer (rows also vary lr and decay).
OPTIONS: dict[str, dict[str, Any]] = {
    "sgd": {},
    "momentum": {"momentum": 0.8},
    "nesterov": {"momentum": 0.7},
    "adam": {"beta1": 0.85, "beta2": 0.99, "eps": 1e-6},
    "adamw": {"beta1": 0.8, "beta2": 0.95, "eps": 1e-7},
    "adagrad": {"eps": 1e-9},
    "rmsprop": {"momentum": 0.5, "eps": 1e-5},
}
SHAPES = [(5, 4), (5,), (3, 5)]


def test_every_optimizer_has_options_here() -> None:
    assert sorted(OPTIONS) == sorted(list_optimizers())


def _compare(strategies: list[Strategy], *, per_row: bool, steps: int = 6) -> float:
    """Largest difference between the stacked rows and each row's own torch optimizer."""
    gen = torch.Generator().manual_seed(0)
    init = [torch.randn(len(strategies), *s, generator=gen) for s in SHAPES]
    stacked = [t.clone().requires_grad_() for t in init]
    alone = [[torch.nn.Parameter(t[k].clone()) for t in init] for k in range(len(strategies))]
    torch_opts = [build_optimizer(ps, s) for ps, s in zip(alone, strategies, strict=True)]
    optimizer = StackedOptimizer(stacked, strategies, per_row=per_row)
    for step in range(steps):
        grads = [torch.randn(t.shape, generator=gen) for t in init]
        lr = torch.tensor([s.lr * (0.9**step) for s in strategies])  # a schedule, per row
        for p, g in zip(stacked, grads, strict=True):
            p.grad = g.clone()
        optimizer.step(lr)
        for k, (params, opt) in enumerate(zip(alone, torch_opts, strict=True)):
            for group in opt.param_groups:
                group["lr"] = float(lr[k])
            for p, g in zip(params, grads, strict=True):
                p.grad = g[k].clone()
            opt.step()
    return max(
        float((stacked[i][k].detach() - alone[k][i].detach()).abs().max())
        for k in range(len(strategies))
        for i in range(len(SHAPES))
    )


#: Both update paths: every row by its own torch optimizer (the CPU's), a family at once.
PER_ROW = pytest.mark.parametrize("per_row", [True, False], ids=["per-row", "stacked"])


@PER_ROW
@pytest.mark.parametrize("name", list_optimizers())
def test_stacked_update_matches_torch_row_by_row(name: str, per_row: bool) -> None:
    rows = [
        Strategy(optimizer=name, lr=0.05),
        Strategy(optimizer=name, lr=0.01, weight_decay=0.01, **OPTIONS[name]),
        Strategy(optimizer=name, lr=0.002, weight_decay=1e-4),
    ]
    assert _compare(rows, per_row=per_row) < 1e-6


@PER_ROW
def test_members_with_different_optimizers_share_a_stack(per_row: bool) -> None:
    rows = [
        Strategy(optimizer=name, lr=0.01, weight_decay=0.001 * i, **OPTIONS[name])
        for i, name in enumerate(list_optimizers())
    ]
    assert _compare(rows, per_row=per_row) < 1e-6


def test_rows_after_the_first_step_call_the_fused_kernel_directly() -> None:
    # the path _compare checks against torch.optim from its second step on
    strategies = [Strategy(optimizer=name, lr=0.01, **OPTIONS[name]) for name in list_optimizers()]
    w = torch.ones(len(strategies), 4, requires_grad=True)
    optimizer = StackedOptimizer([w], strategies, per_row=True)
    w.grad = torch.ones_like(w)
    optimizer.step(torch.full((len(strategies),), 0.01))
    # every registered optimizer has one (RMSprop's runs its single-tensor ops directly)
    assert [d.kernel is not None for d in optimizer.direct] == [True] * len(strategies)


def test_stacked_optimizer_refuses_a_stack_of_another_size() -> None:
    with pytest.raises(ValueError, match="must have 2 rows"):
        StackedOptimizer([torch.zeros(3, 2)], [Strategy(), Strategy()])


@PER_ROW
def test_rows_left_out_keep_the_others_state(per_row: bool) -> None:
    strategies = [Strategy(optimizer="adam", lr=0.01 * (k + 1)) for k in range(3)]
    w = torch.ones(3, 4, requires_grad=True)
    optimizer = StackedOptimizer([w], strategies, per_row=per_row)
    single = torch.nn.Parameter(torch.ones(4))
    reference = build_optimizer([single], strategies[2])
    for step in range(4):
        if step == 2:  # rows 0 and 1 leave; row 2 becomes row 0 with its moments
            w = w.detach()[[2]].clone().requires_grad_()
            optimizer.params = [w]
            optimizer.keep([2])
        grad = torch.full((4,), 0.5 + step)
        w.grad = grad.expand(len(w), 4).clone()
        single.grad = grad.clone()
        optimizer.step(
            torch.tensor([strategies[2].lr] * len(w))
            if step >= 2
            else torch.tensor([s.lr for s in strategies])
        )
        reference.step()
    assert torch.allclose(w[0], single, atol=1e-7)


TASK = get_task("synthetic", options={"n_samples": 300})


def _params_match(fused: Any, alone: Any, *, atol: float) -> float:
    a, b = fused.model.state_dict(), alone.model.state_dict()
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _check_group(members: list[Strategy], *, atol: float = 2e-5) -> None:
    fused = train_fused(TASK, members, device="cpu", keep_model=True)
    for strategy, result in zip(members, fused, strict=True):
        alone = train(TASK, strategy, device="cpu", keep_model=True)
        assert result.status is alone.status is TrainStatus.COMPLETED
        assert result.strategy == strategy
        assert result.epochs == alone.epochs and len(result.curve) == len(alone.curve)
        assert _params_match(result, alone, atol=atol) <= atol
        for mine, theirs in zip(result.curve, alone.curve, strict=True):
            assert mine.keys() == theirs.keys()
            assert math.isclose(mine["train_loss"], theirs["train_loss"], rel_tol=1e-5)
            assert mine["lr"] == theirs["lr"] and mine["sparsity"] == theirs["sparsity"]
            assert mine["size_bits"] == theirs["size_bits"]
            assert mine["val_accuracy"] == theirs["val_accuracy"]
        # the stacked validation pass agrees with the member's own model
        assert result.curve[-1]["val_accuracy"] == result.val_accuracy
        for name in ("size_bits", "bitops", "params", "nonzero_params"):
            assert getattr(result, name) == getattr(alone, name), name
        assert result.val_accuracy == alone.val_accuracy


@pytest.mark.parametrize("name", list_optimizers())
def test_a_fused_member_trains_as_alone_for_every_optimizer(name: str) -> None:
    lr = 0.05 if name in ("sgd", "momentum", "nesterov") else 0.005
    _check_group(
        [
            Strategy(optimizer=name, lr=lr, epochs=2, seed=1, **OPTIONS[name]),
            Strategy(optimizer="sgd", lr=0.1, epochs=2, seed=2, weight_decay=1e-3),
            Strategy(optimizer=name, lr=lr / 3, epochs=2, seed=3, weight_decay=1e-4),
        ]
    )


@pytest.mark.parametrize("schedule", list_schedules())
def test_a_fused_member_follows_its_schedule(schedule: str) -> None:
    _check_group(
        [
            Strategy(optimizer="momentum", lr=0.05, schedule=schedule, epochs=3, seed=4),
            Strategy(optimizer="adam", lr=0.003, warmup_epochs=1, epochs=3, seed=5),
        ]
    )


@pytest.mark.parametrize(("prune_rate", "l1"), [(0.5, 0.0), (0.9, 1e-4), (0.0, 1e-3)])
def test_a_fused_member_prunes_on_its_own_schedule(prune_rate: float, l1: float) -> None:
    _check_group(
        [
            Strategy(optimizer="sgd", lr=0.1, prune_rate=prune_rate, l1=l1, epochs=2, seed=6),
            Strategy(optimizer="sgd", lr=0.1, prune_rate=0.3, epochs=2, seed=7),
            Strategy(optimizer="sgd", lr=0.1, epochs=2, seed=8),
        ]
    )


@pytest.mark.parametrize("by_row", [True, False], ids=["row-by-row", "flat"])
def test_both_update_paths_train_each_member_as_alone(
    by_row: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the CPU updates each row with autograd's per-layer gradients and adds l1 row by row; a
    # GPU copies them into one flat gradient, adds l1 by one indexed update: both run here
    monkeypatch.setattr("paretune.trainers._fused._by_row", lambda device: by_row)
    _check_group(
        [
            Strategy(optimizer="adam", lr=0.01, l1=1e-3, prune_rate=0.5, epochs=2, seed=3),
            Strategy(optimizer="sgd", lr=0.1, grad_clip=0.2, epochs=2, seed=4),
            Strategy(optimizer="momentum", lr=0.05, l1=1e-4, epochs=2, seed=5),
            Strategy(optimizer="rmsprop", lr=0.001, weight_decay=1e-3, epochs=2, seed=6),
        ]
    )


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_a_fused_member_trains_with_its_bit_width(bits: int) -> None:
    # one epoch: later a weight near a rounding boundary may round the other way
    _check_group(
        [
            Strategy(optimizer="sgd", lr=0.05, bits=bits, epochs=1, seed=9),
            Strategy(optimizer="sgd", lr=0.05, epochs=1, seed=10),
            Strategy(optimizer="sgd", lr=0.05, bits=8 if bits != 8 else 4, epochs=1, seed=11),
        ],
        atol=1e-4,
    )


def test_gradient_clipping_applies_to_each_member_alone() -> None:
    _check_group(
        [
            Strategy(optimizer="sgd", lr=0.5, grad_clip=0.1, epochs=2, seed=12),
            Strategy(optimizer="sgd", lr=0.5, epochs=2, seed=13),
        ]
    )


def test_a_member_stopped_by_its_reporter_leaves_the_group_alone() -> None:
    members = [Strategy(optimizer="adam", lr=0.003, epochs=3, seed=s) for s in range(3)]
    seen: list[int] = []

    def stop_after_one(epoch: int, metrics: dict[str, float]) -> bool:
        seen.append(epoch)
        return True

    fused = train_fused(TASK, members, reports=[None, stop_after_one, None], device="cpu")
    assert [r.status for r in fused] == [
        TrainStatus.COMPLETED,
        TrainStatus.STOPPED,
        TrainStatus.COMPLETED,
    ]
    assert seen == [1] and fused[1].epochs == 1
    alone = train(TASK, members[2], device="cpu")
    assert fused[2].val_accuracy == alone.val_accuracy
    assert [p["train_loss"] for p in fused[2].curve] == pytest.approx(
        [p["train_loss"] for p in alone.curve], rel=1e-5
    )


@pytest.mark.parametrize("epoch", [1, 2])
def test_every_member_stopped_in_one_epoch_ends_the_group(epoch: int) -> None:
    """All members stopped after the same epoch (a pruner's rung): each is STOPPED there,
    none fails (the group had no member left to go on with)."""
    members = [Strategy(optimizer="adam", lr=0.003, epochs=3, seed=s) for s in range(3)]

    def stop(at: int, metrics: dict[str, float]) -> bool:
        return at == epoch

    fused = train_fused(TASK, members, reports=[stop] * 3, device="cpu")
    assert [r.status for r in fused] == [TrainStatus.STOPPED] * 3
    assert [r.epochs for r in fused] == [epoch] * 3
    assert all(len(r.curve) == epoch for r in fused)


def test_a_diverging_member_fails_alone() -> None:
    members = [
        Strategy(optimizer="sgd", lr=0.05, epochs=2, seed=1),
        Strategy(optimizer="sgd", lr=1e12, epochs=2, seed=2),
    ]
    fused = train_fused(TASK, members, device="cpu")
    assert fused[1].status is TrainStatus.DIVERGED
    assert "training loss became" in fused[1].reason
    alone = train(TASK, members[0], device="cpu")
    assert fused[0].status is TrainStatus.COMPLETED
    assert fused[0].val_accuracy == alone.val_accuracy


def test_dropout_members_train_with_their_own_rates() -> None:
    members = [
        Strategy(optimizer="adam", lr=0.003, dropout=d, epochs=4, seed=3) for d in (0.1, 0.5)
    ]
    fused = train_fused(get_task("digits-mlp"), members, device="cpu")
    for strategy, result in zip(members, fused, strict=True):
        alone = train(get_task("digits-mlp"), strategy, device="cpu")
        assert result.status is TrainStatus.COMPLETED
        assert abs(result.val_accuracy - alone.val_accuracy) < 0.05  # other dropout masks
        # validated without dropout, as the member's own model is
        assert result.curve[-1]["val_accuracy"] == result.val_accuracy


def test_members_validate_with_the_tasks_own_metrics() -> None:
    task = Task(
        name="f1",
        build_model=TASK.build_model,
        load_data=TASK.load_data,
        num_classes=3,
        metrics=("macro_f1", "loss", "accuracy"),
    )
    members = [
        Strategy(optimizer="adam", lr=0.01, bits=4, epochs=2, seed=1),
        Strategy(optimizer="sgd", lr=0.1, prune_rate=0.5, epochs=2, seed=2),
    ]
    fused = train_fused(task, members, device="cpu")
    for strategy, result in zip(members, fused, strict=True):
        alone = train(task, strategy, device="cpu")
        assert [list(p) for p in result.curve] == [list(p) for p in alone.curve]
        for mine, theirs in zip(result.curve, alone.curve, strict=True):
            assert mine["val_macro_f1"] == pytest.approx(theirs["val_macro_f1"], abs=1e-9)
            assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-4)
        for name in ("val_macro_f1", "val_accuracy"):
            assert result.curve[-1][name] == result.metrics[name]


def _regression(metric: Any) -> Task:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x.sum(1)
    data = DataSplits(x_train=x, y_train=y, x_val=x[:40], y_val=y[:40], x_test=x, y_test=y)
    return Task(
        name="tiny-regression",
        build_model=lambda dropout: torch.nn.Linear(3, 1),
        load_data=lambda: data,
        num_classes=0,
        loss=lambda out, t: torch.nn.functional.mse_loss(out.squeeze(1), t),
        metrics=("rmse", metric),
    )


def test_a_member_whose_metric_is_nan_fails_alone() -> None:
    calls: list[int] = []

    def flaky(outputs: torch.Tensor, targets: torch.Tensor) -> float:
        # members validate in the stack's order: call 4 is the second member's second epoch
        calls.append(1)
        return math.nan if len(calls) == 4 else float((outputs.squeeze(1) - targets).abs().max())

    task = _regression(Metric(name="flaky", direction="minimize", compute=flaky))
    members = [Strategy(optimizer="sgd", lr=0.05, batch_size=16, epochs=3, seed=s) for s in (1, 2)]
    fused = train_fused(task, members, device="cpu")
    assert [r.status for r in fused] == [TrainStatus.COMPLETED, TrainStatus.DIVERGED]
    assert fused[1].reason == "validation metric 'val_flaky' is nan in epoch 2"
    assert fused[1].epochs == 1 and fused[1].metrics == {}
    alone = train(_regression("mae"), members[0], device="cpu")
    assert [p["val_rmse"] for p in fused[0].curve] == pytest.approx(
        [p["val_rmse"] for p in alone.curve], rel=1e-5
    )
    assert math.isnan(fused[0].val_accuracy)  # a regression task has no accuracy


def test_fusable_names_what_cannot_be_fused() -> None:
    task = get_task("digits-mlp")
    assert fusable(task, Strategy(precision="bf16")) == "precision 'bf16'"
    assert fusable(task, Strategy(channels_last=True)) == "channels_last"
    assert fusable(task, Strategy(act_bits=4)) == "activation quantization (act_bits=4)"


def test_members_must_share_the_fuse_key() -> None:
    task = get_task("digits-mlp")
    assert fuse_key(task, Strategy(epochs=3)) != fuse_key(task, Strategy(epochs=4))
    with pytest.raises(ValueError, match="share task parameters, batch_size, epochs"):
        train_fused(task, [Strategy(epochs=1), Strategy(epochs=2)], device="cpu")
    with pytest.raises(ValueError, match="cannot be fused on task 'digits-mlp': channels_last"):
        train_fused(task, [Strategy(channels_last=True)], device="cpu")
    with pytest.raises(ValueError, match="2 reporters for 1 strategies"):
        train_fused(task, [Strategy()], reports=[None, None], device="cpu")
    with pytest.raises(TypeError, match="non-empty sequence of Strategy"):
        train_fused(task, [], device="cpu")


def test_a_model_with_batchnorm_is_refused() -> None:
    synthetic = TASK.data()

    def batchnorm_model(dropout: float) -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Linear(synthetic.x_train.shape[1], 8),
            torch.nn.BatchNorm1d(8),
            torch.nn.Linear(8, TASK.num_classes),
        )

    task = Task(
        name="batchnorm",
        build_model=batchnorm_model,
        load_data=lambda: synthetic,
        num_classes=TASK.num_classes,
    )
    assert fusable(task, Strategy()) is None  # known only once the model is built
    with pytest.raises(ValueError, match="has buffers"):
        train_fused(task, [Strategy(epochs=1, seed=s) for s in range(2)], device="cpu")


def test_the_cpu_step_hands_the_optimizers_autograds_own_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the first step stores each stacked parameter as autograd lays out its gradient (a
    # linear weight's comes transposed); from then on each row's fused kernel reads the
    # gradients where autograd wrote them: nothing is copied into a flat gradient
    computed: set[int] = set()
    handed: list[bool] = []
    grad, kernel = torch.autograd.grad, torch._fused_sgd_

    def recording_grad(*args: Any, **kwargs: Any) -> Any:
        out = grad(*args, **kwargs)
        computed.clear()
        computed.update(t.untyped_storage().data_ptr() for t in out)
        return out

    def recording_kernel(params: Any, grads: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append({g.untyped_storage().data_ptr() for g in grads} <= computed)
        return kernel(params, grads, *args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", recording_grad)
    monkeypatch.setattr(torch, "_fused_sgd_", recording_kernel)
    members = [Strategy(optimizer="sgd", lr=0.1 / (k + 1), epochs=1, seed=k) for k in range(2)]
    results = train_fused(TASK, members, device="cpu")
    assert all(r.status is TrainStatus.COMPLETED for r in results)
    assert len(handed) > 4 and all(handed)
