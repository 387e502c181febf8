"""Finite differences: derivatives, and the Laplacian, as small kernels.

A function sampled on a grid of spacing ``h`` has its derivatives estimated
from neighbouring samples. Written as 3-tap kernels centred on the middle
sample and applied as a cross-correlation (``out[i] = sum_k w[k] f[i + k - 1]``,
what ``np.correlate`` and ``F.conv1d`` compute):

    forward   [ 0, -1,  1] / h      (f(x+h) - f(x)) / h           error O(h)
    backward  [-1,  1,  0] / h      (f(x) - f(x-h)) / h           error O(h)
    central   [-1,  0,  1] / 2h     (f(x+h) - f(x-h)) / 2h        error O(h^2)
    second    [ 1, -2,  1] / h^2    (f(x+h) - 2f(x) + f(x-h)) / h^2,  f'' + (h^2/12) f'''' + O(h^4)

The second difference is the forward difference of the backward difference
(:func:`compose_kernels`). The Laplacian ``f_xx + f_yy`` adds the second
difference along the rows to the one along the columns: the 5-point kernel
``[0 1 0; 1 -4 1; 0 1 0] / h^2`` ("4-neighbour"). Its leading error,
``(h^2/12)(f_xxxx + f_yyyy)``, depends on the direction. The same stencil on
the grid turned by 45 degrees (spacing ``sqrt(2) h``) is
``[1 0 1; 0 -4 0; 1 0 1] / 2h^2`` ("diagonal"), with leading error
``(h^2/12)(f_xxxx + 6 f_xxyy + f_yyyy)``. The blend with weight 1/3 on the
diagonal stencil cancels the direction dependence,

    (2/3) [0 1 0; 1 -4 1; 0 1 0] / h^2 + (1/3) [1 0 1; 0 -4 0; 1 0 1] / 2h^2
        = [1 4 1; 4 -20 4; 1 4 1] / 6h^2                          ("8-neighbour"),

whose leading error ``(h^2/12) (f_xxxx + 2 f_xxyy + f_yyyy) = (h^2/12) Lap(Lap f)``
is rotation invariant: the isotropic 9-point stencil (the "Mehrstellen"
stencil of Collatz; Patra and Karttunen, "Stencils with isotropic
discretization error for differential operators", Numer. Methods Partial
Differential Equations 22, 2006). The image-processing kernel
``[1 1 1; 1 -8 1; 1 1 1]`` is the blend with weight 2/3, times ``3 h^2``.

Grids are arrays ``(..., H, W)`` with ``f[..., i, j] = f(x_j, y_i)``: the last
axis is ``x``, the one before it ``y``; leading axes are a batch. Kernels are
applied in "valid" mode: a 3 x 3 kernel gives ``(..., H - 2, W - 2)``, the
interior points.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from companion._checks import (
    require_array,
    require_floating,
    require_layout,
    require_min_ndim,
    require_number,
    require_positive,
    require_tensor,
    ieee,
    upcast,
)

LAPLACIAN_KINDS = ("4-neighbour", "diagonal", "8-neighbour")
ISOTROPIC_DIAGONAL_WEIGHT = 1 / 3  # the blend whose h^2 error term is rotation invariant


# ----------------------------------------------------------------------------- 1-D kernels


def forward_difference_kernel(h: float = 1.0) -> np.ndarray:
    """(3,) kernel of ``(f(x+h) - f(x)) / h``, centred on ``x``."""
    require_positive(h, "h")
    return np.array([0.0, -1.0, 1.0]) / h


def backward_difference_kernel(h: float = 1.0) -> np.ndarray:
    """(3,) kernel of ``(f(x) - f(x-h)) / h``, centred on ``x``."""
    require_positive(h, "h")
    return np.array([-1.0, 1.0, 0.0]) / h


def central_difference_kernel(h: float = 1.0) -> np.ndarray:
    """(3,) kernel of ``(f(x+h) - f(x-h)) / 2h``, centred on ``x``."""
    require_positive(h, "h")
    return np.array([-1.0, 0.0, 1.0]) / (2 * h)


def second_difference_kernel(h: float = 1.0) -> np.ndarray:
    """(3,) kernel of ``(f(x+h) - 2 f(x) + f(x-h)) / h^2``, centred on ``x``."""
    require_positive(h, "h")
    return np.array([1.0, -2.0, 1.0]) / h**2


def compose_kernels(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The one kernel that does what cross-correlating with ``first``, then with ``second``, does.

    ``first: (k1,)``, ``second: (k2,)`` -> ``(k1 + k2 - 1,)``, centred when both are
    centred and of odd length. Two cross-correlations in a row are one
    cross-correlation with the (full, flipped) *convolution* of the kernels:
    ``sum_j b[j] sum_k a[k] f[i+j+k] = sum_m (a * b)[m] f[i+m]``.
    """
    for kernel, name in ((first, "first"), (second, "second")):
        require_array(kernel, name)
        require_layout(kernel, name, "(k,)")
        if kernel.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one tap; got shape {kernel.shape}")
    return np.convolve(first, second)


