"""Quantization-aware training: symmetric per-output-channel weights, per-tensor activations.

The quantized layers are the prunable ones (``nn.Linear`` and ``nn.Conv1d/2d/3d``, see
:func:`~paretune.trainers.named_prunable_layers`). Weights of ``b`` bits are rounded to
``scale * q`` with integer ``q`` in ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` and one
``scale = max|w| / (2**(b-1) - 1)`` per output channel, so a channel takes at most
``2**b - 1`` distinct values (zero included, which keeps pruned weights at zero). The rounding
is skipped in the backward pass (straight-through estimator). Activations, when ``act_bits``
is set, are quantized the same way per tensor at the input of every quantized layer, with a
dynamic scale.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ._layers import LayerFilter, QuantizedLayer, named_prunable_layers

__all__ = [
    "QuantConv1d",
    "QuantConv2d",
    "QuantConv3d",
    "QuantLinear",
    "bake_quantization",
    "fake_quantize",
    "fused_fake_quantize",
    "prepare_quantization",
    "quantize_weight",
]


def quantize_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """``weight`` rounded to ``bits`` bits per output channel (dim 0), no gradient trick.

    Examples:
        >>> w = torch.tensor([[0.1, -0.4, 0.35], [1.0, 0.6, 0.2]])
        >>> quantize_weight(w, 2)
        tensor([[ 0.0000, -0.4000,  0.4000],
                [ 1.0000,  1.0000,  0.0000]])
    """
    qmax = 2 ** (bits - 1) - 1
    reduce_dims = tuple(range(1, weight.dim()))
    scale = weight.detach().abs().amax(dim=reduce_dims, keepdim=True).div_(qmax)
    scale = scale.clamp_min_(torch.finfo(weight.dtype).tiny)
    # |weight / scale| <= qmax by construction of scale, so no clamping is needed.
    return torch.round(weight.detach() / scale).mul_(scale)


def _quantize_tensor(x: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    scale = x.detach().abs().amax().div_(qmax).clamp_min_(torch.finfo(x.dtype).tiny)
    return torch.round(x.detach() / scale).mul_(scale)


class _StraightThrough(torch.autograd.Function):
    """Quantize forward, pass the gradient unchanged backward (one autograd node)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
        return quantize_weight(x, bits) if per_channel else _quantize_tensor(x, bits)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return grad, None, None


