"""Receptive fields of a stack of convolution and pooling layers: computed, and measured by autograd.

Along one spatial axis, a layer with kernel ``k``, stride ``s``, padding ``p``
and dilation ``d`` spans ``k_eff = d (k - 1) + 1`` input positions. Starting
from the input itself (``r = 1``, ``j = 1``, ``start = 0``), each layer ``l``
updates three numbers (Dumoulin and Visin, *A guide to convolution arithmetic*;
Araujo, Norris and Sim, *Computing receptive fields of CNNs*):

    r_l     = r_{l-1} + (k_eff - 1) * j_{l-1}          # size of one unit's field, in input pixels
    j_l     = j_{l-1} * s                              # jump: input pixels between neighbouring units
    start_l = start_{l-1} + ((k_eff - 1) / 2 - p) * j_{l-1}   # centre of unit 0's field

Unit ``i`` of layer ``l`` then sees the input pixels
``start_l + i * j_l - (r_l - 1) / 2`` to ``start_l + i * j_l + (r_l - 1) / 2``
(:func:`field_bounds`), clipped to the input: the part outside is padding.
Activations, batch normalisation and dropout act pixel by pixel and change none
of the three numbers.

The field is what *can* influence a unit. :func:`path_counts` measures it: it
copies the network with every weight set to 1, max-pooling replaced by a
pooling that adds its window and pixel-wise layers removed, so that no path is
cut or cancelled, and asks autograd for the gradient of one output unit: at
each input pixel, the number of paths that join it to the unit (largest near
the field's centre). :func:`gradient_footprint` keeps the pixels with a nonzero
count. The footprint never leaves the computed field,
and spans it exactly for a unit whose field lies inside the input when every
layer's windows end at the end of its input. Near the borders it can be
shorter: a window that reads padding (with dilation, padding can stand where
a real unit would widen the span), or the floor in the output-length formula
leaving a layer's last pixels unread. It fills its span without holes when
no layer is dilated and no stride exceeds its kernel.

- :class:`LayerSpec`, :func:`layer_specs`: one layer's geometry along one axis, given or read from a model.
- :func:`receptive_fields`: the recursion above, one :class:`ReceptiveField` per layer.
- :func:`field_bounds`: the first and last input pixel of given units.
- :func:`path_counts`: the number of paths from each input pixel to one unit (the measurement).
- :func:`gradient_footprint`: the pixels with at least one path.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from companion._checks import _type_name, is_integer, require_int

_CONVS = (nn.Conv1d, nn.Conv2d)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d)
_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d)
# Layers that act on each pixel (or each channel) alone: they leave the receptive field as it is.
_PIXELWISE = (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.BatchNorm1d, nn.BatchNorm2d,
)
_SPATIAL_DIMS = {nn.Conv1d: 1, nn.MaxPool1d: 1, nn.AvgPool1d: 1, nn.Conv2d: 2, nn.MaxPool2d: 2, nn.AvgPool2d: 2}


@dataclass(frozen=True)
class LayerSpec:
    """The geometry of one convolution or pooling layer along one spatial axis.

    ``padding`` is the padding *before* the first input pixel (the one that
    moves the field; padding after the last pixel changes only the output length).
    """

    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        for field, minimum in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
            object.__setattr__(self, field, require_int(getattr(self, field), field, minimum=minimum))
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str; got {_type_name(self.name)}")

    @property
    def extent(self) -> int:
        """Input positions the (dilated) kernel spans: ``dilation * (kernel_size - 1) + 1``."""
        return self.dilation * (self.kernel_size - 1) + 1


@dataclass(frozen=True)
class ReceptiveField:
    """The field of the units of one layer, along one axis, in input pixels.

    size: pixels between the first and the last input pixel a unit can see, both counted.
    jump: input pixels between the fields of two neighbouring units (the product of the strides so far).
    start: the centre of unit 0's field (an integer or a half-integer; negative when it lies in the padding).
    """

    name: str
    size: int
    jump: int
    start: float


def receptive_fields(layers: Sequence[LayerSpec]) -> list[ReceptiveField]:
    """The receptive field after each layer of a stack, from the recursion in the module docstring.

    Args:
        layers: the stack's layers along one axis, input first (:class:`LayerSpec`, or :func:`layer_specs`).
    Returns:
        one :class:`ReceptiveField` per layer, in order (an empty list for no layers: the
        input pixel itself, size 1, jump 1, start 0).
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of LayerSpec; got {_type_name(layers)}")
    for position, layer in enumerate(layers):
        if not isinstance(layer, LayerSpec):
            raise TypeError(f"layers must hold LayerSpec; got {_type_name(layer)} at position {position}")
    size, jump, start = 1, 1, 0.0
    fields = []
    for position, layer in enumerate(layers):
        # r_l = r + (k_eff - 1) j ;  start_l = start + ((k_eff - 1) / 2 - p) j ;  j_l = j s
        size, start, jump = size + (layer.extent - 1) * jump, start + ((layer.extent - 1) / 2 - layer.padding) * jump, jump * layer.stride
        fields.append(ReceptiveField(layer.name or str(position), size, jump, start))
    return fields