# ----------------------------------------------------------------------------- 2-D kernels


def blended_laplacian_kernel_2d(diagonal_weight: float, h: float = 1.0) -> np.ndarray:
    """(3, 3) Laplacian kernel ``(1 - g) * 5-point + g * diagonal 5-point``, ``g = diagonal_weight``.

    ``g = 0`` is the 4-neighbour kernel, ``g = 1`` the diagonal one, ``g = 1/3``
    the isotropic 8-neighbour one. Every ``g`` is exact on quadratics; the
    leading error is ``(h^2/12)(f_xxxx + 6 g f_xxyy + f_yyyy)``.
    """
    require_number(diagonal_weight, "diagonal_weight", 0, 1)
    d2 = second_difference_kernel(h)  # (3,)
    along_x = np.zeros((3, 3))
    along_x[1, :] = d2  # f_xx: the middle row, along the last axis
    along_y = along_x.T  # f_yy: the middle column
    five_point = along_x + along_y
    # f_uu + f_vv along the two diagonals, where neighbours are sqrt(2) h away: d2 / 2
    diagonal = (np.diag(d2) + np.fliplr(np.diag(d2))) / 2
    return (1 - diagonal_weight) * five_point + diagonal_weight * diagonal


def laplacian_kernel_2d(kind: str = "4-neighbour", h: float = 1.0) -> np.ndarray:
    """(3, 3) finite-difference Laplacian for grid spacing ``h``.

    Args:
        kind: ``"4-neighbour"``, ``[0 1 0; 1 -4 1; 0 1 0] / h^2``: row plus column
            second difference. ``"diagonal"``, ``[1 0 1; 0 -4 0; 1 0 1] / 2h^2``:
            the same on the 45-degree grid. ``"8-neighbour"``,
            ``[1 4 1; 4 -20 4; 1 4 1] / 6h^2``: the isotropic blend (weight 1/3
            on the diagonal kernel; see the module docstring for the reference).
        h: grid spacing, the same along both axes.
    """
    weights = {"4-neighbour": 0.0, "diagonal": 1.0, "8-neighbour": ISOTROPIC_DIAGONAL_WEIGHT}
    if not isinstance(kind, str) or kind not in weights:
        raise ValueError(f"kind must be one of {LAPLACIAN_KINDS}; got {kind!r}")
    return blended_laplacian_kernel_2d(weights[kind], h)


# ----------------------------------------------------------------------------- applying them


def _check_grid(f, kernel, require_type) -> tuple[int, int]:
    require_type(f, "f")
    require_floating(f, "f")
    require_min_ndim(f, "f", 2)
    if isinstance(kernel, torch.Tensor):
        kernel_shape = tuple(kernel.shape)
    else:
        require_array(kernel, "kernel")
        kernel_shape = kernel.shape
    if len(kernel_shape) != 2:
        raise ValueError(f"kernel must have shape (kh, kw); got shape {tuple(kernel_shape)}")
    kh, kw = kernel_shape
    height, width = f.shape[-2:]
    if height < kh or width < kw:
        raise ValueError(f"f must be at least the kernel's size ({kh}, {kw}) in its last two axes; got shape {tuple(f.shape)}")
    return kh, kw