def fake_quantize(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantized values forward, identity gradient backward (straight-through estimator).

    On CUDA this is one fused kernel (``torch.fake_quantize_per_channel_affine``, fewer
    launches); on the CPU the plain rounding of :func:`quantize_weight` is faster. No weight
    falls outside the range, so the gradient passes whole.

    Examples:
        >>> w = torch.tensor([[0.3, -0.9]], requires_grad=True)
        >>> fake_quantize(w, 2).sum().backward()
        >>> w.grad
        tensor([[1., 1.]])
    """
    if not weight.is_cuda:
        out: torch.Tensor = _StraightThrough.apply(weight, bits, True)  # type: ignore[no-untyped-call]
        return out
    return fused_fake_quantize(weight, bits)


def fused_fake_quantize(weight: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    reduce_dims = tuple(range(1, weight.dim()))
    scale = (weight.detach().abs().amax(dim=reduce_dims) / qmax).float()
    scale = scale.clamp_min(torch.finfo(torch.float32).tiny)
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -qmax, qmax)


def _fake_quantize_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    if not x.is_cuda:
        out: torch.Tensor = _StraightThrough.apply(x, bits, False)  # type: ignore[no-untyped-call]
        return out
    scale = (x.detach().abs().amax().float() / qmax).clamp_min(torch.finfo(torch.float32).tiny)
    zero = torch.zeros((), dtype=torch.int32, device=x.device)
    if x.dtype != torch.float32:  # the fused kernel wants float32 (autocast gives bfloat16)
        return torch.fake_quantize_per_tensor_affine(x.float(), scale, zero, -qmax, qmax).to(
            x.dtype
        )
    return torch.fake_quantize_per_tensor_affine(x, scale, zero, -qmax, qmax)


def _quantized_operands(
    x: torch.Tensor, weight: torch.Tensor, weight_bits: int | None, act_bits: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input and weight a quantized layer computes with (``None`` bits: left in float)."""
    if act_bits is not None:
        x = _fake_quantize_activation(x, act_bits)
    if weight_bits is not None:
        weight = fake_quantize(weight, weight_bits)
    return x, weight


class QuantLinear(QuantizedLayer, nn.Linear):
    """``nn.Linear`` whose weights (``weight_bits``) and inputs (``act_bits``) are fake-quantized.

    ``None`` leaves that side in float.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = _quantized_operands(x, self.weight, self.weight_bits, self.act_bits)
        return F.linear(x, weight, self.bias)


class QuantConv1d(QuantizedLayer, nn.Conv1d):
    """``nn.Conv1d`` whose weights (``weight_bits``) and inputs (``act_bits``) are fake-quantized.

    ``None`` leaves that side in float.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = _quantized_operands(x, self.weight, self.weight_bits, self.act_bits)
        out: torch.Tensor = self._conv_forward(x, weight, self.bias)
        return out


class QuantConv2d(QuantizedLayer, nn.Conv2d):
    """``nn.Conv2d`` whose weights (``weight_bits``) and inputs (``act_bits``) are fake-quantized.

    ``None`` leaves that side in float.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = _quantized_operands(x, self.weight, self.weight_bits, self.act_bits)
        out: torch.Tensor = self._conv_forward(x, weight, self.bias)
        return out


class QuantConv3d(QuantizedLayer, nn.Conv3d):
    """``nn.Conv3d`` whose weights (``weight_bits``) and inputs (``act_bits``) are fake-quantized.

    ``None`` leaves that side in float.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = _quantized_operands(x, self.weight, self.weight_bits, self.act_bits)
        out: torch.Tensor = self._conv_forward(x, weight, self.bias)
        return out


_QuantLayer = QuantLinear | QuantConv1d | QuantConv2d | QuantConv3d
#: The quantized twin of each layer type of ``LAYER_TYPES``.
_TWINS: dict[type[nn.Module], type[_QuantLayer]] = {
    nn.Linear: QuantLinear,
    nn.Conv1d: QuantConv1d,
    nn.Conv2d: QuantConv2d,
    nn.Conv3d: QuantConv3d,
}


def prepare_quantization(
    model: nn.Module, *, bits: int, act_bits: int | None, select: LayerFilter | None = None
) -> nn.Module:
    """Turn every prunable layer of ``model`` into its quantized twin, in place.

    The prunable layers are those of :func:`named_prunable_layers` (``nn.Linear`` and
    ``nn.Conv1d/2d/3d``, narrowed by ``select``). Each keeps its identity, parameters, buffers
    and hooks: only its class changes (``nn.Conv1d`` -> :class:`QuantConv1d` …), so the model
    itself may be a single layer. ``bits == 32`` leaves weights in float; ``act_bits`` of
    ``None`` or 32 leaves activations in float.

    Examples:
        >>> model = prepare_quantization(nn.Sequential(nn.Linear(3, 2)), bits=4, act_bits=None)
        >>> type(model[0]).__name__, model[0].weight_bits
        ('QuantLinear', 4)
        >>> type(prepare_quantization(nn.Conv3d(1, 2, 3), bits=8, act_bits=8)).__name__
        'QuantConv3d'
    """
    weight_bits = None if bits >= 32 else bits
    activation_bits = None if act_bits is None or act_bits >= 32 else act_bits
    if weight_bits is None and activation_bits is None:
        return model
    for name, layer in named_prunable_layers(model, select=select):
        if not isinstance(layer, QuantizedLayer):
            # the twin adds no state and only overrides forward: a class swap is exact
            layer.__class__ = _TWINS[type(layer)]
            parent = model.get_submodule(name.rpartition(".")[0]) if name else None
            if isinstance(parent, nn.TransformerEncoderLayer):
                # Its inference fast path reads linear1 / linear2's weights directly, skipping
                # the quantized forward; PyTorch takes the plain path when a child has a hook.
                layer.register_forward_hook(_keep_module_forward)
        quant: QuantizedLayer = layer  # type: ignore[assignment]
        quant.weight_bits = weight_bits
        quant.act_bits = activation_bits
    return model


def _keep_module_forward(module: nn.Module, args: Any, output: torch.Tensor) -> None:
    """A forward hook that does nothing: its presence turns PyTorch's fused fast paths off."""


@torch.no_grad()
def bake_quantization(model: nn.Module) -> None:
    """Write the quantized weights into the parameters and stop fake-quantizing them.

    Afterwards each output channel of a quantized layer really holds at most ``2**bits``
    distinct values; activation quantization (``act_bits``) stays active.
    """
    for module in model.modules():
        if isinstance(module, _QuantLayer) and module.weight_bits is not None:
            module.weight.copy_(quantize_weight(module.weight, module.weight_bits))
            module.weight_bits = None
