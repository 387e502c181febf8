"""Softmax, log-softmax, log-sum-exp and sigmoid, in NumPy and in PyTorch.

The textbook formulas overflow: ``exp(1000)`` is ``inf`` in any float format.
The stable forms use two identities:

- softmax is unchanged by adding a constant to every score, so subtract the
  maximum first: every exponent is then ``<= 0`` and ``exp`` cannot overflow;
- ``log(sum_j exp(z_j)) = m + log(sum_j exp(z_j - m))`` with ``m = max_j z_j``
  (log-sum-exp), which gives log-softmax without ever forming a probability
  that could underflow to 0.

Each PyTorch function here is written from first principles and tested
against its ``torch`` counterpart (values and gradients).
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import require_array, require_floating, require_min_ndim, require_positive, require_tensor


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

    Overflows to ``inf / inf = nan`` once a score passes ~88 (float32) or ~709
    (float64). Use :func:`softmax_np`.
    """
    _check_np(z)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp_np(z: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum_j exp(z_j))`` along ``axis``, without overflow.

    Args:
        z: scores, any shape with at least one axis; floating dtype.
    Returns:
        ``z`` with ``axis`` removed (kept with size 1 if ``keepdims``).
    """
    _check_np(z)
    m = z.max(axis=axis, keepdims=True)
    # log sum exp(z) = m + log sum exp(z - m); every exponent is <= 0
    out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
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
    require_positive(temperature, "temperature")
    z = z / temperature
    # softmax(z) = softmax(z - max z): the largest exponent is exp(0) = 1
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_np(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(z)) = z - logsumexp(z)``: finite for finite ``z``.

    Computed as ``(z - m) - log(sum_j exp(z_j - m))``: subtracting the max
    first keeps the digits that ``z - (m + log(...))`` would cancel away
    (for ``z ~ 1e4`` in float32 the difference is in the third decimal).
    """
    _check_np(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


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


def logsumexp(z: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """``log(sum_j exp(z_j))`` along ``dim``; PyTorch twin of :func:`logsumexp_np`."""
    _check_torch(z)
    m = z.amax(dim=dim, keepdim=True).detach()  # the shift is a constant for the gradient
    out = m + torch.log(torch.exp(z - m).sum(dim=dim, keepdim=True))
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
    require_positive(temperature, "temperature")
    z = z / temperature
    e = torch.exp(z - z.amax(dim=dim, keepdim=True).detach())
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``(z - m) - log(sum_j exp(z_j - m))`` along ``dim``; equals ``torch.log_softmax``.

    See :func:`log_softmax_np` for why the max is subtracted first.
    """
    _check_torch(z)
    shifted = z - z.amax(dim=dim, keepdim=True).detach()
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def softplus(z: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(z))``, stable, with the exact gradient ``sigmoid(z)`` everywhere; equals ``F.softplus``.

    Two branches, each fed a clamped copy of ``z`` so that the branch not taken
    never overflows (``torch.where`` differentiates both):

    - ``z > 0``:  ``z + log1p(exp(-z))``
    - ``z <= 0``: ``log1p(exp(z))``

    The tempting one-liner ``max(z, 0) + log1p(exp(-|z|))`` has the right values
    but the wrong gradient at ``z = 0`` (1 instead of 0.5): autograd takes one
    side of ``max`` and ``|z|`` there, and a zero-initialised layer starts exactly there.
    """
    _check_torch(z)
    positive, negative = z.clamp(min=0), z.clamp(max=0)
    return torch.where(z > 0, positive + torch.log1p(torch.exp(-positive)), torch.log1p(torch.exp(negative)))


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """Stable sigmoid; equals ``torch.sigmoid``, gradient included (also at 0). See :func:`sigmoid_np`."""
    _check_torch(z)
    positive, negative = z.clamp(min=0), z.clamp(max=0)  # each branch sees only its side: no overflow
    e = torch.exp(negative)
    return torch.where(z >= 0, 1.0 / (1.0 + torch.exp(-positive)), e / (1.0 + e))


def log_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``log(sigmoid(z)) = -softplus(-z)``; equals ``torch.nn.functional.logsigmoid``."""
    _check_torch(z)
    return -softplus(-z)
