"""Cross-entropy on logits, and binary cross-entropy with and without logits.

Losses take *logits* (raw scores) because the log of a probability that has
already underflowed to 0 is ``-inf``: fusing the softmax (or sigmoid) into the
loss lets the log be taken analytically.

- categorical: ``CE(z, y) = -log softmax(z)_y = logsumexp(z) - z_y``
- binary:      ``BCE(z, y) = -y log s(z) - (1 - y) log(1 - s(z))``, ``s`` the sigmoid,
               ``= max(z, 0) - z y + log(1 + exp(-|z|))``  (the stable form)

The gradient with respect to the logits is the prediction minus the target:
``softmax(z) - onehot(y)`` and ``sigmoid(z) - y`` (see :func:`cross_entropy_grad`).
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import (
    ieee,
    reduce,
    require_array,
    require_binary_targets,
    require_class_labels,
    require_floating,
    require_layout,
    require_reduction,
    require_same_shape,
    require_same_device,
    require_scalar_reduction,
    require_tensor,
    upcast,
)
from companion.activations import log_softmax_np, sigmoid, softmax


def _check_logits_labels(logits, labels, reduction: str, require_type) -> None:
    """Checks for (N, C) logits and (N,) labels; ``require_type`` is require_tensor or require_array."""
    require_type(logits, "logits")
    require_type(labels, "labels")
    require_layout(logits, "logits", "(N, C)")
    require_floating(logits, "logits")
    n, c = logits.shape
    if c == 0:
        raise ValueError(f"logits must have at least one class, C >= 1; got shape {tuple(logits.shape)}")
    require_class_labels(labels, "labels", n, c)
    if isinstance(logits, torch.Tensor):
        require_same_device(logits, "logits", labels, "labels")
    require_reduction(reduction)


def _check_binary(logits, targets, reduction: str, require_type) -> None:
    """Checks for logits and same-shape targets in [0, 1]; ``require_type`` as above."""
    require_type(logits, "logits")
    require_type(targets, "targets")
    require_floating(logits, "logits")
    require_binary_targets(targets, "targets")
    require_same_shape(logits, "logits", targets, "targets")
    if isinstance(logits, torch.Tensor):
        require_same_device(logits, "logits", targets, "targets")
    require_reduction(reduction)


# ----------------------------------------------------------------------------- categorical


def cross_entropy_np(logits: np.ndarray, labels: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """Softmax cross-entropy from logits, in NumPy.

    Args:
        logits: (N, C) scores.
        labels: (N,) integer class indices in ``[0, C)``.
        reduction: ``"none"`` gives (N,), ``"mean"`` and ``"sum"`` a scalar
            (the mean over N = 0 samples is NaN, as in PyTorch).
    """
    _check_logits_labels(logits, labels, reduction, require_array)
    n = logits.shape[0]
    per_sample = -log_softmax_np(upcast(logits), axis=1)[np.arange(n), labels]  # (N,)
    return reduce(per_sample, reduction).astype(logits.dtype, copy=False)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Softmax cross-entropy from logits; equals ``F.cross_entropy``.

    Args:
        logits: (N, C) scores, floating dtype, any device.
        labels: (N,) integer class indices in ``[0, C)`` (any integer dtype), same device.
        reduction: ``"none"`` gives (N,), ``"mean"`` and ``"sum"`` a scalar
            (the mean over N = 0 samples is NaN, as in PyTorch).
    """
    _check_logits_labels(logits, labels, reduction, require_tensor)
    work = upcast(logits)  # float16 and bfloat16 are summed in float32
    # CE = logsumexp(z) - z_y = log(sum_j exp(z_j - m)) - (z_y - m): both terms use the shifted
    # scores, so nothing cancels, and the full (N, C) log-softmax is never formed
    shifted = work - work.amax(dim=1, keepdim=True).detach()  # (N, C)
    per_sample = torch.log(torch.exp(shifted).sum(dim=1)) - shifted.gather(1, labels.long()[:, None]).squeeze(1)  # (N,)
    return reduce(per_sample, reduction).to(logits.dtype)


