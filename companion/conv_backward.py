"""Backward passes of 2-D convolution and pooling, in NumPy, from first principles.

The forward pass (:func:`companion.conv.conv2d_np`, what PyTorch and Keras
compute) is a cross-correlation, stride ``s``, zero padding ``p``:

    y[n, o, i, j] = b[o] + sum_{c, a, b} w[o, c, a, b] * x_pad[n, c, s*i + a, s*j + b]

Given the upstream gradient ``g = dL/dy`` of shape ``(N, O, Ho, Wo)``, the chain
rule gives three gradients, each again a convolution:

- **weight**: ``dL/dw[o, c, a, b] = sum_{n, i, j} g[n, o, i, j] * x_pad[n, c, s*i + a, s*j + b]``,
  the *valid cross-correlation of the input with the upstream gradient*
  (the batch summed like channels; a stride ``s`` becomes a dilation ``s`` of ``g``);
- **input**: ``dL/dx_pad[n, c, u, v] = sum_{o, i, j} g[n, o, i, j] * w[o, c, u - s*i, v - s*j]``,
  the *full convolution of the upstream gradient with the kernel*, that is a full
  cross-correlation with the kernel flipped by 180 degrees, filters and channels
  swapped; a stride ``s`` is handled by first inserting ``s - 1`` zeros between the
  entries of ``g`` ("dilating" it); the padding is then cropped away;
- **bias**: ``dL/db[o] = sum_{n, i, j} g[n, o, i, j]``.

Two conventions, one conversion. A *true* convolution flips the kernel,
``(x * v)[i, j] = sum_{a, b} v[a, b] x[i + kh-1 - a, j + kw-1 - b]``; a
cross-correlation does not. So ``convolve2d_np(x, v) = conv2d_np(x, flip_kernel(v))``
and, for the same ``x`` and upstream gradient, the kernel gradient of the true
convolution is the flipped kernel gradient of the cross-correlation, while the
input gradient is the same (:func:`convolve2d_backward_np`).

Pooling: max pooling sends each window's gradient to the position of its
maximum (ties: the first maximum in row-major order inside the window, a real
input position before a padded one, and for a window holding NaN its last NaN,
the rules of PyTorch's ``max_pool2d``); overlapping windows add up. Average
pooling spreads it evenly, ``1 / (kh * kw)`` to every position of the window,
zero padding counted (``F.avg_pool2d``'s default).

The im2col view (:func:`im2col_np`, :func:`col2im_np`,
:func:`conv2d_backward_im2col_np`) writes the same gradients as matrix
products: with ``X_col`` the ``(C*kh*kw, Ho*Wo)`` matrix of windows of one
image and ``W`` the ``(O, C*kh*kw)`` filters, ``Y = W X_col``, so
``dW = sum_n G_n X_col,n^T`` and ``dX_col = W^T G_n``, which ``col2im`` adds
back onto the pixels each column was read from.

Dilation and groups are not covered here (see :mod:`companion.conv` for the
forward pass with both). Every function keeps the package's contract: bad input
raises naming the argument, float16 is computed in float32 and rounded back, the
result has the dtype of the main input.
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import (
    _type_name,
    require_array,
    require_min_ndim,
    require_floating,
    require_int_pair,
    require_layout,
    upcast,
)
from companion.conv import _windows_np, conv2d_np, conv_output_size

IntPair = int | tuple[int, int]


# ----------------------------------------------------------------------------- checks


def _output_hw(input_hw, kernel, stride, padding) -> tuple[int, int]:
    return tuple(conv_output_size(size, k, s, p) for size, k, s, p in zip(input_hw, kernel, stride, padding))


def _require_grad_out(grad_out: np.ndarray, expected: tuple[int, ...], why: str) -> None:
    require_array(grad_out, "grad_out")
    require_layout(grad_out, "grad_out", "(N, O, Ho, Wo)")
    require_floating(grad_out, "grad_out")
    if tuple(grad_out.shape) != expected:
        raise ValueError(f"grad_out must have shape {expected} ({why}); got shape {tuple(grad_out.shape)}")


def _require_input_size(input_size: object) -> tuple[int, int]:
    if not isinstance(input_size, (tuple, list)) or len(input_size) != 2:
        raise TypeError(f"input_size must be a pair (H, W) of ints; got {input_size!r}")
    return require_int_pair(tuple(input_size), "input_size")


def _check_conv_shapes(x_shape, weight_shape, grad_out, stride, padding, weight_name="weight"):
    """Check that x (N, C, H, W), filters (O, C, kh, kw) and grad_out (N, O, Ho, Wo) fit; return the int pairs."""
    stride, padding = require_int_pair(stride, "stride"), require_int_pair(padding, "padding", 0)
    n, c, h, w = x_shape
    o, c_w, kh, kw = weight_shape
    if kh == 0 or kw == 0 or c_w != c:
        raise ValueError(f"{weight_name} must have shape (O, C, kh, kw) = (O, {c}, >= 1, >= 1) for an input of shape "
                         f"{tuple(x_shape)}; got shape {tuple(weight_shape)}")
    out_hw = _output_hw((h, w), (kh, kw), stride, padding)
    _require_grad_out(grad_out, (n, o, *out_hw), "N from the input, O from the filters, Ho and Wo from the forward pass")
    return stride, padding


def _check_conv(x, weight, grad_out, stride, padding, weight_name="weight"):
    """Validate ``x`` (N, C, H, W), ``weight`` (O, C, kh, kw) and ``grad_out`` (N, O, Ho, Wo); return the pairs."""
    require_array(x, "x")
    require_array(weight, weight_name)
    require_layout(x, "x", "(N, C, H, W)")
    require_layout(weight, weight_name, "(O, C, kh, kw)")
    require_floating(x, "x")
    require_floating(weight, weight_name)
    require_array(grad_out, "grad_out")
    require_layout(grad_out, "grad_out", "(N, O, Ho, Wo)")
    return _check_conv_shapes(x.shape, weight.shape, grad_out, stride, padding, weight_name)


# ----------------------------------------------------------------------------- helpers


def dilate_np(g: np.ndarray, stride: IntPair) -> np.ndarray:
    """Insert ``stride - 1`` zeros between neighbouring entries of the last two axes.

    g: (N, O, Ho, Wo) -> (N, O, s_h (Ho - 1) + 1, s_w (Wo - 1) + 1). A stride of 1 returns ``g`` itself.
    This is how a strided convolution's upstream gradient becomes that of a stride-1 one.
    """
    require_array(g, "g")
    require_layout(g, "g", "(N, O, Ho, Wo)")
    stride = require_int_pair(stride, "stride")
    if stride == (1, 1):
        return g
    n, o, ho, wo = g.shape
    out = np.zeros((n, o, stride[0] * (ho - 1) + 1 if ho else 0, stride[1] * (wo - 1) + 1 if wo else 0), g.dtype)
    out[:, :, :: stride[0], :: stride[1]] = g
    return out


def flip_kernel(weight):
    """Rotate every kernel by 180 degrees (flip both spatial axes): ``w[..., ::-1, ::-1]``.

    weight: (..., kh, kw), a NumPy array or a torch tensor; the result has the same shape and type.
    Converts between the two conventions: ``convolve2d_np(x, v) == conv2d_np(x, flip_kernel(v))``.
    """
    if not isinstance(weight, (np.ndarray, torch.Tensor)):
        raise TypeError(f"weight must be a numpy.ndarray or a torch.Tensor; got {_type_name(weight)}")
    require_min_ndim(weight, "weight", 2)
    return weight.flip(-2, -1) if isinstance(weight, torch.Tensor) else weight[..., ::-1, ::-1]


def _cast(dtype, *arrays):
    """Arrays rounded to ``dtype`` (the main input's), then computed in float32 if that is float16."""
    return [a.astype(dtype, copy=False).astype(upcast(np.zeros(0, dtype)).dtype, copy=False) for a in arrays]


# ----------------------------------------------------------------------------- convolution


def _correlate(inp: np.ndarray, filters: np.ndarray, dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Valid cross-correlation, stride 1, in channel-major layout, as one matrix product.

    ``out[o, b, i, j] = sum_{c, a, b'} filters[o, c, a, b'] * inp[c, b, i + d*a, j + d*b']``
    inp: (Cin, B, H, W); filters: (O, Cin, fh, fw); returns (O, B, *out_hw), which must fit in ``inp``.
    The windows are gathered once from a strided view, in the order that keeps the longer of
    the two widths (filter or output) innermost, so that the copy runs over contiguous rows.
    """
    cin, b, _, _ = inp.shape
    o, _, fh, fw = filters.shape
    sc, sb, sh, sw = inp.strides
    dh, dw = sh * dilation[0], sw * dilation[1]
    flat_filters = filters.reshape(o, cin * fh * fw)
    if out_hw[1] >= fw:  # columns: (Cin*fh*fw, B*Ho*Wo)
        view = np.lib.stride_tricks.as_strided(inp, (cin, fh, fw, b, *out_hw), (sc, dh, dw, sb, sh, sw), writeable=False)
        return (flat_filters @ view.reshape(cin * fh * fw, b * out_hw[0] * out_hw[1])).reshape(o, b, *out_hw)
    # rows: (B*Ho*Wo, Cin*fh*fw), the filter's width innermost
    view = np.lib.stride_tricks.as_strided(inp, (b, *out_hw, cin, fh, fw), (sb, sh, sw, sc, dh, dw), writeable=False)
    return (view.reshape(b * out_hw[0] * out_hw[1], cin * fh * fw) @ flat_filters.T).T.reshape(o, b, *out_hw)


def conv2d_weight_grad_np(x: np.ndarray, grad_out: np.ndarray, kernel_size: IntPair,
                          stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """dL/dw of ``conv2d_np(x, w, stride=stride, padding=padding)``: a valid cross-correlation of x with grad_out.

    ``dw[o, c, a, b] = sum_{n, i, j} grad_out[n, o, i, j] * x_pad[n, c, s*i + a, s*j + b]``:
    slide ``grad_out`` (dilated by the stride) over the padded input, the batch summed like
    channels; the kh x kw positions where it fits are the kernel's taps.

    Args:
        x: (N, C, H, W) the forward input.
        grad_out: (N, O, Ho, Wo) dL/dy.
        kernel_size: (kh, kw) or an int.
    Returns:
        (O, C, kh, kw), in the dtype of ``x``.
    """
    require_array(x, "x")
    require_layout(x, "x", "(N, C, H, W)")
    require_floating(x, "x")
    kernel = require_int_pair(kernel_size, "kernel_size")
    require_array(grad_out, "grad_out")
    require_layout(grad_out, "grad_out", "(N, O, Ho, Wo)")
    stride, padding = _check_conv_shapes(x.shape, (grad_out.shape[1], x.shape[1], *kernel), grad_out, stride, padding,
                                         "kernel_size")
    dtype = x.dtype
    x, grad_out = _cast(dtype, x, grad_out)
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))  # (N, C, Hp, Wp)
    # x_pad read as (N as channels, C as batch), grad_out as (O, N, Ho, Wo) filters dilated by the stride
    grad_w = _correlate(x_pad, grad_out.transpose(1, 0, 2, 3), stride, kernel)  # (O, C, kh, kw)
    return grad_w.astype(dtype, copy=False)


def conv2d_input_grad_np(grad_out: np.ndarray, weight: np.ndarray, input_size: tuple[int, int],
                         stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """dL/dx of ``conv2d_np(x, weight, stride=stride, padding=padding)``: a full convolution of grad_out with the kernel.

    ``dx_pad[n, c, u, v] = sum_{o, a, b} w[o, c, a, b] * g_dil[n, o, u - a, v - b]``, with ``g_dil``
    the upstream gradient dilated by the stride (``s - 1`` zeros between entries) and zero outside:
    every output position ``(i, j)`` hands ``w[o, c, a, b] * g[n, o, i, j]`` back to the input
    pixel ``(s*i + a, s*j + b)`` it was read from. Read as a gather, this is a full
    cross-correlation of ``g_dil`` (padded by ``k - 1``) with the kernel flipped by 180 degrees,
    filters and channels swapped (``(C, O, kh, kw)``); that is how the tests check it. Computed as a
    scatter, tap by tap: one matrix product ``W^T G`` for all taps, then each tap's slice added at
    its offset, every ``s``-th position (the dilation without its zeros). Then the padding is cropped.

    Args:
        grad_out: (N, O, Ho, Wo) dL/dy.
        weight: (O, C, kh, kw) the forward filters.
        input_size: (H, W) of the forward input (with a stride, Ho alone does not fix it).
    Returns:
        (N, C, H, W), in the dtype of ``grad_out``; rows the forward pass never read get zero.
    """
    require_array(weight, "weight")
    require_layout(weight, "weight", "(O, C, kh, kw)")
    require_floating(weight, "weight")
    h, w = _require_input_size(input_size)
    require_array(grad_out, "grad_out")
    require_layout(grad_out, "grad_out", "(N, O, Ho, Wo)")
    stride, padding = _check_conv_shapes((grad_out.shape[0], weight.shape[1], h, w), weight.shape, grad_out, stride, padding)
    dtype = grad_out.dtype
    grad_out, weight = _cast(dtype, grad_out, weight)
    n, o, ho, wo = grad_out.shape
    _, c, kh, kw = weight.shape
    g = grad_out.transpose(1, 0, 2, 3).reshape(o, n * ho * wo)  # (O, N*Ho*Wo)
    taps = (weight.reshape(o, c * kh * kw).T @ g).reshape(c, kh, kw, n, ho, wo)  # w[o, c, a, b] g[n, o, i, j], summed over o
    grad_x = _add_taps(taps, (1, 2), (h, w), stride, padding)  # (C, N, H, W)
    return np.ascontiguousarray(grad_x.transpose(1, 0, 2, 3)).astype(dtype, copy=False)


def conv2d_bias_grad_np(grad_out: np.ndarray) -> np.ndarray:
    """dL/db of a convolution: grad_out (N, O, Ho, Wo) summed over the batch and the positions -> (O,)."""
    require_array(grad_out, "grad_out")
    require_layout(grad_out, "grad_out", "(N, O, Ho, Wo)")
    require_floating(grad_out, "grad_out")
    return upcast(grad_out).sum(axis=(0, 2, 3)).astype(grad_out.dtype, copy=False)


def conv2d_backward_np(x: np.ndarray, weight: np.ndarray, grad_out: np.ndarray,
                       stride: IntPair = 1, padding: IntPair = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All three gradients of ``conv2d_np(x, weight, bias, stride, padding)`` given dL/dy.

    Args:
        x: (N, C, H, W); weight: (O, C, kh, kw); grad_out: (N, O, Ho, Wo).
    Returns:
        (dL/dx (N, C, H, W), dL/dw (O, C, kh, kw), dL/db (O,)), in the dtype of ``x``.
    """
    stride, padding = _check_conv(x, weight, grad_out, stride, padding)
    dtype = x.dtype
    weight, grad_out = weight.astype(dtype, copy=False), grad_out.astype(dtype, copy=False)
    return (conv2d_input_grad_np(grad_out, weight, x.shape[2:], stride, padding),
            conv2d_weight_grad_np(x, grad_out, weight.shape[2:], stride, padding),
            conv2d_bias_grad_np(grad_out))


def convolve2d_np(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
                  stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """True 2-D convolution (kernel flipped), the textbook's and scipy.signal's: ``conv2d_np(x, flip_kernel(kernel))``.

    ``y[n, o, i, j] = b[o] + sum_{c, a, b} v[o, c, a, b] * x_pad[n, c, s*i + kh-1 - a, s*j + kw-1 - b]``.
    x: (N, C, H, W); kernel: (O, C, kh, kw); bias: (O,) or None. Returns (N, O, Ho, Wo).
    """
    require_array(kernel, "kernel")
    require_layout(kernel, "kernel", "(O, C, kh, kw)")
    return conv2d_np(x, np.ascontiguousarray(flip_kernel(kernel)), bias, stride, padding)


def convolve2d_backward_np(x: np.ndarray, kernel: np.ndarray, grad_out: np.ndarray,
                           stride: IntPair = 1, padding: IntPair = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of :func:`convolve2d_np`: the same as :func:`conv2d_backward_np`'s, the kernel's flipped.

    With ``w = flip(v)``, ``y = conv2d(x, w)``, so ``dL/dv = flip(dL/dw)``; ``dL/dx`` and ``dL/db`` do not change.
    x: (N, C, H, W); kernel: (O, C, kh, kw); grad_out: (N, O, Ho, Wo). Returns (dL/dx, dL/dv, dL/db).
    """
    stride, padding = _check_conv(x, kernel, grad_out, stride, padding, weight_name="kernel")
    grad_x, grad_w, grad_b = conv2d_backward_np(x, np.ascontiguousarray(flip_kernel(kernel)), grad_out, stride, padding)
    return grad_x, np.ascontiguousarray(flip_kernel(grad_w)), grad_b


# ----------------------------------------------------------------------------- the im2col view


def im2col_np(x: np.ndarray, kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """Every window of ``x`` as a column: (N, C, H, W) -> (N, C*kh*kw, Ho*Wo), rows in (c, a, b) order; ``F.unfold``."""
    require_array(x, "x")
    require_layout(x, "x", "(N, C, H, W)")
    require_floating(x, "x")
    kernel = require_int_pair(kernel_size, "kernel_size")
    stride, padding = require_int_pair(stride, "stride"), require_int_pair(padding, "padding", 0)
    n, c, h, w = x.shape
    out_hw = _output_hw((h, w), kernel, stride, padding)
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    windows = _windows_np(x, kernel, stride, (1, 1), out_hw)  # (N, C, kh, kw, Ho, Wo), a view
    return windows.reshape(n, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])  # one copy


def _add_taps(taps: np.ndarray, tap_axes: tuple[int, int], input_hw, stride, padding) -> np.ndarray:
    """Add every window's values back onto the pixels they came from.

    taps: (..., Ho, Wo) with the kernel's (kh, kw) at ``tap_axes``; returns (..., H, W), the other
    leading axes in their order. Tap ``(a, b)`` of the window at ``(i, j)`` lands on padded pixel
    ``(s*i + a, s*j + b)``; the padding is cropped at the end. One loop over the kh*kw taps, each
    a strided slice added at once.
    """
    taps = np.moveaxis(taps, tap_axes, (0, 1))  # (kh, kw, ..., Ho, Wo), a view
    kh, kw, *lead, ho, wo = taps.shape
    (h, w), (sh, sw), (ph, pw) = input_hw, stride, padding
    out = np.zeros((*lead, h + 2 * ph, w + 2 * pw), taps.dtype)
    for a in range(kh):
        for b in range(kw):
            out[..., a: a + sh * (ho - 1) + 1: sh, b: b + sw * (wo - 1) + 1: sw] += taps[a, b]
    return out[..., ph: ph + h, pw: pw + w]


def col2im_np(cols: np.ndarray, input_size: tuple[int, int], kernel_size: IntPair,
              stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """The adjoint of :func:`im2col_np`: add every column back onto the pixels it was read from; ``F.fold``.

    cols: (N, C*kh*kw, Ho*Wo) -> (N, C, H, W). A pixel read by several windows receives the sum
    (this is what makes it the transpose of im2col, not its inverse). One loop over the kh*kw taps.
    """
    require_array(cols, "cols")
    require_layout(cols, "cols", "(N, C*kh*kw, Ho*Wo)")
    require_floating(cols, "cols")
    h, w = _require_input_size(input_size)
    kernel = require_int_pair(kernel_size, "kernel_size")
    stride, padding = require_int_pair(stride, "stride"), require_int_pair(padding, "padding", 0)
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = _output_hw((h, w), kernel, stride, padding)
    n, rows, positions = cols.shape
    if rows % (kh * kw) or positions != ho * wo:
        raise ValueError(f"cols must have shape (N, C*kh*kw, Ho*Wo) with kh*kw = {kh * kw}, Ho*Wo = {ho * wo}; "
                         f"got shape {tuple(cols.shape)}")
    dtype, cols = cols.dtype, upcast(cols)
    taps = cols.reshape(n, rows // (kh * kw), kh, kw, ho, wo)
    return np.ascontiguousarray(_add_taps(taps, (2, 3), (h, w), stride, padding)).astype(dtype, copy=False)


def conv2d_backward_im2col_np(x: np.ndarray, weight: np.ndarray, grad_out: np.ndarray,
                              stride: IntPair = 1, padding: IntPair = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of :func:`conv2d_backward_np` as matrix products on the im2col matrix.

    Forward ``Y_n = W X_n`` with ``X_n = im2col(x)[n]`` (C*kh*kw, Ho*Wo) and ``W`` (O, C*kh*kw). Then
    ``dW = sum_n G_n X_n^T``, ``dX_n = col2im(W^T G_n)``, ``db = sum_n G_n 1``.
    x: (N, C, H, W); weight: (O, C, kh, kw); grad_out: (N, O, Ho, Wo). Returns (dL/dx, dL/dw, dL/db).
    """
    stride, padding = _check_conv(x, weight, grad_out, stride, padding)
    dtype = x.dtype
    x, weight, grad_out = _cast(dtype, x, weight, grad_out)
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    cols = im2col_np(x, (kh, kw), stride, padding)  # (N, C*kh*kw, L)
    g = grad_out.reshape(n, o, grad_out.shape[2] * grad_out.shape[3])  # (N, O, L)
    w_mat = weight.reshape(o, c * kh * kw)  # (O, C*kh*kw)
    grad_w = np.einsum("nol,nkl->ok", g, cols, optimize=True).reshape(o, c, kh, kw)  # sum_n G_n X_n^T
    grad_cols = np.matmul(w_mat.T, g)  # (N, C*kh*kw, L): W^T G_n
    grad_x = col2im_np(grad_cols, (h, w), (kh, kw), stride, padding)
    return grad_x.astype(dtype, copy=False), grad_w.astype(dtype, copy=False), g.sum(axis=(0, 2)).astype(dtype, copy=False)


# ----------------------------------------------------------------------------- pooling


def _check_pool(grad_out, input_size, kernel_size, stride, padding):
    kernel = require_int_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else require_int_pair(stride, "stride")
    padding = require_int_pair(padding, "padding", 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"padding must be at most half the kernel size; got padding={padding}, kernel_size={kernel}")
    return kernel, stride, padding, _output_hw(input_size, kernel, stride, padding)


def max_pool2d_backward_np(x: np.ndarray, grad_out: np.ndarray, kernel_size: IntPair,
                           stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """dL/dx of ``max_pool2d_np(x, kernel_size, stride, padding)``: each window's gradient goes to its maximum.

    Ties, as PyTorch's ``max_pool2d``: the first maximum in row-major order inside the window, a
    real input position before a padded one (a window of ``-inf`` sends it to its first real
    position); a window holding NaN sends it to its last NaN. Overlapping windows add up.

    Args:
        x: (N, C, H, W) the forward input; grad_out: (N, C, Ho, Wo).
        stride: defaults to ``kernel_size``; padding: at most half the kernel.
    Returns:
        (N, C, H, W), in the dtype of ``x``.
    """
    require_array(x, "x")
    require_layout(x, "x", "(N, C, H, W)")
    require_floating(x, "x")
    kernel, stride, padding, out_hw = _check_pool(grad_out, x.shape[2:], kernel_size, stride, padding)
    n, c, h, w = x.shape
    _require_grad_out(grad_out, (n, c, *out_hw), "N and C from x, Ho and Wo from the pooling")
    dtype = x.dtype
    x, grad_out = _cast(dtype, x, grad_out)
    pad = ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1]))
    values = _windows_np(np.pad(x, pad, constant_values=-np.inf), kernel, stride, (1, 1), out_hw)
    values = values.reshape(n, c, kernel[0] * kernel[1], *out_hw)  # (N, C, K, Ho, Wo)
    real = _windows_np(np.pad(np.ones((1, 1, h, w), bool), pad), kernel, stride, (1, 1), out_hw)
    real = real.reshape(1, 1, kernel[0] * kernel[1], *out_hw)  # which taps are input, not padding
    with np.errstate(invalid="ignore"):
        top = values.max(axis=2, keepdims=True)  # NaN where the window holds one
    first_max = np.argmax((values == top) & real, axis=2)  # argmax of a bool: its first True
    is_nan = np.isnan(values)
    last_nan = values.shape[2] - 1 - np.argmax(is_nan[:, :, ::-1], axis=2)
    winner = np.where(is_nan.any(axis=2), last_nan, first_max)  # (N, C, Ho, Wo): the tap that gets the gradient
    routed = (np.arange(values.shape[2])[:, None, None] == winner[:, :, None]) * grad_out[:, :, None]  # (N, C, K, Ho, Wo)
    cols = routed.reshape(n, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])
    return col2im_np(cols, (h, w), kernel, stride, padding).astype(dtype, copy=False)


def avg_pool2d_backward_np(grad_out: np.ndarray, input_size: tuple[int, int], kernel_size: IntPair,
                           stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """dL/dx of ``avg_pool2d_np``: each window's gradient spread evenly, ``1 / (kh * kw)`` to each of its positions.

    Zero padding counts in the window (``count_include_pad=True``, ``F.avg_pool2d``'s default), so
    the share of a padded position is lost. Overlapping windows add up.

    Args:
        grad_out: (N, C, Ho, Wo); input_size: (H, W) of the forward input.
    Returns:
        (N, C, H, W), in the dtype of ``grad_out``.
    """
    h, w = _require_input_size(input_size)
    kernel, stride, padding, out_hw = _check_pool(grad_out, (h, w), kernel_size, stride, padding)
    require_array(grad_out, "grad_out")
    require_layout(grad_out, "grad_out", "(N, C, Ho, Wo)")
    _require_grad_out(grad_out, (*grad_out.shape[:2], *out_hw), "Ho and Wo from the pooling")
    dtype = grad_out.dtype
    (g,) = _cast(dtype, grad_out)
    n, c = g.shape[:2]
    k = kernel[0] * kernel[1]
    share = np.broadcast_to(g[:, :, None] / k, (n, c, k, *out_hw))  # (N, C, K, Ho, Wo), no copy
    cols = share.reshape(n, c * k, out_hw[0] * out_hw[1])
    return col2im_np(cols, (h, w), kernel, stride, padding).astype(dtype, copy=False)
