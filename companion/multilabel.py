"""Multi-label classification with a softmax: normalised targets, soft-target cross-entropy, decoders, metrics.

Large weakly-supervised pretraining on hashtags (Mahajan et al., 2018) trains
an image with ``k`` labels against a softmax, with the target ``1/k`` on each
of its labels: ``[0, 1, 1, 0] -> [0, .5, .5, 0]``. The loss is the
cross-entropy with a probability target,

    loss = -sum_c t_c log softmax(z)_c,       gradient: softmax(z) * sum_c t_c - t,

which ``F.cross_entropy`` computes when given probabilities. At inference the
softmax gives one distribution, and a *decoder* turns it into a set of labels:

- :func:`cumulative_decode`: sort the probabilities, keep the smallest number of
  top labels whose cumulative probability reaches a threshold;
- :func:`top_k_decode`: the ``k`` highest scores, ``k`` fixed or one per example
  (from a head that predicts the label count, see :func:`label_count_classes`).

Independent sigmoids with binary cross-entropy are the usual alternative; they
are decoded by a threshold on each probability. :func:`multilabel_scores`
measures any decoder's precision, recall and F1 per example, per label or
pooled, as scikit-learn does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from companion._checks import (
    reduce,
    require_array,
    require_binary_targets,
    require_floating,
    require_int,
    require_layout,
    require_number,
    require_reduction,
    require_same_shape,
    require_tensor,
    upcast,
)

AVERAGES = ("samples", "macro", "micro", "none")


def _check_targets(targets, is_numpy: bool) -> None:
    (require_array if is_numpy else require_tensor)(targets, "targets")
    require_layout(targets, "targets", "(N, C)")
    require_binary_targets(targets, "targets")


def normalize_targets_np(targets: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`normalize_targets`."""
    _check_targets(targets, is_numpy=True)
    counts = targets.sum(axis=1, keepdims=True)  # (N, 1) labels per example
    return np.divide(targets, counts, out=np.zeros_like(targets), where=counts > 0)


def normalize_targets(targets: torch.Tensor) -> torch.Tensor:
    """Divide each row of 0/1 targets by its number of labels: ``[0, 1, 1, 0] -> [0, .5, .5, 0]``.

    Args:
        targets: (N, C) floats in [0, 1] (1.0 for each label of the example).
    Returns:
        (N, C), each row summing to 1; a row without labels stays all zero (it adds no loss).
    """
    _check_targets(targets, is_numpy=False)
    counts = targets.sum(dim=1, keepdim=True)  # (N, 1)
    return targets / counts.clamp_min(1.0)  # a zero row divided by 1 stays zero


def _check_logits_targets(logits, targets, reduction: str, is_numpy: bool) -> None:
    require = require_array if is_numpy else require_tensor
    require(logits, "logits")
    require(targets, "targets")
    require_layout(logits, "logits", "(N, C)")
    require_floating(logits, "logits")
    require_floating(targets, "targets")
    require_same_shape(logits, "logits", targets, "targets")
    require_reduction(reduction)


