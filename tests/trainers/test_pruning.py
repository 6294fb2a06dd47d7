"""Gradual global magnitude pruning: schedule oracle, sort oracle, exact final sparsity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from paretune.trainers import (
    MagnitudePruner,
    Strategy,
    Task,
    cubic_sparsity,
    get_task,
    global_magnitude_masks,
    named_prunable_layers,
    prunable_weights,
    train,
)


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("synthetic", options={"n_samples": 300})


def test_cubic_schedule_matches_zhu_and_gupta() -> None:
    target, begin, end = 0.8, 10, 50
    for step in range(0, 70):
        if step < begin:
            expected = 0.0
        elif step >= end:
            expected = target
        else:
            expected = target + (0.0 - target) * (1 - (step - begin) / (end - begin)) ** 3
        assert cubic_sparsity(step, target=target, begin=begin, end=end) == pytest.approx(expected)


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.77, 0.99])
def test_global_masks_zero_the_smallest_weights_like_a_sort(sparsity: float) -> None:
    generator = torch.Generator().manual_seed(3)
    weights = [torch.randn(5, 7, generator=generator), torch.randn(11, generator=generator) * 3]
    masks = global_magnitude_masks(weights, sparsity)
    flat = np.concatenate([w.abs().flatten().numpy() for w in weights])
    count = round(sparsity * flat.size)
    expected = np.ones(flat.size)
    expected[np.argsort(flat, kind="stable")[:count]] = 0.0
    got = np.concatenate([m.flatten().numpy() for m in masks])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "kind", ["gaussian", "half-zeros", "few-values", "float16-grid", "tiny", "huge"]
)
def test_global_masks_rank_ties_in_index_order_like_a_stable_sort(kind: str) -> None:
    # pruned weights are exactly zero at the next update, and quantized or integer weights
    # repeat: the cut often falls among equal magnitudes
    generator = torch.Generator().manual_seed(11)
    for size in (1, 2, 7, 300, 5000, 40000):
        w = torch.randn(size, generator=generator)
        if kind == "half-zeros":
            w[torch.rand(size, generator=generator) < 0.5] = 0.0
        elif kind == "few-values":
            w = torch.randint(-3, 4, (size,), generator=generator).float()
        elif kind == "float16-grid":
            w = w.half().float() * 1e-3
        elif kind == "tiny":
            w = w * 1e-30
        elif kind == "huge":
            w = w * 1e30
        weights = [w[: size // 3].view(-1, 1), w[size // 3 :]]
        for sparsity in (0.0, 0.1, 0.5, 0.77, 0.9, 0.999, 1.0):
            got = np.concatenate(
                [m.flatten().numpy() for m in global_magnitude_masks(weights, sparsity)]
            )
            np.testing.assert_array_equal(got, numpy_masks(weights, sparsity))


def test_global_masks_rank_nan_above_every_number() -> None:
    w = torch.linspace(-1.0, 1.0, 20)
    w[[3, 5]] = float("nan")
    w[[7, 9]] = float("inf")
    # the 16 numbers go first, then inf, then NaN, each in index order
    for count, kept in ((16, {3, 5, 7, 9}), (17, {3, 5, 9}), (18, {3, 5}), (19, {5})):
        mask = global_magnitude_masks([w], count / 20)[0]
        assert int((mask == 0).sum()) == count
        assert {i for i in (3, 5, 7, 9) if mask[i] == 1} == kept


def test_pruner_keeps_masked_weights_at_zero_between_updates() -> None:
    weight = torch.nn.Parameter(torch.linspace(-1, 1, 100))
    pruner = MagnitudePruner([weight], target=0.5, begin=0, end=0, frequency=1)
    pruner.after_step(0)
    zeros = weight.detach() == 0
    assert int(zeros.sum()) == 50
    with torch.no_grad():
        weight += 0.3  # an optimizer step moves every weight ...
    pruner.after_step(1)
    assert torch.equal(weight.detach() == 0, zeros)  # ... the mask puts the pruned back


def test_pruner_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="must be a float in \\[0, 1\\)"):
        MagnitudePruner([torch.zeros(3)], target=1.0, begin=0, end=1, frequency=1)
    with pytest.raises(ValueError, match="begin <= end"):
        MagnitudePruner([torch.zeros(3)], target=0.5, begin=5, end=1, frequency=1)


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.9, 0.97])
def test_final_sparsity_is_the_prune_rate(task: Task, rate: float) -> None:
    result = train(task, Strategy(epochs=4, prune_rate=rate), device="cpu", keep_model=True)
    assert abs(result.sparsity - rate) <= 0.005
    assert result.model is not None
    weights = [m.weight for m in result.model.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    assert abs(zeros / total - rate) <= 0.005
    assert result.curve[-1]["sparsity"] == pytest.approx(rate)


def test_sparsity_rises_gradually_and_the_mask_is_kept(task: Task) -> None:
    result = train(task, Strategy(epochs=10, prune_rate=0.8), device="cpu")
    rates = [point["sparsity"] for point in result.curve]
    assert rates == sorted(rates)
    assert rates[0] < 0.8 and 0.0 < rates[2] < 0.8
    assert rates[-3:] == pytest.approx([0.8, 0.8, 0.8])  # the mask is kept to the end
    assert abs(result.sparsity - 0.8) <= 0.005


@pytest.mark.parametrize("bits", [2, 4])
def test_quantization_keeps_pruned_weights_at_zero(task: Task, bits: int) -> None:
    result = train(task, Strategy(epochs=3, prune_rate=0.5, bits=bits), device="cpu")
    assert result.sparsity >= 0.5 - 0.005


def test_no_pruning_leaves_weights_dense(task: Task) -> None:
    result = train(task, Strategy(epochs=1), device="cpu")
    assert result.sparsity == 0.0
    assert result.nonzero_params == result.params


class Mixed(torch.nn.Module):
    """Every kind of layer a user model holds; only Linear and Conv1d/2d/3d are prunable."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(20, 8)
        self.conv1 = torch.nn.Conv1d(8, 6, 3)
        self.conv3 = torch.nn.Conv3d(2, 3, 2)
        self.norm = torch.nn.LayerNorm(6)
        self.attn = torch.nn.MultiheadAttention(6, 2)  # in_proj packed, out_proj a subclass
        self.head = torch.nn.Linear(6, 4)


