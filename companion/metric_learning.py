"""Metric learning: embeddings trained so that distances mean "same identity" or "different".

FaceNet (Schroff, Kalenichenko and Philbin, 2015) maps each face to a point on
the unit sphere of R^128 and trains with the triplet loss

    max(0, ||f(a) - f(p)||^2 - ||f(a) - f(n)||^2 + margin)

over an anchor ``a``, a positive ``p`` (same identity) and a negative ``n``
(another identity), margin 0.2, with squared distances. Which triplets enter
the loss matters more than the formula: most are already satisfied and give
nothing. *Online mining* picks them inside each mini-batch, from the matrix
of all pairwise distances, with masks instead of loops over triplets:

- batch-all: every valid triplet, the loss averaged over those that are not satisfied;
- batch-hard (Hermans, Beyer and Leibe, 2017): for each anchor, the farthest
  positive and the closest negative;
- semi-hard (FaceNet): every anchor-positive pair, with the closest negative
  that is still *farther* than the positive (inside the margin).

Also here: the center loss (Wen et al., 2016), and verification accuracy at a
distance threshold. Embeddings are (N, D) with labels (N,) integer identities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from companion._checks import (
    require_array,
    require_bool,
    require_class_indices,
    require_floating,
    require_in_range,
    require_int,
    require_number,
    require_positive,
    require_tensor,
)

DEFAULT_MARGIN = 0.2  # FaceNet's alpha, for squared distances between unit vectors


def _check_embeddings(embeddings: torch.Tensor, labels: torch.Tensor | None = None, name: str = "embeddings") -> None:
    require_tensor(embeddings, name)
    require_floating(embeddings, name)
    if embeddings.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D); got shape {tuple(embeddings.shape)}")
    if labels is not None:
        require_tensor(labels, "labels")
        require_class_indices(labels, "labels")
        if tuple(labels.shape) != (embeddings.shape[0],):
            raise ValueError(
                f"labels must have shape (N,) = ({embeddings.shape[0]},); got shape {tuple(labels.shape)}"
            )


def _check_distances(distances: torch.Tensor, labels: torch.Tensor) -> None:
    """A floating (N, N) distance matrix and (N,) integer labels."""
    require_tensor(distances, "distances")
    require_floating(distances, "distances")
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must have shape (N, N); got shape {tuple(distances.shape)}")
    require_tensor(labels, "labels")
    require_class_indices(labels, "labels")
    if tuple(labels.shape) != (distances.shape[0],):
        raise ValueError(f"labels must have shape (N,) = ({distances.shape[0]},); got shape {tuple(labels.shape)}")


def _check_centers(centers: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> None:
    """Floating (C, D) centres, with D that of ``features``, and (N,) labels in [0, C)."""
    require_tensor(labels, "labels")  # labels are required here (``_check_embeddings`` lets None through)
    require_class_indices(labels, "labels")
    if tuple(labels.shape) != (features.shape[0],):
        raise ValueError(f"labels must have shape (N,) = ({features.shape[0]},); got shape {tuple(labels.shape)}")
    require_tensor(centers, "centers")
    require_floating(centers, "centers")
    if centers.ndim != 2 or centers.shape[1] != features.shape[1]:
        raise ValueError(f"centers must have shape (C, D) with D = {features.shape[1]}; got {tuple(centers.shape)}")
    require_in_range(labels, "labels", centers.shape[0])


def l2_normalize(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row to unit length: (N, D) -> (N, D). ``eps`` guards an all-zero row (it stays zero)."""
    _check_embeddings(embeddings)
    eps = require_positive(eps, "eps")
    return embeddings / embeddings.norm(dim=1, keepdim=True).clamp(min=eps)


