"""Softmax (and its backward), log-softmax, log-sum-exp and sigmoid, in NumPy and in PyTorch.

The textbook formulas overflow: ``exp(1000)`` is ``inf`` in any float format.
The stable forms use two identities:

- softmax is unchanged by adding a constant to every score, so subtract the
  maximum first: every exponent is then ``<= 0`` and ``exp`` cannot overflow;
- ``log(sum_j exp(z_j)) = m + log(sum_j exp(z_j - m))`` with ``m = max_j z_j``
  (log-sum-exp), which gives log-softmax without ever forming a probability
  that could underflow to 0.

Each PyTorch function here is written from first principles and tested
against its ``torch`` counterpart (values and gradients). float16 and bfloat16
scores are computed in float32 and the result rounded back: a float16 sum over
70,000 classes would overflow.

Infinite and NaN scores give what ``torch`` gives: a row of ``-inf`` (every
choice masked) has log-sum-exp ``-inf``, a ``+inf`` score log-sum-exp ``+inf``,
and the softmax of either is NaN, as ``torch.softmax``'s.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from companion._checks import (
    require_array,
    require_bool,
    require_dim,
    require_floating,
    require_min_ndim,
    require_positive,
    require_same_device,
    require_same_shape,
    require_tensor,
    ieee,
    upcast,
)


def _check_np(z: np.ndarray, name: str = "z") -> None:
    require_array(z, name)
    require_floating(z, name)
    require_min_ndim(z, name, 1)


def _check_torch(z: torch.Tensor, name: str = "z") -> None:
    require_tensor(z, name)
    require_floating(z, name)
    require_min_ndim(z, name, 1)


# ----------------------------------------------------------------------------- NumPy


def naive_softmax_np(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """The textbook formula ``exp(z_i) / sum_j exp(z_j)``, kept to show why it fails.

    Overflows to ``inf / inf = nan`` once a score passes ~88 (float32, and
    float16, which is computed in float32) or ~709 (float64). Use :func:`softmax_np`.
    """
    _check_np(z)
    axis = require_dim(axis, z, "axis")
    e = np.exp(upcast(z))
    return (e / e.sum(axis=axis, keepdims=True)).astype(z.dtype, copy=False)


def logsumexp_np(z: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum_j exp(z_j))`` along ``axis``, without overflow.

    Args:
        z: scores, any shape with at least one axis; floating dtype.
    Returns:
        ``z`` with ``axis`` removed (kept with size 1 if ``keepdims``): ``-inf``
        for a row of ``-inf`` or an empty axis, ``+inf`` for a row holding ``+inf``.
    """
    _check_np(z)
    axis = require_dim(axis, z, "axis")
    keepdims = require_bool(keepdims, "keepdims")
    work = upcast(z)
    m = work.max(axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)  # a row of -inf, or holding +inf or NaN, needs no shift
    # log sum exp(z) = m + log sum exp(z - m); every exponent is <= 0
    with ieee():  # log(0) = -inf: a row of -inf
        out = (m + np.log(np.exp(work - m).sum(axis=axis, keepdims=True))).astype(z.dtype, copy=False)
    return out if keepdims else out.squeeze(axis)