def soft_target_cross_entropy_np(logits: np.ndarray, targets: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """NumPy version of :func:`soft_target_cross_entropy`."""
    _check_logits_targets(logits, targets, reduction, is_numpy=True)
    shifted = logits - logits.max(axis=1, keepdims=True)  # subtract the max before exp
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log-softmax
    return reduce(-(targets * log_probs).sum(axis=1), reduction)


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy against a target distribution: ``-sum_c t_c log softmax(z)_c`` per example.

    Equal to ``F.cross_entropy(logits, targets)`` with probability targets.

    Args:
        logits: (N, C) scores. targets: (N, C), each row a distribution (see :func:`normalize_targets`).
        reduction: ``"mean"`` over examples, ``"sum"`` or ``"none"`` (N,).
    """
    _check_logits_targets(logits, targets, reduction, is_numpy=False)
    # float16 and bfloat16 in float32 (PyTorch 2.1 has no float16 log_softmax on the CPU), rounded back
    log_probs = torch.log_softmax(upcast(logits), dim=1)  # (N, C), stable
    loss = reduce(-(targets * log_probs).sum(dim=1), reduction)
    return loss.to(torch.promote_types(logits.dtype, targets.dtype))


def soft_target_cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Gradient of :func:`soft_target_cross_entropy` (``"mean"`` or ``"sum"``) with respect to ``logits``.

    ``softmax(z) * sum_c t_c - t`` per example (``softmax(z) - t`` for normalised targets), divided by N for the mean.
    """
    _check_logits_targets(logits, targets, reduction, is_numpy=False)
    if reduction == "none":
        raise ValueError("reduction must be 'mean' or 'sum' for a gradient of a scalar loss; got 'none'")
    grad = torch.softmax(upcast(logits), dim=1) * targets.sum(dim=1, keepdim=True) - targets  # (N, C)
    grad = grad / logits.shape[0] if reduction == "mean" and logits.shape[0] else grad
    return grad.to(torch.promote_types(logits.dtype, targets.dtype))


def _check_scores(scores, name: str = "scores") -> None:
    require_tensor(scores, name)
    require_layout(scores, name, "(N, C)")
    require_floating(scores, name)


def _rank(scores: torch.Tensor) -> torch.Tensor:
    """(N, C) position of each label when the row is sorted by descending score (0 = best; ties by label index)."""
    order = torch.argsort(scores, dim=1, descending=True, stable=True)  # (N, C) label at each position
    rank = torch.empty_like(order)
    positions = torch.arange(scores.shape[1], device=scores.device).expand_as(order)
    return rank.scatter_(1, order, positions)  # rank[n, order[n, j]] = j


def cumulative_decode(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Keep, per example, the fewest top labels whose probabilities add up to at least ``threshold``.

    Sort each row by descending probability; the number of labels kept is the
    smallest ``k`` with ``p_(1) + ... + p_(k) >= threshold`` (all ``C`` if never).

    Args:
        probs: (N, C) softmax probabilities (rows summing to 1).
        threshold: in (0, 1].
    Returns:
        (N, C) bool, True for the labels predicted.
    """
    _check_scores(probs, "probs")
    threshold = require_number(threshold, "threshold", minimum=0.0, maximum=1.0)
    if threshold == 0.0:
        raise ValueError("threshold must be in (0, 1]; got 0.0")
    sorted_probs = torch.sort(probs, dim=1, descending=True).values  # (N, C)
    below = torch.cumsum(sorted_probs, dim=1) < threshold  # (N, C): prefixes that have not reached it yet
    k = (below.sum(dim=1) + 1).clamp_max(probs.shape[1])  # (N,) the first prefix that reaches it
    return _rank(probs) < k[:, None]


def top_k_decode(scores: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Keep the ``k`` highest-scoring labels of each example.

    Args:
        scores: (N, C) probabilities or logits.
        k: an int for every example, or an integer tensor (N,) with one ``k`` per example, each in [0, C].
    Returns:
        (N, C) bool, True for the labels predicted (ties broken by label index).
    """
    _check_scores(scores)
    n, c = scores.shape
    if isinstance(k, torch.Tensor):
        if k.is_floating_point() or k.dtype == torch.bool or tuple(k.shape) != (n,):
            raise ValueError(f"k must be an int or an integer tensor of shape (N,) = ({n},); got {k.dtype} {tuple(k.shape)}")
        if n and (int(k.min()) < 0 or int(k.max()) > c):
            raise ValueError(f"k must lie in [0, C] = [0, {c}]; got values in [{int(k.min())}, {int(k.max())}]")
        k = k.to(scores.device)[:, None]  # (N, 1)
    else:
        k = require_int(k, "k", minimum=0)
        if k > c:
            raise ValueError(f"k must be <= C = {c}; got {k}")
    return _rank(scores) < k


def label_count_classes(targets: torch.Tensor, max_count: int) -> torch.Tensor:
    """Class index ``min(k, max_count) - 1`` for an example with ``k >= 1`` labels: the target of a label-count head.

    Args:
        targets: (N, C) 0/1 floats, at least one label per example.
        max_count: the largest count the head predicts (counts above it are clipped).
    Returns:
        (N,) int64 in [0, max_count).
    """
    _check_targets(targets, is_numpy=False)
    max_count = require_int(max_count, "max_count")
    counts = targets.sum(dim=1).round().long()  # (N,)
    if counts.numel() and int(counts.min()) < 1:
        raise ValueError(f"targets must have at least one label in every row; {int((counts < 1).sum())} row(s) have none")
    return counts.clamp_max(max_count) - 1


class MultilabelScores(NamedTuple):
    """Precision, recall and F1: scalars for an average, (C,) per label for ``average="none"``."""

    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den``, 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    return torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))


def multilabel_scores(predicted: torch.Tensor, targets: torch.Tensor, average: str = "samples") -> MultilabelScores:
    """Precision, recall and F1 of predicted label sets, as ``sklearn.metrics.precision_recall_fscore_support``.

    Args:
        predicted: (N, C) bool, True for each predicted label.
        targets: (N, C) 0/1 floats or bool, the true labels.
        average: ``"samples"`` (per example, then the mean over examples),
            ``"macro"`` (per label, then the mean over labels), ``"micro"``
            (counts pooled over all examples and labels) or ``"none"`` (per label, (C,)).
    Returns:
        :class:`MultilabelScores`; a ratio with a zero denominator counts as 0 (``zero_division=0``).
    """
    require_tensor(predicted, "predicted")
    require_tensor(targets, "targets")
    require_layout(predicted, "predicted", "(N, C)")
    require_same_shape(predicted, "predicted", targets, "targets")
    if predicted.dtype != torch.bool:
        raise TypeError(f"predicted must be a bool tensor; got {predicted.dtype}")
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}; got {average!r}")
    truth = targets.bool() if targets.dtype == torch.bool else targets > 0.5
    if targets.dtype != torch.bool:
        require_binary_targets(targets, "targets")
    pred = predicted.double()
    true = truth.to(pred.device).double()
    axis = {"samples": 1, "macro": 0, "none": 0, "micro": (0, 1)}[average]
    tp = (pred * true).sum(dim=axis)  # true positives per example, per label, or pooled
    n_pred, n_true = pred.sum(dim=axis), true.sum(dim=axis)
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_true)
    f1 = _ratio(2 * tp, n_pred + n_true)  # = 2PR / (P + R), 0 where both are empty
    if average in ("samples", "macro"):
        return MultilabelScores(precision.mean(), recall.mean(), f1.mean())
    return MultilabelScores(precision, recall, f1)