def cross_entropy_grad(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The analytic gradient of :func:`cross_entropy` with respect to ``logits``.

    ``dCE/dz = softmax(z) - onehot(y)``, divided by ``N`` for ``reduction="mean"``.
    This is all a loss layer sends backwards: it is where the gradient starts.

    Returns:
        (N, C), same dtype and device as ``logits``.
    """
    _check_logits_labels(logits, labels, reduction, require_tensor)
    require_scalar_reduction(reduction)
    n, c = logits.shape
    onehot = torch.nn.functional.one_hot(labels.long(), c).to(logits.dtype)
    grad = softmax(logits, dim=1) - onehot
    return grad / n if reduction == "mean" else grad


# ----------------------------------------------------------------------------- binary


def binary_cross_entropy_with_logits_np(logits: np.ndarray, targets: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """Stable BCE from logits, in NumPy: ``max(z, 0) - z y + log1p(exp(-|z|))``.

    Args:
        logits: any shape.
        targets: same shape as ``logits``, values in [0, 1].
    """
    _check_binary(logits, targets, reduction, require_array)
    with ieee():  # an infinite logit gives what F.binary_cross_entropy_with_logits gives
        per_element = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return reduce(per_element, reduction)


def binary_cross_entropy_with_logits(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Stable BCE from logits; equals ``F.binary_cross_entropy_with_logits``.

    ``-y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - z y + log1p(exp(-|z|))``,
    the formula of :func:`binary_cross_entropy_with_logits_np`: no exponent is
    positive and no probability is formed, so no log sees 0. The small loss of a
    confident right answer (``z = 20, y = 1``: ``log1p(exp(-20)) = 2e-9``) is
    added after ``max(z, 0) - z y`` has cancelled exactly, so float32 keeps it.
    ``max(z, 0)`` and ``-|z|`` are both taken with ``where(z > 0, ...)``: each
    side is smooth where it is selected, so the gradient is exactly
    ``sigmoid(z) - y``, at ``z = 0`` too (see :func:`companion.activations.softplus`).

    Args:
        logits: any shape, floating dtype, any device.
        targets: same shape as ``logits``, values in [0, 1].
    """
    _check_binary(logits, targets, reduction, require_tensor)
    positive = logits > 0
    e = torch.exp(torch.where(positive, -logits, logits))  # exp(-|z|) in (0, 1]
    per_element = torch.where(positive, logits, 0.0) - logits * targets + torch.log1p(e)
    return reduce(per_element, reduction)


def naive_binary_cross_entropy_np(logits: np.ndarray, targets: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """Sigmoid, then ``-y log p - (1 - y) log(1 - p)``: the unfused form, kept to show its failure.

    For ``z`` above ~17 (float32) or ~37 (float64) ``p`` rounds to exactly 1,
    and for ``z`` below ~-88.7 (float32) or ~-709.8 (float64) ``exp(-z)``
    overflows and ``p`` is exactly 0 (in between, ``p`` is tiny but positive).
    Then a log sees 0 and the loss becomes ``inf`` (or ``nan`` from ``0 * inf``).
    """
    _check_binary(logits, targets, reduction, require_array)
    p = 1.0 / (1.0 + np.exp(-logits))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        per_element = -targets * np.log(p) - (1 - targets) * np.log(1 - p)
    return reduce(per_element, reduction)


def naive_binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """PyTorch twin of :func:`naive_binary_cross_entropy_np` (no clamping, unlike ``F.binary_cross_entropy``)."""
    _check_binary(logits, targets, reduction, require_tensor)
    p = 1.0 / (1.0 + torch.exp(-logits))
    per_element = -targets * torch.log(p) - (1 - targets) * torch.log(1 - p)
    return reduce(per_element, reduction)


def binary_cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Analytic gradient of BCE-with-logits: ``sigmoid(z) - y`` (divided by the count for ``mean``)."""
    _check_binary(logits, targets, reduction, require_tensor)
    require_scalar_reduction(reduction)
    grad = sigmoid(logits) - targets
    return grad / logits.numel() if reduction == "mean" else grad