def numpy_masks(weights: list[torch.Tensor], sparsity: float) -> np.ndarray:
    flat = np.concatenate([w.detach().abs().flatten().numpy() for w in weights])
    expected = np.ones(flat.size)
    expected[np.argsort(flat, kind="stable")[: round(sparsity * flat.size)]] = 0.0
    return expected


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_masks_over_a_mixed_model_cover_exactly_linear_and_conv_weights(sparsity: float) -> None:
    torch.manual_seed(4)
    model = Mixed()
    assert [name for name, _ in named_prunable_layers(model)] == ["conv1", "conv3", "head"]
    expected_set = [model.conv1.weight, model.conv3.weight, model.head.weight]
    weights = prunable_weights(model)
    assert all(w is e for w, e in zip(weights, expected_set, strict=True))
    untouched = {
        name: p.detach().clone()
        for name, p in model.named_parameters()
        if not any(p is w for w in expected_set)
    }
    assert "attn.out_proj.weight" in untouched and "attn.in_proj_weight" in untouched
    expected = numpy_masks(expected_set, sparsity)
    pruner = MagnitudePruner(weights, target=sparsity, begin=0, end=0, frequency=1)
    pruner.after_step(0)
    got = np.concatenate([(w.detach() != 0).flatten().numpy() for w in expected_set])
    np.testing.assert_array_equal(got.astype(float), expected)
    for name, p in model.named_parameters():
        if name in untouched:  # embeddings, norms, biases, attention: never pruned
            assert torch.equal(p.detach(), untouched[name]), name


def test_the_prunable_filter_excludes_what_it_names() -> None:
    torch.manual_seed(5)
    model = Mixed()

    def no_head_no_3d(name: str, module: torch.nn.Module) -> bool:
        return name != "head" and not isinstance(module, torch.nn.Conv3d)

    selected = prunable_weights(model, select=no_head_no_3d)
    assert len(selected) == 1 and selected[0] is model.conv1.weight
    masks = global_magnitude_masks(selected, 0.5)
    np.testing.assert_array_equal(
        masks[0].flatten().numpy(), numpy_masks([model.conv1.weight], 0.5)
    )
