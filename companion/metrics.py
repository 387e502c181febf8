"""Classification metrics computed from scores: accuracy, top-k, precision and recall.

Accuracy needs only the *order* of the scores within a row, so logits,
probabilities and log-probabilities give the same answer, except where
rounding makes distinct logits equal probabilities (chapter 1.2).

A row holding a NaN score ranks nothing: it counts as a miss, so a model
whose output turned to NaN scores 0, never 1 (``torch.argmax`` would point at
the NaN). Over zero rows (N = 0) the accuracies are NaN, a mean over nothing.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch

from companion._checks import (
    is_integer,
    require_binary_targets,
    require_class_labels,
    require_floating,
    require_layout,
    require_no_nan,
    require_same_device,
    require_same_shape,
    require_tensor,
    require_values,
    upcast,
)


def _check_scores_labels(scores: torch.Tensor, labels: torch.Tensor) -> None:
    require_tensor(scores, "scores")
    require_tensor(labels, "labels")
    require_layout(scores, "scores", "(N, C)")
    if not (scores.is_floating_point() or is_integer(scores)):
        raise TypeError(f"scores must hold real numbers (a floating or integer dtype); got {scores.dtype}")
    n, c = scores.shape
    require_class_labels(labels, "labels", n, c)
    require_same_device(scores, "scores", labels, "labels")


def _has_nan(scores: torch.Tensor) -> torch.Tensor:
    """(N,) bool: whether each row holds a NaN score."""
    return scores.isnan().any(dim=1) if scores.is_floating_point() else scores.new_zeros(scores.shape[0], dtype=torch.bool)


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose highest score is at the label: ``mean(argmax(scores) == y)``.

    Args:
        scores: (N, C) logits, probabilities or log-probabilities.
        labels: (N,) integer class indices.
    Returns:
        0-dim float tensor on the device of ``scores``. Ties go to the first
        maximal index (``torch.argmax``); a row holding a NaN is a miss; NaN for N = 0.
    """
    _check_scores_labels(scores, labels)
    if scores.shape[1] == 0:  # no class (then N = 0, as no label fits): argmax has nothing to pick
        return scores.new_full((), torch.nan, dtype=torch.float32)
    return ((scores.argmax(dim=1) == labels) & ~_has_nan(scores)).float().mean()


def topk_accuracy(
    scores: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    ties: Literal["optimistic", "pessimistic"] = "optimistic",
) -> torch.Tensor:
    """Fraction of rows whose label is among the ``k`` highest scores.

    The label's rank is the number of classes scored above it. With
    ``ties="optimistic"`` classes scored *equal* to the label do not count
    against it; with ``"pessimistic"`` they do. The two agree when no score
    ties the label's, which holds for logits but can fail for probabilities
    that rounded to the same value.

    Args:
        scores: (N, C) scores. labels: (N,) integer class indices. k: 1 <= k <= C.
    Returns:
        0-dim float tensor; a row holding a NaN is a miss (a NaN compares false,
        so it would otherwise rank nothing above the label); NaN for N = 0.
    """
    _check_scores_labels(scores, labels)
    c = scores.shape[1]
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k <= c:
        raise ValueError(f"k must be an int in [1, C] = [1, {c}]; got {k!r}")
    if not isinstance(ties, str) or ties not in ("optimistic", "pessimistic"):
        raise ValueError(f"ties must be 'optimistic' or 'pessimistic'; got {ties!r}")
    label_score = scores.gather(1, labels.long()[:, None])  # (N, 1)
    if ties == "optimistic":
        rank = (scores > label_score).sum(dim=1)  # (N,)
    else:
        rank = (scores >= label_score).sum(dim=1) - 1  # minus the label itself
    return ((rank < k) & ~_has_nan(scores)).float().mean()


class PrecisionRecall(NamedTuple):
    """Precision and recall at each distinct threshold, highest threshold first."""

    thresholds: torch.Tensor  # (K,) predict positive when score >= threshold
    precision: torch.Tensor  # (K,)
    recall: torch.Tensor  # (K,)


def precision_recall_curve(scores: torch.Tensor, targets: torch.Tensor) -> PrecisionRecall:
    """Precision and recall for every threshold, by one sort and two cumulative sums.

    Args:
        scores: (N,) scores of the positive class (logits or probabilities); no NaN
            (a NaN has no place in the order).
        targets: (N,) floats, 1.0 for positives and 0.0 for negatives; at least one positive.
    Returns:
        :class:`PrecisionRecall` with one entry per distinct score; precision and
        recall in the dtype of ``targets`` (float16 and bfloat16 counted in float32).
    """
    require_tensor(scores, "scores")
    require_tensor(targets, "targets")
    require_layout(scores, "scores", "(N,)")
    require_floating(scores, "scores")
    require_binary_targets(targets, "targets")
    require_same_shape(scores, "scores", targets, "targets")
    require_same_device(scores, "scores", targets, "targets")
    require_values(scores, "scores")  # the number of thresholds depends on them
    require_values(targets, "targets")
    require_no_nan(scores, "scores", ": a NaN score has no place in the order of the thresholds")
    counts = upcast(targets)  # a float16 count stops at 2048 + 1 = 2048
    positives = counts.sum()
    if positives == 0:
        raise ValueError("targets must contain at least one positive (1.0); recall is undefined otherwise")
    order = torch.argsort(scores, descending=True, stable=True)
    sorted_scores, sorted_targets = scores[order], counts[order]
    true_pos = torch.cumsum(sorted_targets, dim=0)  # positives among the top i+1
    false_pos = torch.cumsum(1 - sorted_targets, dim=0)
    # a threshold admits every score equal to it: keep the last index of each run of equal scores
    last_of_run = torch.ones_like(sorted_scores, dtype=torch.bool)
    last_of_run[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    tp, fp = true_pos[last_of_run], false_pos[last_of_run]
    precision, recall = (tp / (tp + fp)).to(targets.dtype), (tp / positives).to(targets.dtype)
    return PrecisionRecall(sorted_scores[last_of_run], precision, recall)


def f1_score(precision: torch.Tensor, recall: torch.Tensor) -> torch.Tensor:
    """Harmonic mean ``2 P R / (P + R)``, defined as 0 where ``P + R = 0``.

    Args:
        precision, recall: floating tensors of the same shape, values in ``[0, 1]``
            (a NaN gives NaN there).
    Returns:
        the same shape, in the dtype of ``precision``.
    """
    for x, name in ((precision, "precision"), (recall, "recall")):
        require_tensor(x, name)
        require_floating(x, name)
        _require_fraction(x, name)
    require_same_shape(precision, "precision", recall, "recall")
    require_same_device(precision, "precision", recall, "recall")
    recall = recall.to(precision.dtype)
    total = precision + recall
    f1 = 2 * precision * recall / total.clamp_min(torch.finfo(total.dtype).tiny)
    return torch.where(total == 0, 0.0, f1)  # NaN stays NaN


def _require_fraction(x: torch.Tensor, name: str) -> None:
    """Values in [0, 1]; NaN allowed (it propagates)."""
    outside = (x < 0) | (x > 1)
    if x.device.type != "meta" and bool(outside.any()):
        raise ValueError(f"{name} must lie in [0, 1]; got {int(outside.sum())} value(s) outside")