def field_bounds(field: ReceptiveField, index, input_size: int | None = None):
    """First and last input pixel (both included) seen by unit ``index`` of a layer.

    ``start + index * jump -/+ (size - 1) / 2``, exact integers. With ``input_size``,
    clipped to ``[0, input_size - 1]``: what lies outside is padding.

    Args:
        field: a :class:`ReceptiveField` from :func:`receptive_fields`.
        index: an int, or an integer NumPy array or tensor of unit positions (any shape).
        input_size: the input's length along this axis, or None for no clipping.
    Returns:
        ``(first, last)``: ints for an int ``index``, else int64 arrays or tensors of ``index``'s shape
        (and device).
    """
    if not isinstance(field, ReceptiveField):
        raise TypeError(f"field must be a ReceptiveField; got {_type_name(field)}")
    if isinstance(index, (torch.Tensor, np.ndarray)):
        if not is_integer(index):
            raise TypeError(f"index must hold integers; got dtype {index.dtype}")
        if index.size != 0 if isinstance(index, np.ndarray) else index.numel() != 0:
            if int(index.min()) < 0:
                raise ValueError(f"index must be >= 0; got a minimum of {int(index.min())}")
        index = index.long() if isinstance(index, torch.Tensor) else index.astype(np.int64)  # bounds may be negative
    else:
        index = require_int(index, "index", minimum=0)
    left = int(field.start - (field.size - 1) / 2)  # an exact integer: the half-integers cancel
    first, last = left + index * field.jump, left + field.size - 1 + index * field.jump
    if input_size is not None:
        input_size = require_int(input_size, "input_size")
        clip = (lambda v, lo, hi: min(max(v, lo), hi)) if isinstance(index, int) else (
            (lambda v, lo, hi: v.clamp(lo, hi)) if isinstance(index, torch.Tensor) else np.clip)
        first, last = clip(first, 0, input_size - 1), clip(last, 0, input_size - 1)
    return first, last


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]


def _spatial_dims(model: nn.Module) -> int:
    """1 or 2: the dimensionality of the model's convolutions and poolings (ValueError when mixed)."""
    dims = {_SPATIAL_DIMS[type(m)] for _, m in _leaves(model) if type(m) in _SPATIAL_DIMS}
    if len(dims) > 1:
        raise ValueError("model mixes 1-D and 2-D layers; its receptive field is not defined on one input")
    return dims.pop() if dims else 0


def _along(value, axis: int):
    return value[axis] if isinstance(value, tuple) else value


