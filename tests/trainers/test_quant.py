"""Quantization-aware training: NumPy oracle, straight-through gradient, distinct values."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from paretune.trainers import (
    BIT_WIDTHS,
    QuantConv1d,
    QuantConv2d,
    QuantConv3d,
    QuantLinear,
    Strategy,
    Task,
    bake_quantization,
    fake_quantize,
    get_task,
    prepare_quantization,
    quantize_weight,
    train,
)

QUANTIZED = [b for b in BIT_WIDTHS if b < 32]


def numpy_quantize(w: np.ndarray, bits: int) -> np.ndarray:
    qmax = 2 ** (bits - 1) - 1
    rows = w.reshape(w.shape[0], -1)
    scale = np.abs(rows).max(axis=1, keepdims=True) / qmax
    scale[scale == 0] = 1.0
    return (np.clip(np.round(rows / scale), -qmax, qmax) * scale).reshape(w.shape)


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("synthetic", options={"n_samples": 300})


@pytest.mark.parametrize("bits", QUANTIZED)
def test_quantizer_matches_a_numpy_reference(bits: int) -> None:
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(bits))
    w[2] = 0.0  # an all-zero channel stays zero
    np.testing.assert_allclose(
        quantize_weight(w, bits).numpy(), numpy_quantize(w.numpy(), bits), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("bits", [b for b in QUANTIZED if b <= 8])
def test_fused_cuda_kernel_path_matches_the_reference(bits: int) -> None:
    from paretune.trainers import fused_fake_quantize

    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(bits), requires_grad=True)
    torch.testing.assert_close(fused_fake_quantize(w, bits), quantize_weight(w.detach(), bits))
    upstream = torch.randn(8, 4, 3, 3)
    (fused_fake_quantize(w, bits) * upstream).sum().backward()
    assert w.grad is not None
    torch.testing.assert_close(w.grad, upstream)


def test_straight_through_gradient_is_the_identity() -> None:
    w = torch.randn(4, 5, requires_grad=True)
    upstream = torch.randn(4, 5)
    (fake_quantize(w, 3) * upstream).sum().backward()
    assert w.grad is not None
    torch.testing.assert_close(w.grad, upstream)


def test_prepare_swaps_layers_and_shares_parameters() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 3))
    weight = model[0].weight
    prepare_quantization(model, bits=4, act_bits=8)
    assert isinstance(model[0], QuantConv2d) and isinstance(model[2], QuantLinear)
    assert model[0].weight is weight and (model[0].weight_bits, model[0].act_bits) == (4, 8)
    float_model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert type(prepare_quantization(float_model, bits=32, act_bits=None)[0]) is torch.nn.Linear


@pytest.mark.parametrize("bits", QUANTIZED)
def test_trained_weights_take_at_most_2_to_the_bits_values_per_channel(
    task: Task, bits: int
) -> None:
    result = train(task, Strategy(epochs=1, bits=bits), device="cpu", keep_model=True)
    assert result.model is not None
    layers = [m for m in result.model.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and all(isinstance(m, QuantLinear) for m in layers)
    for layer in layers:
        for channel in layer.weight.detach():
            assert len(torch.unique(channel)) <= 2**bits
        # really quantized: one scale per channel explains every value as an integer multiple
        torch.testing.assert_close(layer.weight.detach(), quantize_weight(layer.weight, bits))
    assert result.size_bits == pytest.approx(
        sum(int((m.weight != 0).sum()) * bits + m.bias.numel() * 32 for m in layers)
    )


def test_float_training_has_many_distinct_values(task: Task) -> None:
    result = train(task, Strategy(epochs=1), device="cpu", keep_model=True)
    assert result.model is not None
    first = next(m for m in result.model.modules() if isinstance(m, torch.nn.Linear))
    assert len(torch.unique(first.weight.detach())) > 2**8


def test_activation_quantization_limits_layer_inputs() -> None:
    model = prepare_quantization(torch.nn.Sequential(torch.nn.Linear(50, 1)), bits=32, act_bits=2)
    layer = model[0]
    x = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    # with 2-bit activations the input becomes {-s, 0, s}, s = max|x|: recompute from that
    scale = x.abs().max()
    xq = torch.round(x / scale).clamp(-1, 1) * scale
    expected = torch.nn.functional.linear(xq, layer.weight, layer.bias)
    torch.testing.assert_close(layer(x), expected)


def test_act_bits_change_training_and_bitops(task: Task) -> None:
    plain = train(task, Strategy(epochs=1, bits=8), device="cpu")
    act = train(task, Strategy(epochs=1, bits=8, act_bits=4), device="cpu", keep_model=True)
    assert act.model is not None
    layers = [m for m in act.model.modules() if isinstance(m, torch.nn.Linear)]
    nonzero = sum(int((m.weight != 0).sum()) for m in layers)  # an MLP uses each weight once
    assert act.bitops == nonzero * 8 * 4
    assert act.curve[0]["train_loss"] != plain.curve[0]["train_loss"]


def test_bake_writes_quantized_values_once() -> None:
    model = prepare_quantization(torch.nn.Sequential(torch.nn.Linear(4, 3)), bits=3, act_bits=None)
    expected = quantize_weight(model[0].weight, 3)
    bake_quantization(model)
    torch.testing.assert_close(model[0].weight.detach(), expected)
    assert model[0].weight_bits is None


CONVS = [
    (torch.nn.Conv1d(3, 4, 3, padding=1), (2, 3, 9), torch.nn.functional.conv1d),
    (torch.nn.Conv2d(3, 4, 3, stride=2), (2, 3, 7, 7), torch.nn.functional.conv2d),
    (torch.nn.Conv3d(3, 4, 2, groups=1), (2, 3, 4, 5, 3), torch.nn.functional.conv3d),
]


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize(("conv", "shape", "functional"), CONVS)
def test_conv_qat_matches_the_numpy_quantizer_and_passes_the_gradient_straight(
    conv: torch.nn.Module, shape: tuple[int, ...], functional: Any, bits: int
) -> None:
    generator = torch.Generator().manual_seed(bits)
    layer = copy.deepcopy(conv)
    weight = layer.weight
    prepare_quantization(layer, bits=bits, act_bits=None)
    assert type(layer).__name__ == "Quant" + type(conv).__name__ and layer.weight is weight
    x = torch.randn(*shape, generator=generator)
    upstream_out = layer(x)
    # oracle: the float convolution with the NumPy-quantized weight as a leaf of its own
    quantized = torch.tensor(numpy_quantize(weight.detach().numpy(), bits), requires_grad=True)
    expected = functional(x, quantized, layer.bias, layer.stride, layer.padding)
    torch.testing.assert_close(upstream_out, expected, rtol=1e-5, atol=1e-6)
    upstream = torch.randn(expected.shape, generator=generator)
    (upstream_out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    assert weight.grad is not None and quantized.grad is not None
    torch.testing.assert_close(weight.grad, quantized.grad)  # straight through the rounding


@pytest.mark.parametrize("bits", [b for b in QUANTIZED if b <= 8])
@pytest.mark.parametrize("shape", [(6, 3, 5), (6, 2, 3, 3, 3)])
def test_fused_kernel_path_matches_the_reference_for_conv1d_and_conv3d_weights(
    shape: tuple[int, ...], bits: int
) -> None:
    from paretune.trainers import fused_fake_quantize

    w = torch.randn(*shape, generator=torch.Generator().manual_seed(bits))
    np.testing.assert_allclose(
        fused_fake_quantize(w, bits).numpy(), numpy_quantize(w.numpy(), bits), rtol=1e-6, atol=1e-6
    )


def test_bake_and_activation_bits_for_conv1d_and_conv3d() -> None:
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.Conv3d(1, 2, 2))
    prepare_quantization(model, bits=3, act_bits=4)
    assert isinstance(model[0], QuantConv1d) and isinstance(model[1], QuantConv3d)
    expected = [quantize_weight(layer.weight, 3) for layer in model]
    bake_quantization(model)
    for layer, weight in zip(model, expected, strict=True):
        torch.testing.assert_close(layer.weight.detach(), weight)
        assert (layer.weight_bits, layer.act_bits) == (None, 4)
    x = torch.randn(2, 2, 6, generator=torch.Generator().manual_seed(0))
    scale = x.abs().max() / 7
    xq = torch.round(x / scale) * scale
    torch.testing.assert_close(
        model[0](x), torch.nn.functional.conv1d(xq, model[0].weight, model[0].bias)
    )


def test_class_swap_keeps_hooks_buffers_and_the_root_layer() -> None:
    layer = torch.nn.Conv1d(2, 2, 1)
    seen: list[int] = []
    layer.register_forward_hook(lambda module, args, out: seen.append(1))
    layer.register_buffer("scale_hint", torch.ones(1))
    quantized = prepare_quantization(layer, bits=4, act_bits=None)
    assert quantized is layer and isinstance(layer, QuantConv1d)
    layer(torch.zeros(1, 2, 3))
    assert seen == [1] and "scale_hint" in dict(layer.named_buffers())


def test_transformer_fast_path_still_sees_the_quantized_weights() -> None:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
    x = torch.randn(3, 5, 8)
    prepare_quantization(layer, bits=2, act_bits=None)
    with torch.no_grad():  # eval + no grad: PyTorch would take its fused fast path
        fast = layer(x)
    torch.testing.assert_close(fast, layer(x))  # same as the plain (grad-enabled) path