def pairwise_distances(embeddings: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """All pairwise Euclidean distances, (N, D) -> (N, N), with one matrix product.

    ``||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2``, clamped at 0 (rounding can
    make it slightly negative), with an exact 0 on the diagonal. The square
    root has an infinite derivative at 0, so where a distance is 0 its
    gradient is taken as 0.
    """
    _check_embeddings(embeddings)
    squared = require_bool(squared, "squared")
    sq_norms = (embeddings * embeddings).sum(dim=1)  # (N,)
    gram = embeddings @ embeddings.T  # (N, N)
    d2 = (sq_norms[:, None] - 2 * gram + sq_norms[None, :]).clamp(min=0)  # (N, N)
    d2 = d2 * (1 - torch.eye(d2.shape[0], dtype=d2.dtype, device=d2.device))  # exact zeros on the diagonal
    if squared:
        return d2
    positive = d2 > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, d2, 1.0)), 0.0)


def pairwise_distances_np(embeddings: np.ndarray, squared: bool = False) -> np.ndarray:
    """NumPy twin of :func:`pairwise_distances`: (N, D) -> (N, N)."""
    require_array(embeddings, "embeddings")
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D); got shape {embeddings.shape}")
    require_floating(embeddings, "embeddings")
    squared = require_bool(squared, "squared")
    sq_norms = (embeddings * embeddings).sum(axis=1)
    d2 = np.clip(sq_norms[:, None] - 2 * embeddings @ embeddings.T + sq_norms[None, :], 0, None)
    np.fill_diagonal(d2, 0)
    return d2 if squared else np.sqrt(d2)


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = DEFAULT_MARGIN
) -> torch.Tensor:
    """FaceNet's loss over given triplets, squared distances: (N, D) x 3 -> 0-dim mean over the N triplets."""
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _check_embeddings(t, name=name)
        if t.shape != anchor.shape:
            raise ValueError(f"{name} must have the shape of anchor {tuple(anchor.shape)}; got {tuple(t.shape)}")
    margin = require_number(margin, "margin", minimum=0.0)
    d_ap = ((anchor - positive) ** 2).sum(dim=1)  # (N,)
    d_an = ((anchor - negative) ** 2).sum(dim=1)
    return (d_ap - d_an + margin).clamp(min=0).mean()


def triplet_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Which pairs are positives and which are negatives, from the labels alone.

    Returns:
        ``(positive, negative)``, two (N, N) bool matrices:
        ``positive[a, p]``: same label and ``a != p``; ``negative[a, n]``: different labels.
    """
    require_tensor(labels, "labels")
    require_class_indices(labels, "labels")
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,); got shape {tuple(labels.shape)}")
    same = labels[:, None] == labels[None, :]  # (N, N)
    not_self = ~torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & not_self, ~same


@dataclass(frozen=True)
class TripletLoss:
    """A mined triplet loss: the value, and how many triplets (or anchor rows) it was taken over.

    ``loss``: 0-dim; ``num_used``: triplets (or anchors) averaged over;
    ``num_active``: of those, how many had a positive loss (were not yet satisfied).
    """

    loss: torch.Tensor
    num_used: torch.Tensor
    num_active: torch.Tensor


def _no_triplet(embeddings: torch.Tensor) -> TripletLoss:
    """The result for an empty batch: loss 0, still connected to the graph."""
    zero = embeddings.sum() * 0
    count = torch.zeros((), dtype=torch.int64, device=embeddings.device)
    return TripletLoss(zero, count, count)


def _mean_over(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask``; 0 (with a gradient path) where the mask is empty."""
    return torch.where(mask, values, 0.0).sum() / mask.sum().clamp(min=1)


def batch_all_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = DEFAULT_MARGIN, squared: bool = True
) -> TripletLoss:
    """Every valid triplet of the batch; the loss averaged over the active ones (loss > 0).

    Builds the (N, N, N) tensor ``d[a, p] - d[a, n] + margin``: fine for the
    hundreds of embeddings of a mini-batch (512 -> 134 M entries is the
    limit to keep in mind).
    """
    _check_embeddings(embeddings, labels)
    margin = require_number(margin, "margin", minimum=0.0)
    d = pairwise_distances(embeddings, squared=squared)  # (N, N)
    positive, negative = triplet_masks(labels)
    valid = positive[:, :, None] & negative[:, None, :]  # (N, N, N): [a, p, n]
    losses = (d[:, :, None] - d[:, None, :] + margin).clamp(min=0)  # (N, N, N)
    active = valid & (losses > 0)
    return TripletLoss(_mean_over(losses, active), valid.sum(), active.sum())