def layer_specs(model: nn.Module, axis: int = 0) -> list[LayerSpec]:
    """Read the geometry of each convolution and pooling layer of ``model`` along one spatial axis.

    The leaf modules are taken in the order they are registered, which is the order
    an ``nn.Sequential`` runs them. Conv1d/Conv2d (``padding="same"`` included),
    MaxPool1d/2d and AvgPool1d/2d give a :class:`LayerSpec` each, named as in
    the model; activations, batch normalisation and dropout are skipped (they act
    pixel by pixel).

    Args:
        model: an ``nn.Module`` built from the layers above.
        axis: which spatial axis: 0 (the length of a 1-D input, the height of a 2-D one) or 1 (the width).
    Raises:
        TypeError: a layer that is not one of those above (a Linear, a Flatten, a transposed convolution...).
        ValueError: 1-D and 2-D layers mixed, or an ``axis`` the layers do not have.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {_type_name(model)}")
    axis = require_int(axis, "axis", minimum=0, maximum=1)
    dims = _spatial_dims(model)
    if dims and axis >= dims:
        raise ValueError(f"axis must be < {dims} for a model of {dims}-D layers; got {axis}")
    specs = []
    for name, layer in _leaves(model):
        if isinstance(layer, _CONVS):
            if layer.padding_mode != "zeros":
                raise ValueError(f"model's {name!r} pads with {layer.padding_mode!r}; only zero padding is modelled")
            kernel, dilation = layer.kernel_size[axis], layer.dilation[axis]
            if isinstance(layer.padding, str):  # "valid", or "same": PyTorch pads d (k - 1) // 2 before
                padding = 0 if layer.padding == "valid" else dilation * (kernel - 1) // 2
            else:
                padding = layer.padding[axis]
            specs.append(LayerSpec(kernel, layer.stride[axis], padding, dilation, name))
        elif isinstance(layer, _MAX_POOLS + _AVG_POOLS):
            kernel = _along(layer.kernel_size, axis)
            stride = _along(layer.stride, axis) if layer.stride else kernel  # None or () means the kernel size
            dilation = _along(layer.dilation, axis) if isinstance(layer, _MAX_POOLS) else 1
            specs.append(LayerSpec(kernel, stride, _along(layer.padding, axis), dilation, name))
        elif not isinstance(layer, _PIXELWISE):
            raise TypeError(
                f"model holds a {type(layer).__name__} ({name!r}); layer_specs reads only Conv1d/2d, "
                "MaxPool1d/2d, AvgPool1d/2d and pixel-wise layers (activations, batch norm, dropout)"
            )
    return specs


class _Probe(nn.Module):
    """The network's geometry with every path positive: weights of 1, pools averaged, pixel-wise layers removed."""

    def __init__(self, model: nn.Module, dims: int) -> None:
        super().__init__()
        self.dims = dims
        self.layers = [layer for _, layer in _leaves(model) if not isinstance(layer, _PIXELWISE)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = F.conv1d if self.dims == 1 else F.conv2d
        for layer in self.layers:
            if isinstance(layer, _CONVS):
                weight = torch.ones(layer.weight.shape, dtype=x.dtype, device=x.device)
                x = conv(x, weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)
            else:  # a pool: a depthwise convolution with a kernel of ones has its geometry
                pair = (lambda v: v if isinstance(v, tuple) else (v,) * self.dims)
                kernel = pair(layer.kernel_size)
                stride = pair(layer.stride) if layer.stride else kernel
                dilation = pair(layer.dilation) if isinstance(layer, _MAX_POOLS) else (1,) * self.dims
                if layer.ceil_mode:
                    raise ValueError(f"model's pooling {layer} uses ceil_mode=True, which gradient_footprint does not model")
                channels = x.shape[1]
                weight = torch.ones((channels, 1, *kernel), dtype=x.dtype, device=x.device)
                x = conv(x, weight, None, stride, pair(layer.padding), dilation, channels)
        return x


def path_counts(model: nn.Module, input_shape: tuple[int, ...], unit: tuple[int, ...]) -> torch.Tensor:
    """How many paths join each input pixel to one output unit: the gradient with every weight set to 1.

    The model's convolutions and poolings are re-run in float64 on an input of ones,
    with every weight set to 1, no bias, max-pooling replaced by a pooling that
    adds its window (so every pixel of a window, not only the argmax, is on a path),
    and pixel-wise layers removed; then autograd takes the gradient of the output
    unit at channel 0 and spatial position ``unit`` with respect to the input, summed
    over the input's channels. Each path contributes a product of ones, so the gradient
    at a pixel is the number of paths (through every channel and kernel tap) that join
    it to the unit: largest at the field's centre, where most windows overlap.

    Args:
        model: as for :func:`layer_specs`; its device is used (the CPU for a model without parameters or
            on the ``meta`` device: only the layers' geometry is read, never their weights).
        input_shape: ``(C, L)`` for 1-D layers, ``(C, H, W)`` for 2-D ones (no batch axis).
        unit: the output unit's spatial position, ``(i,)`` or ``(i, j)``.
    Returns:
        a float64 tensor of the input's spatial shape, ``(L,)`` or ``(H, W)``: the path counts (whole numbers).
    """
    layer_specs(model)  # refuses layers that are not convolutions, poolings or pixel-wise
    dims = _spatial_dims(model)
    if not dims:  # only pixel-wise layers: the input's own rank decides
        dims = len(input_shape) - 1 if isinstance(input_shape, tuple) and len(input_shape) in (2, 3) else 2
    if not isinstance(input_shape, tuple) or len(input_shape) != dims + 1 or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        layout = "(C, L)" if dims == 1 else "(C, H, W)"
        raise ValueError(f"input_shape must be a tuple {layout} of positive ints for this model; got {input_shape!r}")
    if not isinstance(unit, tuple) or len(unit) != dims:
        raise ValueError(f"unit must be a tuple of {dims} spatial indices; got {unit!r}")
    unit = tuple(require_int(u, "unit", minimum=0) for u in unit)
    param = next(model.parameters(), None)
    device = param.device if param is not None and param.device.type != "meta" else torch.device("cpu")
    x = torch.ones((1, *(int(d) for d in input_shape)), dtype=torch.float64, device=device, requires_grad=True)
    try:
        y = _Probe(model, dims)(x)  # (1, O, *out)
    except RuntimeError as error:
        raise ValueError(f"input_shape {input_shape} does not fit model: {error}") from error
    out = tuple(y.shape[2:])
    if any(u >= size for u, size in zip(unit, out)):
        raise ValueError(f"unit must lie inside the output's spatial shape {out}; got {unit}")
    (grad,) = torch.autograd.grad(y[(0, 0, *unit)], x)
    return grad[0].sum(dim=0)  # (L,) or (H, W): paths through every input channel


def gradient_footprint(model: nn.Module, input_shape: tuple[int, ...], unit: tuple[int, ...]) -> torch.Tensor:
    """Which input pixels get a nonzero gradient from one output unit, with no path cut or cancelled.

    The pixels with at least one path to the unit (:func:`path_counts`): every path
    carries a positive product, so none can cancel, and the footprint is exactly the
    set of pixels connected to the unit: its receptive field (:func:`receptive_fields`).

    Args:
        model, input_shape, unit: as for :func:`path_counts`.
    Returns:
        a bool tensor of the input's spatial shape, ``(L,)`` or ``(H, W)``: True where the gradient is nonzero.
    """
    return path_counts(model, input_shape, unit) != 0