def softmax_np(z: np.ndarray, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax of ``z / temperature`` along ``axis``.

    Args:
        z: scores (logits), any shape; floating dtype.
        axis: the class axis.
        temperature: ``T > 0``; ``T < 1`` sharpens, ``T > 1`` flattens.
    Returns:
        probabilities, same shape as ``z``, summing to 1 along ``axis``.
    """
    _check_np(z)
    axis = require_dim(axis, z, "axis")
    temperature = require_positive(temperature, "temperature")
    work = upcast(z)
    with ieee():  # NaN and inf give what torch.softmax gives
        # softmax(z / T) = softmax((z - max z) / T): the largest exponent is exp(0) = 1, and
        # shifting before dividing keeps a small T from overflowing z / T
        shifted = work - work.max(axis=axis, keepdims=True, initial=-np.inf)
        e = np.exp(_divide(shifted, temperature))
        return (e / e.sum(axis=axis, keepdims=True)).astype(z.dtype, copy=False)


def _divide(x, temperature: float):
    """``x / temperature`` in ``x``'s dtype (a tensor or an array).

    Divided in float64 when ``temperature`` is below the smallest normal number
    of that dtype, where it would round to 0 (and ``0 / 0`` is NaN).
    """
    if isinstance(x, torch.Tensor):
        if temperature >= torch.finfo(x.dtype).tiny:
            return x / temperature
        return (x.double() / temperature).to(x.dtype)
    if temperature >= np.finfo(x.dtype).tiny:
        return x / temperature
    return (x.astype(np.float64) / temperature).astype(x.dtype)  # a large quotient rounds to -inf: exp gives 0


def log_softmax_np(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(z)) = z - logsumexp(z)``: finite for finite ``z``.

    Computed as ``(z - m) - log(sum_j exp(z_j - m))``: subtracting the max
    first keeps the digits that ``z - (m + log(...))`` would cancel away
    (for ``z ~ 1e4`` in float32 the difference is in the third decimal).
    """
    _check_np(z)
    axis = require_dim(axis, z, "axis")
    work = upcast(z)
    with ieee():  # NaN and inf give what torch.log_softmax gives
        shifted = work - work.max(axis=axis, keepdims=True, initial=-np.inf)
        return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(z.dtype, copy=False)


def sigmoid_np(z: np.ndarray) -> np.ndarray:
    """Stable logistic sigmoid ``1 / (1 + exp(-z))``.

    For ``z < 0`` it uses the equal form ``exp(z) / (1 + exp(z))`` so that
    ``exp`` never sees a large positive argument.
    """
    _check_np(z)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def log_sigmoid_np(z: np.ndarray) -> np.ndarray:
    """``log(sigmoid(z)) = -log(1 + exp(-z)) = min(z, 0) - log1p(exp(-|z|))``."""
    _check_np(z)
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


# ----------------------------------------------------------------------------- PyTorch


def _row_max(z: torch.Tensor, dim: int) -> torch.Tensor:
    """``max_j z_j`` along ``dim``, kept, detached (a shift is a constant for the gradient); ``-inf`` if ``dim`` is empty."""
    if z.shape[dim] == 0:  # amax refuses an empty axis
        return z.new_full((*z.shape[:dim], 1, *z.shape[dim + 1 :]), -math.inf)
    return z.amax(dim=dim, keepdim=True).detach()


def logsumexp(z: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """``log(sum_j exp(z_j))`` along ``dim``; PyTorch twin of :func:`logsumexp_np`, equals ``torch.logsumexp``.

    A row of ``-inf`` gives ``-inf`` with a zero gradient (``torch.logsumexp``'s
    gradient is NaN there), so a choice masked in every term does not turn a
    mixture's gradient into NaN.
    """
    _check_torch(z)
    dim = require_dim(dim, z)
    keepdim = require_bool(keepdim, "keepdim")
    work = upcast(z)
    m = _row_max(work, dim)
    m = torch.where(torch.isfinite(m), m, 0.0)  # a row of -inf, or holding +inf or NaN, needs no shift
    s = torch.exp(work - m).sum(dim=dim, keepdim=True)
    # log 0 = -inf for a row of -inf; log is taken of 1 there, so the gradient is 0, not 0 * inf = nan
    out = torch.where(s == 0, -math.inf, m + torch.log(torch.where(s == 0, 1.0, s))).to(z.dtype)
    return out if keepdim else out.squeeze(dim)


def softmax(z: torch.Tensor, dim: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """Stable softmax of ``z / temperature`` along ``dim``; equals ``torch.softmax``.

    Args:
        z: logits, any shape; floating dtype; any device.
        dim: the class dimension.
        temperature: ``T > 0``.
    Returns:
        probabilities, same shape, dtype and device as ``z``.
    """
    _check_torch(z)
    dim = require_dim(dim, z)
    temperature = require_positive(temperature, "temperature")
    work = upcast(z)
    # shifting before dividing keeps a small T from overflowing z / T (see softmax_np)
    e = torch.exp(_divide(work - _row_max(work, dim), temperature))
    return (e / e.sum(dim=dim, keepdim=True)).to(z.dtype)


def log_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``(z - m) - log(sum_j exp(z_j - m))`` along ``dim``; equals ``torch.log_softmax``.

    See :func:`log_softmax_np` for why the max is subtracted first.
    """
    _check_torch(z)
    dim = require_dim(dim, z)
    work = upcast(z)
    shifted = work - _row_max(work, dim)
    return (shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))).to(z.dtype)


def softmax_backward(probabilities: torch.Tensor, grad_output: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The backward pass of a softmax layer, written out: ``dL/dz`` from ``p = softmax(z)`` and ``g = dL/dp``.

    The Jacobian is ``dp_i/dz_j = p_i ([i = j] - p_j)``, so its product with
    ``g`` never needs the ``K x K`` matrix:

        ``dL/dz = p * (g - sum_j p_j g_j)``   (the sum along ``dim``, kept)

    This is what a from-scratch softmax layer sends back to the layer below;
    chained with cross-entropy's ``g = -onehot(y) / p`` it gives ``p - onehot(y)``.

    Args:
        probabilities: ``p``, the layer's forward output, any shape; floating dtype.
        grad_output: ``g``, same shape, dtype and device as ``probabilities``.
        dim: the class dimension the softmax ran over.
    Returns:
        ``dL/dz``, same shape, dtype and device as ``probabilities``.
    """
    _check_torch(probabilities, "probabilities")
    _check_torch(grad_output, "grad_output")
    require_same_shape(probabilities, "probabilities", grad_output, "grad_output")
    require_same_device(probabilities, "probabilities", grad_output, "grad_output")
    if probabilities.dtype != grad_output.dtype:
        raise TypeError(
            f"probabilities and grad_output must have the same dtype; got {probabilities.dtype} and {grad_output.dtype}"
        )
    dim = require_dim(dim, probabilities)
    p, g = upcast(probabilities), upcast(grad_output)
    # dL/dz_i = p_i (g_i - sum_j p_j g_j)
    return (p * (g - (p * g).sum(dim=dim, keepdim=True))).to(probabilities.dtype)


def softplus(z: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(z))``, stable, with the exact gradient ``sigmoid(z)`` everywhere; equals ``F.softplus``.

    Two branches, both built from ``e = exp(-|z|)``, which lies in ``(0, 1]``
    and never overflows (``torch.where`` differentiates both branches):

    - ``z > 0``:  ``z + log1p(exp(-z))``
    - ``z <= 0``: ``log1p(exp(z))``

    ``-|z|`` is written ``where(z > 0, -z, z)``, with the branches' own
    condition, so each branch is a smooth function of ``z`` wherever it is
    selected, ``z = 0`` included: the gradient there is that of ``log1p(exp(z))``,
    exactly 0.5. Built from ``abs``, ``max`` or ``clamp`` instead (the one-liner
    ``max(z, 0) + log1p(exp(-|z|))``, or a clamped copy of ``z`` per branch),
    the values are the same but the gradient at ``z = 0`` is whatever those
    operations pass at their switch point: that differs between them, and
    between releases (``z.clamp(max=0)`` passes 1 at 0 up to PyTorch 2.13 and 0
    from 2.14). A zero-initialised layer starts exactly there.
    """
    _check_torch(z)
    positive = z > 0
    e = torch.exp(torch.where(positive, -z, z))  # exp(-|z|), each side taken where its branch is
    log_term = torch.log1p(e)
    return torch.where(positive, z + log_term, log_term)


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """Stable sigmoid; equals ``torch.sigmoid``, gradient included (0.25 at 0). See :func:`sigmoid_np`.

    ``1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` for ``z < 0``, with
    ``e = exp(-|z|)`` written ``exp(where(z >= 0, -z, z))``: no exponent is
    positive, and each branch is smooth where it is selected (see :func:`softplus`).
    """
    _check_torch(z)
    positive = z >= 0
    e = torch.exp(torch.where(positive, -z, z))  # exp(-|z|) in (0, 1]: never overflows
    return torch.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))


def log_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``log(sigmoid(z)) = -softplus(-z)``; equals ``torch.nn.functional.logsigmoid``."""
    _check_torch(z)
    return -softplus(-z)
