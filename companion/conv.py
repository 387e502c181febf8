"""Convolution and pooling from first principles, in NumPy and in PyTorch.

A 2-D convolution layer with ``O`` filters slides each filter, a block of
shape ``(C, kh, kw)`` spanning *all* input channels, over the input, and
takes a dot product at every position:

    y[n, o, i, j] = b[o] + sum_{c, a, b} w[o, c, a, b] * x[n, c, i*s + a*d, j*s + b*d]

(``s`` the stride, ``d`` the dilation, ``x`` zero-padded). Like PyTorch and
Keras, this is a cross-correlation: the kernel is not flipped.

The implementation is "im2col", the classic way to turn a convolution into
one matrix product (Caffe's, and PyTorch's fallback): a strided *view* of the
input gathers every window without copying (``(N, C, kh, kw, Ho, Wo)``), and
one matrix product with the filters, reshaped to ``(O, C * kh * kw)``,
computes all outputs. The product needs the windows as a column matrix of
``N * C * kh * kw * Ho * Wo`` numbers, a copy about ``kh * kw / s**2`` times
the size of the input (9x for a 3x3 kernel at stride 1). PyTorch's CPU
convolutions mostly avoid that copy: oneDNN computes them with direct (and,
for some shapes, Winograd) kernels that read the input in place. Groups split
the channels into independent blocks; ``groups = C`` is the depthwise
convolution, one filter per channel.

Output length along one axis (:func:`conv_output_size`):

    L_out = floor((L + 2p - d (k - 1) - 1) / s) + 1
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import (
    _type_name,
    require_array,
    require_floating,
    require_int,
    require_int_pair,
    require_layout,
    require_same_device,
    require_tensor,
    upcast,
)

IntPair = int | tuple[int, int]


# ----------------------------------------------------------------------------- arguments


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis.

    ``floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1``

    Raises:
        ValueError: when the dilated kernel does not fit in the padded input.
    """
    size = require_int(size, "size")
    kernel_size = require_int(kernel_size, "kernel_size")
    stride = require_int(stride, "stride")
    padding = require_int(padding, "padding", minimum=0)
    dilation = require_int(dilation, "dilation")
    span = dilation * (kernel_size - 1) + 1  # the dilated kernel's extent
    if span > size + 2 * padding:
        raise ValueError(
            f"kernel (extent {span} with kernel_size={kernel_size}, dilation={dilation}) is larger than "
            f"the padded input ({size} + 2 * {padding} = {size + 2 * padding})"
        )
    return (size + 2 * padding - span) // stride + 1


# ----------------------------------------------------------------------------- shared checks


def _check_conv_args(x, weight, bias, stride, padding, dilation, groups, is_numpy: bool):
    """Validate a 2-D convolution's arguments; return the normalised pairs and the output size."""
    require = require_array if is_numpy else require_tensor
    require(x, "x")
    require(weight, "weight")
    require_layout(x, "x", "(N, C, H, W)")
    require_layout(weight, "weight", "(O, C / groups, kh, kw)")
    require_floating(x, "x")
    require_floating(weight, "weight")
    stride, padding, dilation = require_int_pair(stride, "stride"), require_int_pair(padding, "padding", 0), require_int_pair(dilation, "dilation")
    groups = require_int(groups, "groups")
    n, c, h, w = x.shape
    o, c_per_group, kh, kw = weight.shape
    if kh == 0 or kw == 0:
        raise ValueError(f"weight must have a kernel of at least 1 x 1; got shape {tuple(weight.shape)}")
    if c % groups or o % groups:
        raise ValueError(f"groups={groups} must divide the input channels C={c} and the filters O={o}")
    if c_per_group * groups != c:
        raise ValueError(
            f"weight expects {c_per_group} input channels per group ({c_per_group * groups} with groups={groups}); "
            f"x has C={c} channels (x shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})"
        )
    if bias is not None:
        require(bias, "bias")
        if tuple(bias.shape) != (o,):
            raise ValueError(f"bias must have shape (O,) = ({o},); got shape {tuple(bias.shape)}")
        require_floating(bias, "bias")
    if not is_numpy:
        require_same_device(x, "x", weight, "weight")
        if bias is not None:
            require_same_device(x, "x", bias, "bias")
    out_hw = tuple(
        conv_output_size(size, k, s, p, d)
        for size, k, s, p, d in zip((h, w), (kh, kw), stride, padding, dilation)
    )
    return stride, padding, dilation, groups, out_hw