def batch_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = DEFAULT_MARGIN, squared: bool = True
) -> TripletLoss:
    """For each anchor: its farthest positive and its closest negative; the mean over anchors that have both."""
    _check_embeddings(embeddings, labels)
    margin = require_number(margin, "margin", minimum=0.0)
    if embeddings.shape[0] == 0:
        return _no_triplet(embeddings)
    d = pairwise_distances(embeddings, squared=squared)  # (N, N)
    positive, negative = triplet_masks(labels)
    hardest_positive = torch.where(positive, d, -torch.inf).amax(dim=1)  # (N,)
    hardest_negative = torch.where(negative, d, torch.inf).amin(dim=1)  # (N,)
    usable = positive.any(dim=1) & negative.any(dim=1)  # (N,)
    losses = torch.where(usable, hardest_positive - hardest_negative + margin, 0.0).clamp(min=0)
    return TripletLoss(_mean_over(losses, usable), usable.sum(), (usable & (losses > 0)).sum())


def semi_hard_negatives(distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """FaceNet's choice of negative for every anchor-positive pair, as (N, N) indices ``n[a, p]``.

    Semi-hard: the closest negative that is still farther from the anchor
    than the positive, ``d[a, p] < d[a, n]``. When there is none, the farthest
    negative (as TensorFlow's ``triplet_semihard_loss``). Entries for pairs
    that are not anchor-positive pairs, or anchors with no negative, are meaningless.
    """
    _check_distances(distances, labels)
    positive, negative = triplet_masks(labels)
    d_an = distances[:, None, :]  # (N, 1, N): [a, ., n]
    farther = negative[:, None, :] & (d_an > distances[:, :, None])  # (N, N, N): [a, p, n]
    semi_hard = torch.where(farther, d_an, torch.inf).argmin(dim=2)  # (N, N)
    farthest = torch.where(negative, distances, -torch.inf).argmax(dim=1)  # (N,)
    return torch.where(farther.any(dim=2), semi_hard, farthest[:, None])


def semi_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = DEFAULT_MARGIN, squared: bool = True
) -> TripletLoss:
    """Every anchor-positive pair, each with its semi-hard negative (:func:`semi_hard_negatives`); the mean over pairs."""
    _check_embeddings(embeddings, labels)
    margin = require_number(margin, "margin", minimum=0.0)
    if embeddings.shape[0] == 0:
        return _no_triplet(embeddings)
    d = pairwise_distances(embeddings, squared=squared)  # (N, N)
    positive, negative = triplet_masks(labels)
    usable = positive & negative.any(dim=1, keepdim=True)  # (N, N): pairs whose anchor has a negative
    n = semi_hard_negatives(d.detach(), labels)  # (N, N), chosen without gradient
    d_an = d.gather(1, n)  # (N, N): d[a, n[a, p]]
    losses = torch.where(usable, d - d_an + margin, 0.0).clamp(min=0)
    return TripletLoss(_mean_over(losses, usable), usable.sum(), (usable & (losses > 0)).sum())


