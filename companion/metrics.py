"""Classification metrics computed from scores: accuracy, top-k, precision and recall.

Accuracy needs only the *order* of the scores within a row, so logits,
probabilities and log-probabilities give the same answer, except where
rounding makes distinct logits equal probabilities (chapter 1.2).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from companion._checks import (
    require_binary_targets,
    require_class_labels,
    require_floating,
    require_layout,
    require_same_shape,
    require_tensor,
)


def _check_scores_labels(scores: torch.Tensor, labels: torch.Tensor) -> None:
    require_tensor(scores, "scores")
    require_tensor(labels, "labels")
    require_layout(scores, "scores", "(N, C)")
    n, c = scores.shape
    require_class_labels(labels, "labels", n, c)


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose highest score is at the label: ``mean(argmax(scores) == y)``.

    Args:
        scores: (N, C) logits, probabilities or log-probabilities.
        labels: (N,) integer class indices.
    Returns:
        0-dim float tensor on the device of ``scores``. Ties go to the first
        maximal index (``torch.argmax``).
    """
    _check_scores_labels(scores, labels)
    return (scores.argmax(dim=1) == labels).float().mean()


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
        0-dim float tensor.
    """
    _check_scores_labels(scores, labels)
    c = scores.shape[1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= c:
        raise ValueError(f"k must be an int in [1, C] = [1, {c}]; got {k!r}")
    if ties not in ("optimistic", "pessimistic"):
        raise ValueError(f"ties must be 'optimistic' or 'pessimistic'; got {ties!r}")
    label_score = scores.gather(1, labels[:, None])  # (N, 1)
    if ties == "optimistic":
        rank = (scores > label_score).sum(dim=1)  # (N,)
    else:
        rank = (scores >= label_score).sum(dim=1) - 1  # minus the label itself
    return (rank < k).float().mean()


class PrecisionRecall(NamedTuple):
    """Precision and recall at each distinct threshold, highest threshold first."""

    thresholds: torch.Tensor  # (K,) predict positive when score >= threshold
    precision: torch.Tensor  # (K,)
    recall: torch.Tensor  # (K,)


def precision_recall_curve(scores: torch.Tensor, targets: torch.Tensor) -> PrecisionRecall:
    """Precision and recall for every threshold, by one sort and two cumulative sums.

    Args:
        scores: (N,) scores of the positive class (logits or probabilities).
        targets: (N,) floats, 1.0 for positives and 0.0 for negatives; at least one positive.
    Returns:
        :class:`PrecisionRecall` with one entry per distinct score.
    """
    require_tensor(scores, "scores")
    require_tensor(targets, "targets")
    require_layout(scores, "scores", "(N,)")
    require_floating(scores, "scores")
    require_binary_targets(targets, "targets")
    require_same_shape(scores, "scores", targets, "targets")
    positives = targets.sum()
    if positives == 0:
        raise ValueError("targets must contain at least one positive (1.0); recall is undefined otherwise")
    order = torch.argsort(scores, descending=True, stable=True)
    sorted_scores, sorted_targets = scores[order], targets[order]
    true_pos = torch.cumsum(sorted_targets, dim=0)  # positives among the top i+1
    false_pos = torch.cumsum(1 - sorted_targets, dim=0)
    # a threshold admits every score equal to it: keep the last index of each run of equal scores
    last_of_run = torch.ones_like(sorted_scores, dtype=torch.bool)
    last_of_run[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    tp, fp = true_pos[last_of_run], false_pos[last_of_run]
    return PrecisionRecall(sorted_scores[last_of_run], tp / (tp + fp), tp / positives)


def f1_score(precision: torch.Tensor, recall: torch.Tensor) -> torch.Tensor:
    """Harmonic mean ``2 P R / (P + R)``, defined as 0 where ``P + R = 0``."""
    require_same_shape(precision, "precision", recall, "recall")
    total = precision + recall
    return torch.where(total > 0, 2 * precision * recall / total.clamp_min(torch.finfo(total.dtype).tiny), 0.0)