def apply_stencil_np(f: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of grids with one kernel, in NumPy.

    ``out[..., i, j] = sum_{a, b} kernel[a, b] * f[..., i + a, j + b]``, a sum over the
    kernel's taps of shifted copies of ``f``.

    Args:
        f: (..., H, W) floating grid(s).
        kernel: (kh, kw).
    Returns:
        (..., H - kh + 1, W - kw + 1), in ``f``'s dtype. Only the non-zero taps are
        read: a NaN or inf under a zero tap does not reach the output (``F.conv2d``,
        and :func:`apply_stencil`, multiply it by 0, which gives NaN).
    """
    kh, kw = _check_grid(f, kernel, require_array)
    out_h, out_w = f.shape[-2] - kh + 1, f.shape[-1] - kw + 1
    work = upcast(f)  # float16 summed in float32
    weights = kernel.astype(f.dtype).astype(work.dtype)  # the kernel as f's dtype holds it
    out = np.zeros((*f.shape[:-2], out_h, out_w), dtype=work.dtype)
    # a sum of shifted copies of f, one per non-zero weight (a loop over the kh * kw taps, not
    # over pixels): every pixel is summed in the same order, so float32 results are reproducible
    for a, b in zip(*np.nonzero(weights)):
        out += weights[a, b] * work[..., a : a + out_h, b : b + out_w]
    return out.astype(f.dtype, copy=False)


def apply_stencil(f: torch.Tensor, kernel: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation of grids with one kernel, by ``F.conv2d``; as :func:`apply_stencil_np`.

    ``f: (..., H, W)`` -> ``(..., H - kh + 1, W - kw + 1)``; the kernel is moved to
    ``f``'s device and dtype. Differentiable in ``f`` (and in ``kernel`` if a tensor).
    """
    kh, kw = _check_grid(f, kernel, require_tensor)
    *batch, height, width = f.shape
    work = upcast(f)  # float16 and bfloat16 in float32
    weight = torch.as_tensor(kernel, dtype=f.dtype, device=f.device).to(work.dtype).reshape(1, 1, kh, kw)
    images = math.prod(batch)  # B; -1 would not do for an empty batch
    out = torch.nn.functional.conv2d(work.reshape(images, 1, height, width), weight)  # (B, 1, Ho, Wo)
    return out.reshape(*batch, height - kh + 1, width - kw + 1).to(f.dtype)


def apply_laplacian_np(f: np.ndarray, h: float = 1.0, kind: str = "4-neighbour") -> np.ndarray:
    """Finite-difference Laplacian of grids ``f: (..., H, W)`` with spacing ``h``: (..., H - 2, W - 2)."""
    return apply_stencil_np(f, laplacian_kernel_2d(kind, h))


def apply_laplacian(f: torch.Tensor, h: float = 1.0, kind: str = "4-neighbour") -> torch.Tensor:
    """Finite-difference Laplacian of grids ``f: (..., H, W)`` with spacing ``h``: (..., H - 2, W - 2)."""
    return apply_stencil(f, laplacian_kernel_2d(kind, h))


# ----------------------------------------------------------------------------- convergence


def observed_order(h: np.ndarray, errors: np.ndarray) -> float:
    """Slope ``p`` of the least-squares line through ``(log h, log error)``: errors ~ C h^p.

    ``h`` and ``errors``: (K,) positive, K >= 2.
    """
    for values, name in ((h, "h"), (errors, "errors")):
        require_array(values, name)
        require_layout(values, name, "(K,)")
        if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
            raise TypeError(f"{name} must hold real numbers; got dtype {values.dtype}")
        if values.shape[0] < 2 or not (values > 0).all():
            raise ValueError(f"{name} must hold at least 2 positive values; got {values}")
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must hold finite values; got {values}")
    if h.shape != errors.shape:
        raise ValueError(f"h and errors must have the same shape; got h {h.shape} and errors {errors.shape}")
    slope, _ = np.polyfit(np.log(h), np.log(errors), 1)
    return float(slope)


def _wavenumbers(k: object, name: str) -> np.ndarray:
    """Real wavenumbers as a float64 array; TypeError for anything else (strings, complex numbers)."""
    if isinstance(k, torch.Tensor):
        k = k.detach().cpu().numpy()
    values = np.asarray(k)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)) or values.dtype == bool:
        raise TypeError(f"{name} must hold real numbers; got {values.dtype}")
    return values.astype(np.float64)


def stencil_symbol(kernel: np.ndarray, kx: np.ndarray, ky: np.ndarray, h: float = 1.0) -> np.ndarray:
    """The factor by which a (kh, kw) kernel multiplies a plane wave ``exp(i (kx x + ky y))``.

    Cross-correlating samples of the wave (spacing ``h``, kernel centred on its
    middle entry) returns the wave times ``sum_{a, b} kernel[a, b] exp(i (kx (b - cw) + ky (a - ch)) h)``,
    ``(ch, cw)`` the centre. The exact Laplacian multiplies it by ``-(kx^2 + ky^2)``,
    so the ratio of the two is the stencil's relative accuracy on that wave.

    Args:
        kernel: (kh, kw), odd sizes. kx, ky: wavenumbers (radians per unit length), broadcastable.
        h: grid spacing.
    Returns:
        complex array of the broadcast shape of ``kx`` and ``ky`` (real for symmetric kernels).
    """
    require_array(kernel, "kernel")
    require_layout(kernel, "kernel", "(kh, kw)")
    h = require_positive(h, "h")
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel must have odd sizes to have a centre; got shape {kernel.shape}")
    kx, ky = _wavenumbers(kx, "kx"), _wavenumbers(ky, "ky")
    try:
        kx, ky = np.broadcast_arrays(kx, ky)
    except ValueError:
        raise ValueError(f"kx and ky must broadcast to one shape; got shapes {kx.shape} and {ky.shape}") from None
    dy = (np.arange(kh) - kh // 2) * h  # (kh,) offsets along y
    dx = (np.arange(kw) - kw // 2) * h  # (kw,) offsets along x
    with ieee():  # an infinite or NaN wavenumber has a NaN symbol
        phase = kx[..., None, None] * dx + ky[..., None, None] * dy[:, None]  # (..., kh, kw)
        return (kernel * np.exp(1j * phase)).sum(axis=(-2, -1))
