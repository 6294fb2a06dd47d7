"""Pruning, QAT and cost on user models: sequences, Conv1d, a transformer layer, embeddings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from paretune.trainers import (
    DataSplits,
    QuantConv1d,
    QuantLinear,
    Strategy,
    Task,
    evaluate,
    export_model,
    load_exported,
    named_prunable_layers,
    prepare_quantization,
    quantize_weight,
    train,
)
from torch import nn

LENGTH, CHANNELS, CLASSES, VOCAB, TOKENS = 16, 4, 3, 12, 10


def _splits(x: torch.Tensor, y: torch.Tensor) -> DataSplits:
    return DataSplits(
        x_train=x[:200], y_train=y[:200], x_val=x[200:250], y_val=y[200:250],
        x_test=x[250:], y_test=y[250:],
    )  # fmt: skip


def sequence_data() -> DataSplits:
    """300 sequences of 4 channels x 16 steps; the label is the channel with the largest sum."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, CHANNELS, LENGTH, generator=generator)
    return _splits(x, x[:, :CLASSES].sum(dim=2).argmax(dim=1))


def token_data() -> DataSplits:
    """300 sequences of 10 tokens; the label is the most frequent of tokens 0, 1, 2."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, VOCAB, (300, TOKENS), generator=generator)
    counts = torch.stack([(x == token).sum(dim=1) for token in range(CLASSES)], dim=1)
    return _splits(x, counts.argmax(dim=1))


class SequenceCNN(nn.Module):
    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(CHANNELS, 8, 3, padding=1)  # uses per weight: 16
        self.conv2 = nn.Conv1d(8, 8, 3)  # 14
        self.head = nn.Linear(8, CLASSES)  # 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(x.mean(dim=2))  # type: ignore[no-any-return]


class TinyTransformer(nn.Module):
    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.encoder = nn.TransformerEncoderLayer(16, 2, 32, dropout=dropout, batch_first=True)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))  # type: ignore[no-any-return]


class BagOfEmbeddings(nn.Module):
    """Nothing prunable: the logits are mean token embeddings."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embed(tokens).mean(dim=1)  # type: ignore[no-any-return]


def make_task(
    name: str,
    model: Callable[[float], nn.Module],
    data: Callable[[], DataSplits],
    prunable: Callable[[str, nn.Module], bool] | None = None,
) -> Task:
    """A user task with no ``input_shape``: its cost is measured on its data."""
    return Task(
        name=name, build_model=model, load_data=data, num_classes=CLASSES, prunable=prunable
    )


def prunable_and_other(model: nn.Module, names: set[str]) -> tuple[list[torch.Tensor], int]:
    """The weights of the named layers and the count of every other parameter."""
    modules = dict(model.named_modules())
    weights = [modules[name].weight for name in sorted(names)]
    other = sum(p.numel() for p in model.parameters()) - sum(w.numel() for w in weights)
    return weights, other


def test_conv1d_sequence_model_is_pruned_quantized_and_costed(tmp_path: Path) -> None:
    task = make_task("sequences", SequenceCNN, sequence_data)
    strategy = Strategy(epochs=4, batch_size=32, lr=0.01, prune_rate=0.5, bits=4)
    result = train(task, strategy, device="cpu", keep_model=True)
    assert result.status.value == "completed" and result.model is not None
    model = result.model
    assert isinstance(model.conv1, QuantConv1d) and isinstance(model.head, QuantLinear)
    weights, other = prunable_and_other(model, {"conv1", "conv2", "head"})
    nonzero = [int((w != 0).sum()) for w in weights]  # sorted: conv1, conv2, head
    total = sum(w.numel() for w in weights)
    assert result.sparsity == pytest.approx(1 - sum(nonzero) / total)
    assert abs(result.sparsity - 0.5) <= 0.005
    assert result.size_bits == sum(nonzero) * 4 + other * 32
    assert result.bitops == (nonzero[0] * 16 + nonzero[1] * 14 + nonzero[2]) * 4 * 32
    for weight in weights:
        torch.testing.assert_close(weight.detach(), quantize_weight(weight, 4))
    assert result.latency_ms > 0.0
    assert result.val_accuracy > 1 / CLASSES + 0.1  # it learned something
    folder = export_model(tmp_path / "model", result=result, task=task, onnx=False)
    exported = load_exported(folder, task=task)  # a task of this file: given, never imported
    assert evaluate(exported.network, task) == result.test_accuracy


