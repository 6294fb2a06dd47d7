"""Large-batch training: accumulation, clipping, precision, channels_last; defaults unchanged."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from paretune.trainers import (
    MLP,
    BatchStep,
    Precision,
    Strategy,
    Task,
    TrainStatus,
    get_task,
    train,
)
from torch import nn
from torch.nn import functional as F


def _batch(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, 20, generator=generator), torch.randint(0, 5, (n,), generator=generator)


def _model() -> nn.Module:
    torch.manual_seed(1)
    return MLP(in_features=20, hidden=(32, 16), num_classes=5)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, **options: object) -> BatchStep:
    return BatchStep(model, optimizer, F.cross_entropy, device_type="cpu", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("micro_batch", [16, 24, 1])  # 4 equal parts, uneven parts, per sample
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_accumulation_equals_one_full_batch(micro_batch: int, optimizer: str) -> None:
    x, y = _batch()
    full, parts = _model(), _model()

    def make(model: nn.Module) -> torch.optim.Optimizer:
        if optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return torch.optim.Adam(model.parameters(), lr=0.01)

    full_step = _step(full, make(full), l1=1e-3, l1_weights=[full[1].weight])
    parts_step = _step(parts, make(parts), micro_batch=micro_batch, l1=1e-3,
                       l1_weights=[parts[1].weight])  # fmt: skip
    for _ in range(2):
        loss_full, loss_parts = full_step(x, y), parts_step(x, y)
        torch.testing.assert_close(loss_parts, loss_full)
        torch.testing.assert_close(loss_full, F.cross_entropy(full(x), y), rtol=0.2, atol=0)
        for a, b in zip(full.parameters(), parts.parameters(), strict=True):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)  # the gradients
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)  # and the optimizer steps


def test_task_micro_batch_gives_the_curve_of_the_full_batch() -> None:
    task = get_task("synthetic", options={"n_samples": 300})
    strategy = Strategy(epochs=3, batch_size=32, lr=0.01)
    full = train(task, strategy, device="cpu", keep_model=True)
    parts = train(dataclasses.replace(task, micro_batch=8), strategy, keep_model=True)
    assert full.model is not None and parts.model is not None
    for a, b in zip(full.curve, parts.curve, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    for a, b in zip(full.model.parameters(), parts.model.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_grad_clip_rescales_the_global_norm_to_the_limit() -> None:
    x, y = _batch()
    free, clipped = _model(), _model()
    # lr 0: the step leaves the weights alone and the gradients can be compared
    _step(free, torch.optim.SGD(free.parameters(), lr=0.0))(x, y)
    grads = [p.grad for p in free.parameters() if p.grad is not None]
    norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
    limit = norm / 3
    _step(clipped, torch.optim.SGD(clipped.parameters(), lr=0.0), grad_clip=limit)(x, y)
    for g, p in zip(grads, clipped.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g * (limit / norm), rtol=1e-4, atol=1e-7)
    loose = _model()
    _step(loose, torch.optim.SGD(loose.parameters(), lr=0.0), grad_clip=norm * 2)(x, y)
    for g, p in zip(grads, loose.parameters(), strict=True):
        assert torch.equal(p.grad, g)


def test_bf16_autocasts_the_forward_on_the_cpu() -> None:
    x, y = _batch()
    model = _model()
    seen: list[torch.dtype] = []
    model[1].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    step = _step(model, torch.optim.SGD(model.parameters(), lr=0.1), precision=Precision.BF16)
    loss = step(x, y)
    assert seen == [torch.bfloat16] and torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())

    task = get_task("digits-mlp")
    fp32 = train(task, Strategy(epochs=3), device="cpu")
    bf16 = train(task, Strategy(epochs=3, precision="bf16"), device="cpu")
    assert bf16.status is TrainStatus.COMPLETED
    assert bf16.val_accuracy == pytest.approx(fp32.val_accuracy, abs=0.05)
    assert bf16.curve[-1]["train_loss"] != fp32.curve[-1]["train_loss"]


def test_fp16_and_amp_need_cuda() -> None:
    task = get_task("synthetic", options={"n_samples": 300})
    with pytest.raises(ValueError, match=re.escape("'fp16' needs a CUDA device")):
        train(task, Strategy(epochs=1, precision="fp16"), device="cpu")
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        train(task, Strategy(epochs=1, precision="bf16"), device="cpu", amp=True)


def test_channels_last_changes_the_layout_not_the_result() -> None:
    task = get_task("digits-cnn")
    plain = train(task, Strategy(epochs=1), device="cpu", keep_model=True)
    last = train(task, Strategy(epochs=1, channels_last=True), device="cpu", keep_model=True)
    assert last.model is not None and plain.model is not None
    conv = [m for m in last.model.modules() if isinstance(m, nn.Conv2d)][-1]  # 16 -> 32
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    for a, b in zip(plain.curve, last.curve, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
    mlp = get_task("digits-mlp")  # harmless on a model without 4-D tensors
    curves = [
        [{k: v for k, v in point.items() if k != "train_seconds"} for point in result.curve]
        for result in (
            train(mlp, Strategy(epochs=2, channels_last=True), device="cpu"),
            train(mlp, Strategy(epochs=2), device="cpu"),
        )
    ]
    assert curves[0] == curves[1]


# -- the defaults reproduce today's training bit for bit -----------------------------------


def _reference_run(task: Task, strategy: Strategy) -> tuple[list[float], nn.Module]:
    """The loop every run followed before the new options: Adam (torch's fused update, as the
    trainer builds it), shuffled batches, CE."""
    data = task.data()
    with torch.random.fork_rng():
        torch.manual_seed(strategy.seed)
        model = task.new_model(0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=strategy.lr, betas=(0.9, 0.999), fused=True)
    shuffle = torch.Generator().manual_seed(strategy.seed)
    x, y, size = data.x_train, data.y_train, strategy.batch_size
    losses = []
    for _ in range(strategy.epochs):
        order = torch.randperm(len(x), generator=shuffle)
        total = torch.zeros(())
        model.train()
        for start in range(0, len(x), size):
            index = order[start : start + size]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += loss.detach()
        losses.append(float(total.item()) / -(-len(x) // size))
    return losses, model


def test_default_options_reproduce_the_plain_loop_bit_for_bit() -> None:
    task = get_task("digits-mlp")
    strategy = Strategy(epochs=3, seed=1)
    explicit = strategy.replace(
        init="default", precision="fp32", channels_last=False, grad_clip=None
    )
    assert explicit == strategy and explicit.to_dict() == strategy.to_dict()
    result = train(task, strategy, device="cpu", keep_model=True)
    losses, reference = _reference_run(task, strategy)
    assert [point["train_loss"] for point in result.curve] == losses
    assert result.model is not None
    for key, value in reference.state_dict().items():
        assert torch.equal(result.model.state_dict()[key], value), key


@pytest.mark.gpu
def test_cuda_fp16_with_a_grad_scaler_and_bf16_train() -> None:
    task = get_task("digits-cnn")
    results = {
        precision: train(
            task, Strategy(epochs=4, lr=3e-3, precision=precision, grad_clip=5.0), device="cuda"
        )
        for precision in ("fp32", "bf16", "fp16")
    }
    for result in results.values():
        assert result.status is TrainStatus.COMPLETED
        assert result.val_accuracy == pytest.approx(results["fp32"].val_accuracy, abs=0.05)
    amp = train(task, Strategy(epochs=4, lr=3e-3, grad_clip=5.0), device="cuda", amp=True)
    assert amp.curve[-1]["train_loss"] == pytest.approx(
        results["bf16"].curve[-1]["train_loss"], rel=1e-3
    )
    with pytest.raises(ValueError, match="contradicts the strategy's precision 'fp16'"):
        train(task, Strategy(epochs=1, precision="fp16"), device="cuda", amp=True)


@pytest.mark.gpu
def test_cuda_accumulation_with_fp16_equals_the_full_batch() -> None:
    x, y = (t.cuda() for t in _batch(256))
    full, parts = _model().cuda(), _model().cuda()
    options = {"precision": Precision.FP16, "grad_clip": 1.0}
    for model, micro in ((full, None), (parts, 64)):
        step = BatchStep(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            F.cross_entropy,
            device_type="cuda",
            micro_batch=micro,
            **options,  # type: ignore[arg-type]
        )
        step(x, y)
    for a, b in zip(full.parameters(), parts.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-2, atol=1e-3)
