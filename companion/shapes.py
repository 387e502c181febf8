"""Parameter counts and layer-by-layer output shapes.

- :func:`conv2d_parameters`: ``O * (C / groups) * kh * kw`` weights (+ ``O`` biases);
  every filter spans all the input channels of its group.
- :func:`depthwise_separable_parameters`: a depthwise ``k x k`` convolution
  (``groups = C``) followed by a pointwise ``1 x 1`` one.
- :func:`dense_parameters`: ``in * out`` weights (+ ``out`` biases).
- :func:`count_parameters`: the numbers a built model actually holds, the
  ground truth for the formulas above.
- :func:`trace_shapes` runs a model once and records every leaf layer's output
  shape and parameter count; :func:`format_shape_table` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from companion._checks import require_int, require_int_pair


def conv2d_parameters(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], groups: int = 1, bias: bool = True) -> int:
    """Learnable numbers in ``nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups, bias=bias)``."""
    c = require_int(in_channels, "in_channels")
    o = require_int(out_channels, "out_channels")
    g = require_int(groups, "groups")
    kh, kw = require_int_pair(kernel_size, "kernel_size")
    if c % g or o % g:
        raise ValueError(f"groups={g} must divide in_channels={c} and out_channels={o}")
    return o * (c // g) * kh * kw + (o if bias else 0)


def depthwise_separable_parameters(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True) -> int:
    """A depthwise ``kernel_size`` convolution (one filter per channel) then a 1x1 convolution to ``out_channels``."""
    depthwise = conv2d_parameters(in_channels, in_channels, kernel_size, groups=in_channels, bias=bias)
    return depthwise + conv2d_parameters(in_channels, out_channels, 1, bias=bias)


def dense_parameters(in_features: int, out_features: int, bias: bool = True) -> int:
    """Learnable numbers in ``nn.Linear(in_features, out_features, bias=bias)``."""
    i = require_int(in_features, "in_features")
    o = require_int(out_features, "out_features")
    return i * o + (o if bias else 0)


def count_parameters(model: nn.Module) -> int:
    """Numbers held in ``model``'s parameters, frozen ones included (as ``nn.Module.parameters`` lists them)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class LayerShape:
    """One row of a shape trace."""

    name: str  # the module's name in the model ("0", "features.conv1", ...)
    kind: str  # its class name ("Conv1d", "MaxPool1d", ...)
    output_shape: tuple[int, ...]
    parameters: int


def trace_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Run ``model`` once on zeros of ``input_shape`` and record each leaf module's output.

    The input is created on the model's device (the CPU for a model without
    parameters); the model is run in eval mode without gradients.

    Returns:
        one :class:`LayerShape` per call of a leaf module, in execution order.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(input_shape, tuple) or not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise ValueError(f"input_shape must be a tuple of positive ints, batch first; got {input_shape!r}")
    rows: list[LayerShape] = []

    def record(name: str):
        def hook(module: nn.Module, inputs, output) -> None:
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerShape(name, type(module).__name__, tuple(output.shape), params))

        return hook

    leaves = [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(record(name or type(m).__name__)) for name, m in leaves]
    param = next(model.parameters(), None)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, device=param.device if param is not None else "cpu"))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def format_shape_table(rows: list[LayerShape], input_shape: tuple[int, ...]) -> str:
    """A fixed-width table of a trace, with the input first and a parameter total last."""
    lines = [f"{'layer':<12}{'type':<18}{'output shape':<24}{'parameters':>12}",
             f"{'input':<12}{'':<18}{str(input_shape):<24}{'':>12}"]
    for row in rows:
        lines.append(f"{row.name:<12}{row.kind:<18}{str(row.output_shape):<24}{row.parameters:>12,}")
    lines.append(f"{'total':<12}{'':<18}{'':<24}{sum(r.parameters for r in rows):>12,}")
    return "\n".join(lines)