def _check_pool_args(x, kernel_size, stride, padding, is_numpy: bool):
    (require_array if is_numpy else require_tensor)(x, "x")
    require_layout(x, "x", "(N, C, H, W)")
    require_floating(x, "x")
    kernel = require_int_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else require_int_pair(stride, "stride")
    padding = require_int_pair(padding, "padding", 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"padding must be at most half the kernel size; got padding={padding}, kernel_size={kernel}")
    out_hw = tuple(conv_output_size(size, k, s, p) for size, k, s, p in zip(x.shape[2:], kernel, stride, padding))
    return kernel, stride, padding, out_hw


# ----------------------------------------------------------------------------- NumPy


def _windows_np(x: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """A read-only view (N, C, kh, kw, Ho, Wo) of every window of the (padded) input: no copy."""
    sn, sc, sh, sw = x.strides
    shape = (*x.shape[:2], *kernel, *out_hw)
    strides = (sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1])
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def conv2d_np(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """2-D convolution (cross-correlation) in NumPy; matches ``F.conv2d``.

    Args:
        x: (N, C, H, W) input.
        weight: (O, C / groups, kh, kw) filters.
        bias: (O,) or None.
        stride, padding, dilation: ints or (height, width) pairs; padding is with zeros.
        groups: split channels and filters into this many independent blocks.
    Returns:
        (N, O, Ho, Wo), Ho and Wo from :func:`conv_output_size`, in the dtype of ``x``
        (``weight`` and ``bias`` are cast to it; float16 is computed in float32).
    """
    stride, padding, dilation, groups, out_hw = _check_conv_args(x, weight, bias, stride, padding, dilation, groups, True)
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    dtype, x = x.dtype, upcast(x)
    weight = weight.astype(dtype).astype(x.dtype, copy=False)  # rounded to x's dtype, as a float16 x would hold it
    bias = None if bias is None else bias.astype(dtype).astype(x.dtype, copy=False)
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    windows = _windows_np(x, (kh, kw), stride, dilation, out_hw)  # (N, C, kh, kw, Ho, Wo), a view
    # im2col: one column of C/g * kh * kw numbers per output position, per group
    cols = windows.reshape(n, groups, (c // groups) * kh * kw, out_hw[0] * out_hw[1])  # copies once
    filters = weight.reshape(groups, o // groups, (c // groups) * kh * kw)  # (g, O/g, C/g * kh * kw)
    out = np.matmul(filters, cols)  # (N, g, O/g, Ho * Wo)
    out = out.reshape(n, o, *out_hw)
    return (out if bias is None else out + bias[:, None, None]).astype(dtype, copy=False)


def conv1d_np(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> np.ndarray:
    """1-D convolution in NumPy; matches ``F.conv1d``. x: (N, C, L); weight: (O, C / groups, k).

    A 1-D convolution is a 2-D one on inputs of height 1.
    """
    require_array(x, "x")
    require_array(weight, "weight")
    require_layout(x, "x", "(N, C, L)")
    require_layout(weight, "weight", "(O, C / groups, k)")
    stride, padding, dilation = require_int(stride, "stride"), require_int(padding, "padding", 0), require_int(dilation, "dilation")
    out = conv2d_np(x[:, :, None, :], weight[:, :, None, :], bias, (1, stride), (0, padding), (1, dilation), groups)
    return out[:, :, 0, :]


def _pool_np(x, kernel_size, stride, padding, reduce_name: str):
    kernel, stride, padding, out_hw = _check_pool_args(x, kernel_size, stride, padding, True)
    fill = -np.inf if reduce_name == "max" else 0.0  # max ignores padding; the average counts it as 0
    pad = ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1]))
    x = np.pad(x, pad, constant_values=fill)
    windows = _windows_np(x, kernel, stride, (1, 1), out_hw)  # (N, C, kh, kw, Ho, Wo)
    return windows.max(axis=(2, 3)) if reduce_name == "max" else windows.mean(axis=(2, 3))


def max_pool2d_np(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """Max pooling over (N, C, H, W); ``stride`` defaults to ``kernel_size``. Matches ``F.max_pool2d``."""
    return _pool_np(x, kernel_size, stride, padding, "max")


def avg_pool2d_np(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """Average pooling over (N, C, H, W), zero padding counted (``F.avg_pool2d``'s default)."""
    return _pool_np(x, kernel_size, stride, padding, "mean")


def _pool1d(pool2d, require_type, x, kernel_size: int, stride: int | None, padding: int):
    """A 1-D pooling as the 2-D one on inputs of height 1: (N, C, L) -> (N, C, L_out)."""
    require_type(x, "x")
    require_layout(x, "x", "(N, C, L)")
    kernel_size, padding = require_int(kernel_size, "kernel_size"), require_int(padding, "padding", 0)
    stride = None if stride is None else require_int(stride, "stride")
    stride_2d = None if stride is None else (1, stride)  # None: the kernel size, as in PyTorch
    return pool2d(x[:, :, None, :], (1, kernel_size), stride_2d, (0, padding))[:, :, 0, :]


def max_pool1d_np(x: np.ndarray, kernel_size: int, stride: int | None = None, padding: int = 0) -> np.ndarray:
    """Max pooling over (N, C, L); matches ``F.max_pool1d``."""
    return _pool1d(max_pool2d_np, require_array, x, kernel_size, stride, padding)


def avg_pool1d_np(x: np.ndarray, kernel_size: int, stride: int | None = None, padding: int = 0) -> np.ndarray:
    """Average pooling over (N, C, L); matches ``F.avg_pool1d``."""
    return _pool1d(avg_pool2d_np, require_array, x, kernel_size, stride, padding)


# ----------------------------------------------------------------------------- PyTorch


def _windows(x: torch.Tensor, kernel, stride, dilation) -> torch.Tensor:
    """A view (N, C, Ho, Wo, kh, kw) of every window, by ``Tensor.unfold`` (differentiable)."""
    for dim, k, s, d in ((2, kernel[0], stride[0], dilation[0]), (3, kernel[1], stride[1], dilation[1])):
        x = x.unfold(dim, d * (k - 1) + 1, s)  # windows of the dilated extent, step s
        x = x[..., ::d]  # keep every d-th element of each window
    return x


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution from first principles (window view + one matmul); matches ``F.conv2d``.

    Shapes as in :func:`conv2d_np`; device and dtype come from ``x`` (``weight`` and
    ``bias`` are cast to its dtype; float16 and bfloat16 are computed in float32). Differentiable.
    """
    stride, padding, dilation, groups, out_hw = _check_conv_args(x, weight, bias, stride, padding, dilation, groups, False)
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    dtype, x = x.dtype, upcast(x)
    weight = weight.to(dtype).to(x.dtype)  # rounded to x's dtype, as a float16 x would hold it
    bias = None if bias is None else bias.to(dtype).to(x.dtype)
    x = torch.nn.functional.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    windows = _windows(x, (kh, kw), stride, dilation)  # (N, C, Ho, Wo, kh, kw)
    # im2col: (N, g, C/g * kh * kw, Ho * Wo), the same column layout as conv2d_np (one copy)
    cols = windows.reshape(n, groups, c // groups, *out_hw, kh, kw).permute(0, 1, 2, 5, 6, 3, 4)
    cols = cols.reshape(n, groups, (c // groups) * kh * kw, out_hw[0] * out_hw[1])
    filters = weight.reshape(groups, o // groups, (c // groups) * kh * kw)  # (g, O/g, C/g * kh * kw)
    out = torch.matmul(filters, cols).reshape(n, o, *out_hw)  # (N, g, O/g, Ho*Wo) -> (N, O, Ho, Wo)
    return (out if bias is None else out + bias[:, None, None]).to(dtype)


def conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """1-D convolution from first principles; matches ``F.conv1d``. x: (N, C, L); weight: (O, C / groups, k)."""
    require_tensor(x, "x")
    require_tensor(weight, "weight")
    require_layout(x, "x", "(N, C, L)")
    require_layout(weight, "weight", "(O, C / groups, k)")
    stride, padding, dilation = require_int(stride, "stride"), require_int(padding, "padding", 0), require_int(dilation, "dilation")
    out = conv2d(x[:, :, None, :], weight[:, :, None, :], bias, (1, stride), (0, padding), (1, dilation), groups)
    return out[:, :, 0, :]


def _pool(x, kernel_size, stride, padding, reduce_name: str):
    kernel, stride, padding, _ = _check_pool_args(x, kernel_size, stride, padding, False)
    fill = float("-inf") if reduce_name == "max" else 0.0
    x = torch.nn.functional.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=fill)
    windows = _windows(x, kernel, stride, (1, 1))  # (N, C, Ho, Wo, kh, kw)
    if reduce_name == "mean":
        return windows.mean(dim=(-2, -1))
    # max(dim) sends the gradient to the first maximum of each window, as F.max_pool2d does;
    # amax would split it among tied maxima (a window of zeros, a constant image)
    return windows.flatten(-2).max(dim=-1).values  # (N, C, Ho, Wo)


def max_pool2d(x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> torch.Tensor:
    """Max pooling over (N, C, H, W); matches ``F.max_pool2d``."""
    return _pool(x, kernel_size, stride, padding, "max")


def avg_pool2d(x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> torch.Tensor:
    """Average pooling over (N, C, H, W), zero padding counted; matches ``F.avg_pool2d``."""
    return _pool(x, kernel_size, stride, padding, "mean")


def max_pool1d(x: torch.Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> torch.Tensor:
    """Max pooling over (N, C, L); matches ``F.max_pool1d``."""
    return _pool1d(max_pool2d, require_tensor, x, kernel_size, stride, padding)


def avg_pool1d(x: torch.Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> torch.Tensor:
    """Average pooling over (N, C, L); matches ``F.avg_pool1d``."""
    return _pool1d(avg_pool2d, require_tensor, x, kernel_size, stride, padding)


# ----------------------------------------------------------------------------- layouts


def _permute(x, axes: tuple[int, ...], name: str, layout: str):
    if isinstance(x, torch.Tensor):
        require_layout(x, name, layout)
        return x.permute(*axes)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or a torch.Tensor; got {_type_name(x)}")
    require_layout(x, name, layout)
    return x.transpose(axes)


def kernel_keras_to_torch(kernel):
    """Keras/TensorFlow kernel (kh, kw, in, out) -> PyTorch weight (out, in, kh, kw). NumPy or torch; a view."""
    return _permute(kernel, (3, 2, 0, 1), "kernel", "(kh, kw, in, out)")


def kernel_torch_to_keras(weight):
    """PyTorch weight (out, in, kh, kw) -> Keras/TensorFlow kernel (kh, kw, in, out). NumPy or torch; a view."""
    return _permute(weight, (2, 3, 1, 0), "weight", "(out, in, kh, kw)")


def channels_last_to_first(x):
    """Images (N, H, W, C), the Keras default, -> (N, C, H, W), PyTorch's layout. A view."""
    return _permute(x, (0, 3, 1, 2), "x", "(N, H, W, C)")


def channels_first_to_last(x):
    """Images (N, C, H, W) -> (N, H, W, C). A view."""
    return _permute(x, (0, 2, 3, 1), "x", "(N, C, H, W)")
