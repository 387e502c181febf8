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

import numpy as np
import torch
from torch import nn

from companion._checks import _type_name, require_bool, require_int, require_int_pair


def conv2d_parameters(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], groups: int = 1, bias: bool = True) -> int:
    """Learnable numbers in ``nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups, bias=bias)``."""
    c = require_int(in_channels, "in_channels")
    o = require_int(out_channels, "out_channels")
    g = require_int(groups, "groups")
    kh, kw = require_int_pair(kernel_size, "kernel_size")
    bias = require_bool(bias, "bias")
    if c % g or o % g:
        raise ValueError(f"groups={g} must divide in_channels={c} and out_channels={o}")
    return o * (c // g) * kh * kw + (o if bias else 0)


def depthwise_separable_parameters(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True) -> int:
    """A depthwise ``kernel_size`` convolution (one filter per channel) then a 1x1 convolution to ``out_channels``."""
    in_channels = require_int(in_channels, "in_channels")
    depthwise = conv2d_parameters(in_channels, in_channels, kernel_size, groups=in_channels, bias=bias)
    return depthwise + conv2d_parameters(in_channels, out_channels, 1, bias=bias)


def dense_parameters(in_features: int, out_features: int, bias: bool = True) -> int:
    """Learnable numbers in ``nn.Linear(in_features, out_features, bias=bias)``."""
    i = require_int(in_features, "in_features")
    o = require_int(out_features, "out_features")
    bias = require_bool(bias, "bias")
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


def _first_tensor(output: object) -> torch.Tensor | None:
    """A layer's main output: the tensor itself, or the first tensor of a tuple (``nn.LSTM`` returns ``(out, (h, c))``)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _input_dtype(model: nn.Module, leaves: list[tuple[str, nn.Module]]) -> torch.dtype:
    """Integer indices for a model that starts with an embedding, else the dtype of its first floating parameter."""
    if leaves and isinstance(leaves[0][1], (nn.Embedding, nn.EmbeddingBag)):
        return torch.int64
    floating = [p.dtype for p in model.parameters() if p.is_floating_point()]
    return floating[0] if floating else torch.get_default_dtype()


def trace_shapes(model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype | None = None) -> list[LayerShape]:
    """Run ``model`` once on zeros of ``input_shape`` and record each leaf module's output.

    The input is created on the model's device (the CPU for a model without
    parameters) with ``dtype``: by default int64 indices when the first layer
    is an ``nn.Embedding``, otherwise the dtype of the model's parameters
    (float64 for a float64 model). The model is run in eval mode without gradients.
    For a layer that returns several tensors (``nn.LSTM``: output and ``(h, c)``)
    the shape recorded is the first one's.

    Returns:
        one :class:`LayerShape` per call of a leaf module, in execution order. A
        module called twice (weights shared) has two rows; its parameters are
        counted in the first only, so the rows sum to the model's parameter count.
    Raises:
        ValueError: the model fails on that input (the message names the layer's error).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(input_shape, tuple) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        raise ValueError(f"input_shape must be a tuple of positive ints, batch first; got {input_shape!r}")
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype or None; got {_type_name(dtype)} {dtype!r}")
    input_shape = tuple(int(d) for d in input_shape)
    rows: list[LayerShape] = []
    counted: set[int] = set()  # modules whose parameters a row already holds

    def record(name: str):
        def hook(module: nn.Module, inputs, output) -> None:
            params = 0 if id(module) in counted else sum(p.numel() for p in module.parameters(recurse=False))
            counted.add(id(module))
            main = _first_tensor(output)
            rows.append(LayerShape(name, type(module).__name__, () if main is None else tuple(main.shape), params))

        return hook

    leaves = [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]
    dtype = _input_dtype(model, leaves) if dtype is None else dtype
    handles = [m.register_forward_hook(record(name or type(m).__name__)) for name, m in leaves]
    param = next(model.parameters(), None)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            x = torch.zeros(input_shape, dtype=dtype, device=param.device if param is not None else "cpu")
            try:
                model(x)
            except (RuntimeError, ValueError, TypeError, IndexError) as error:
                raise ValueError(
                    f"model failed on zeros of input_shape {input_shape} and dtype {dtype} "
                    f"(pass the shape, and dtype=, that its first layer takes): {type(error).__name__}: {error}"
                ) from error
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def format_shape_table(rows: list[LayerShape], input_shape: tuple[int, ...]) -> str:
    """A fixed-width table of a trace, with the input first and a parameter total last."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(row, LayerShape) for row in rows):
        raise TypeError(f"rows must be a list of LayerShape, as trace_shapes returns; got {_type_name(rows)}")
    if not isinstance(input_shape, tuple):
        raise TypeError(f"input_shape must be a tuple; got {_type_name(input_shape)} {input_shape!r}")
    lines = [f"{'layer':<12}{'type':<18}{'output shape':<24}{'parameters':>12}",
             f"{'input':<12}{'':<18}{str(input_shape):<24}{'':>12}"]
    for row in rows:
        lines.append(f"{row.name:<12}{row.kind:<18}{str(row.output_shape):<24}{row.parameters:>12,}")
    lines.append(f"{'total':<12}{'':<18}{'':<24}{sum(r.parameters for r in rows):>12,}")
    return "\n".join(lines)