def test_transformer_layer_prunes_its_feed_forward_and_keeps_the_rest_float() -> None:
    torch.manual_seed(0)
    model = TinyTransformer()
    names = [name for name, _ in named_prunable_layers(model)]
    assert names == ["encoder.linear1", "encoder.linear2", "head"]  # not attention's out_proj
    prepare_quantization(model, bits=4, act_bits=None)
    assert type(model.encoder.self_attn.out_proj).__name__ == "NonDynamicallyQuantizableLinear"

    task = make_task("tokens", TinyTransformer, token_data)
    result = train(task, Strategy(epochs=2, prune_rate=0.5, bits=4), device="cpu", keep_model=True)
    assert result.model is not None
    trained = result.model
    weights, other = prunable_and_other(trained, set(names))
    nonzero = sum(int((w != 0).sum()) for w in weights)
    assert abs(result.sparsity - 0.5) <= 0.005
    assert result.size_bits == nonzero * 4 + other * 32
    for weight in weights:
        for channel in weight.detach():
            assert len(torch.unique(channel)) <= 2**4
    float_weights = {
        "embed.weight": trained.embed.weight,
        "encoder.self_attn.in_proj_weight": trained.encoder.self_attn.in_proj_weight,
        "encoder.self_attn.out_proj.weight": trained.encoder.self_attn.out_proj.weight,
    }
    for name, weight in float_weights.items():  # never pruned, never quantized
        assert int((weight == 0).sum()) == 0, name
        assert not torch.allclose(weight.detach(), quantize_weight(weight, 8)), name
    norm = trained.encoder.norm1.weight.detach()  # trained in float, never pruned
    assert int((norm == 0).sum()) == 0 and len(torch.unique(norm)) == norm.numel()
    # bitops: the feed-forward layers work once per token, the head once per sample
    per_weight = {"encoder.linear1": TOKENS, "encoder.linear2": TOKENS, "head": 1}
    modules = dict(trained.named_modules())
    expected = sum(int((modules[n].weight != 0).sum()) * u for n, u in per_weight.items())
    assert result.bitops == expected * 4 * 32


def test_the_task_filter_decides_what_is_pruned_and_quantized() -> None:
    task = make_task(
        "tokens", TinyTransformer, token_data, prunable=lambda name, module: name != "head"
    )
    result = train(task, Strategy(epochs=1, prune_rate=0.5, bits=4), device="cpu", keep_model=True)
    assert result.model is not None
    head = result.model.head
    assert type(head) is nn.Linear and int((head.weight == 0).sum()) == 0
    weights, other = prunable_and_other(result.model, {"encoder.linear1", "encoder.linear2"})
    nonzero = sum(int((w != 0).sum()) for w in weights)
    assert nonzero == round(0.5 * sum(w.numel() for w in weights))
    assert result.size_bits == nonzero * 4 + other * 32  # the head counted at 32 bits


@pytest.mark.parametrize(
    ("asks", "message"),
    [
        ({"prune_rate": 0.5}, "no prunable layer (Linear, Conv1d, Conv2d, Conv3d) but the "
         "strategy asks prune_rate=0.5."),
        ({"bits": 4}, "no quantizable layer (Linear, Conv1d, Conv2d, Conv3d) but the strategy "
         "asks bits=4."),
        ({"act_bits": 8}, "no quantizable layer (Linear, Conv1d, Conv2d, Conv3d) but the "
         "strategy asks act_bits=8."),
        ({"l1": 1e-4}, "no prunable layer (Linear, Conv1d, Conv2d, Conv3d) but the strategy "
         "asks l1=0.0001."),
    ],
)  # fmt: skip
def test_nothing_prunable_is_a_clear_error_before_training(
    asks: dict[str, float], message: str
) -> None:
    task = make_task("bag", BagOfEmbeddings, token_data)
    with pytest.raises(ValueError) as error:
        train(task, Strategy(epochs=1, **asks), device="cpu")  # type: ignore[arg-type]
    assert str(error.value) == f"Task 'bag' has {message}"


def test_nothing_prunable_trains_in_float_and_counts_32_bits() -> None:
    task = make_task("bag", BagOfEmbeddings, token_data)
    result = train(task, Strategy(epochs=1), device="cpu")
    assert (result.size_bits, result.bitops, result.sparsity) == (VOCAB * CLASSES * 32, 0.0, 0.0)


def test_a_filter_that_keeps_nothing_names_itself() -> None:
    task = make_task("sequences", SequenceCNN, sequence_data, prunable=lambda name, m: False)
    with pytest.raises(ValueError, match="no prunable layer .* chosen by its 'prunable' filter"):
        train(task, Strategy(epochs=1, prune_rate=0.5), device="cpu")


def test_task_rejects_a_filter_that_is_not_callable() -> None:
    task = make_task("sequences", SequenceCNN, sequence_data)
    with pytest.raises(ValueError, match="'prunable' parameter of Task must be a callable"):
        dataclasses.replace(task, prunable="head")