def center_loss(features: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Wen et al.'s center loss, ``1/2 * mean_i ||x_i - c_{y_i}||^2``: (N, D), (N,), (C, D) -> 0-dim.

    Added (times a weight) to the softmax cross-entropy of a classifier, it
    pulls each feature toward its class's centre.
    """
    _check_embeddings(features, labels, "features")
    _check_centers(centers, features, labels)
    if features.shape[0] == 0:
        return features.new_zeros(())
    return 0.5 * ((features - centers[labels]) ** 2).sum(dim=1).mean()


def update_centers(centers: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """Wen et al.'s centre update (their eq. 4): each centre moves ``alpha`` of the way to its batch features' mean.

    ``c_j <- c_j - alpha * sum_i [y_i = j] (c_j - x_i) / (1 + sum_i [y_i = j])``; returns new (C, D) centres.
    """
    _check_embeddings(features, labels, "features")
    _check_centers(centers, features, labels)
    alpha = require_number(alpha, "alpha", 0.0, 1.0)
    x = features.detach()
    counts = torch.zeros(centers.shape[0], dtype=x.dtype, device=x.device).index_add_(0, labels, torch.ones_like(x[:, 0]))
    sums = torch.zeros_like(centers).index_add_(0, labels, x)  # (C, D): sum of the features of each class
    delta = (counts[:, None] * centers - sums) / (1 + counts[:, None])  # sum_i (c_j - x_i) / (1 + n_j)
    return centers - alpha * delta


def verification_accuracy(distances: torch.Tensor, labels: torch.Tensor, threshold: float) -> torch.Tensor:
    """Accuracy of "same identity iff distance <= threshold" over all pairs ``i < j``: (N, N), (N,) -> 0-dim."""
    _check_distances(distances, labels)
    threshold = require_number(threshold, "threshold")
    pairs = torch.ones_like(distances, dtype=torch.bool).triu(diagonal=1)  # (N, N): i < j
    same = labels[:, None] == labels[None, :]
    correct = (distances <= threshold) == same
    return correct[pairs].double().mean()


def best_threshold(distances: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """The threshold with the highest :func:`verification_accuracy` over all pairs, and that accuracy.

    Tries every midpoint between consecutive sorted pair distances (in one
    cumulative sum, no loop). Fit it on training pairs, then apply it to new ones.
    """
    _check_distances(distances, labels)
    if distances.shape[0] < 2:
        raise ValueError(f"distances must have shape (N, N) with N >= 2 (at least one pair); got shape {tuple(distances.shape)}")
    pairs = torch.ones_like(distances, dtype=torch.bool).triu(diagonal=1)
    d = distances[pairs].double()  # (M,)
    same = (labels[:, None] == labels[None, :])[pairs]
    order = d.argsort()
    d, same = d[order], same[order]
    # threshold just above d[k]: pairs 0..k say "same"; correct = same among them + different after them
    correct = torch.cumsum(same.double(), 0) + ((~same).sum() - torch.cumsum((~same).double(), 0))
    k = int(correct.argmax())
    threshold = float((d[k] + d[k + 1]) / 2) if k + 1 < d.numel() else float(d[k])
    return threshold, float(correct[k] / d.numel())


def batch_hard_loop(
    embeddings: list, labels: list, margin: float = DEFAULT_MARGIN, anchors: int | None = None
) -> float:
    """The plain-Python reference for :func:`batch_hard_triplet_loss` (squared distances): loops over anchors and pairs.

    ``anchors``: visit only the first ``anchors`` anchors (all by default); each
    is still compared with every embedding, so the cost per anchor is the full
    one (a benchmark times a few anchors and scales). Kept as the test
    reference and the benchmark's baseline.
    """
    n = len(embeddings)
    anchors = n if anchors is None else require_int(anchors, "anchors", minimum=0, maximum=n)
    total, used = 0.0, 0
    for a in range(anchors):
        hardest_pos, hardest_neg = None, None
        for j in range(n):
            if j == a:
                continue
            d = sum((u - v) ** 2 for u, v in zip(embeddings[a], embeddings[j]))
            if labels[j] == labels[a]:
                hardest_pos = d if hardest_pos is None else max(hardest_pos, d)
            else:
                hardest_neg = d if hardest_neg is None else min(hardest_neg, d)
        if hardest_pos is not None and hardest_neg is not None:
            total += max(0.0, hardest_pos - hardest_neg + margin)
            used += 1
    return total / used if used else 0.0
