"""Label anchors against ground-truth boxes, and sample a balanced mini-batch of them.

This is how Faster R-CNN's region proposal network gets its training targets
(Ren et al., 2015, section 3.1.2), as its reference code does it:

1. every anchor that crosses the image border is ignored;
2. an anchor whose best IoU with any ground-truth box is below
   ``low_threshold`` (0.3) is a negative (background);
3. for each ground-truth box, the anchor(s) with the highest IoU with it are
   positives, however low that IoU (so that every box has an anchor), unless
   it is 0;
4. an anchor with IoU at least ``high_threshold`` (0.7) with some box is a positive;
5. the rest (between the thresholds) are ignored.

Then :func:`sample_anchors` keeps, per image, ``batch_size`` (256) of the
labelled anchors, at most ``positive_fraction`` (half) of them positive, and
fills the rest with negatives: only those contribute to the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from companion._checks import (
    require_class_indices,
    require_cpu_generator,
    require_in_range,
    require_int,
    require_number,
    require_positive,
    require_tensor,
)
from companion.detection.boxes import _require_boxes, box_iou, boxes_inside

POSITIVE = 1
NEGATIVE = 0
IGNORED = -1  # between the thresholds, across the border, or not sampled
NO_MATCH = -1  # matched_index of an anchor when the image has no ground-truth box


@dataclass(frozen=True)
class AnchorLabels:
    """The result of :func:`label_anchors`.

    Attributes:
        labels: (A,) int64: ``POSITIVE`` (1), ``NEGATIVE`` (0) or ``IGNORED`` (-1).
        matched_index: (A,) int64: the ground-truth box with the highest IoU
            with each anchor (the box a positive regresses to), ``NO_MATCH``
            (-1) when there is no ground-truth box.
        max_iou: (A,) the IoU with that box (0 with no box).
    """

    labels: torch.Tensor
    matched_index: torch.Tensor
    max_iou: torch.Tensor


def label_anchors(
    anchors: torch.Tensor,
    gt_boxes: torch.Tensor,
    image_size: tuple[float, float] | None = None,
    high_threshold: float = 0.7,
    low_threshold: float = 0.3,
) -> AnchorLabels:
    """Label every anchor positive, negative or ignored (rules 1 to 5 of the module's docstring).

    Args:
        anchors: (A, 4) ``xyxy`` anchors in image pixels.
        gt_boxes: (G, 4) ``xyxy`` ground-truth boxes; G = 0 is allowed (every anchor inside is negative).
        image_size: ``(height, width)``; anchors not entirely inside are ignored. None: none is ignored.
        high_threshold: IoU from which an anchor is positive (0.7).
        low_threshold: IoU below which an anchor is negative (0.3).
    Returns:
        :class:`AnchorLabels`, on the anchors' device.
    """
    _require_boxes(anchors, "anchors")
    _require_boxes(gt_boxes, "gt_boxes")
    high = require_number(high_threshold, "high_threshold", 0.0, 1.0)
    low = require_number(low_threshold, "low_threshold", 0.0, 1.0)
    if low > high:
        raise ValueError(f"low_threshold must be <= high_threshold; got {low} > {high}")
    if image_size is not None:
        if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
            raise TypeError(f"image_size must be a pair (height, width) or None; got {image_size!r}")
        image_size = (require_positive(image_size[0], "image_size"), require_positive(image_size[1], "image_size"))
    num_anchors = anchors.shape[0]
    inside = (
        boxes_inside(anchors, image_size[1], image_size[0])
        if image_size is not None
        else anchors.new_ones(num_anchors, dtype=torch.bool)
    )  # (A,)
    labels = torch.full((num_anchors,), IGNORED, dtype=torch.int64, device=anchors.device)
    if num_anchors == 0:
        return AnchorLabels(labels, labels.clone(), anchors.new_zeros(0))
    if gt_boxes.shape[0] == 0:
        labels[inside] = NEGATIVE
        return AnchorLabels(labels, torch.full_like(labels, NO_MATCH), anchors.new_zeros(num_anchors))

    iou = box_iou(gt_boxes, anchors)  # (G, A)
    iou = torch.where(inside[None, :], iou, -1.0)  # border-crossing anchors never win a box
    max_iou, matched_index = iou.max(dim=0)  # (A,): best box for each anchor
    labels[(max_iou >= 0) & (max_iou < low)] = NEGATIVE
    # rule 3: for each box, every anchor that ties for its highest IoU (when that IoU is > 0)
    best_per_box = iou.max(dim=1, keepdim=True).values  # (G, 1)
    is_best = ((iou == best_per_box) & (best_per_box > 0)).any(dim=0)  # (A,)
    labels[is_best] = POSITIVE
    labels[max_iou >= high] = POSITIVE
    return AnchorLabels(labels, matched_index, max_iou.clamp(min=0))


def sample_anchors(
    labels: torch.Tensor,
    batch_size: int = 256,
    positive_fraction: float = 0.5,
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """Keep a random, balanced subset of labelled anchors; set the others to ``IGNORED``.

    At most ``round(batch_size * positive_fraction)`` positives are kept
    (all of them if there are fewer), then negatives fill the batch up to
    ``batch_size`` (or as many as there are). Chosen uniformly without
    replacement: one random key per anchor, and the smallest keys win.

    Args:
        labels: (A,) or (B, A) int64 labels from :func:`label_anchors` (one row per image).
        batch_size: anchors per image (256 in Faster R-CNN).
        positive_fraction: largest share of positives (0.5: "up to 1:1").
        generator: a CPU generator (keys are drawn on the CPU, then moved).
    Returns:
        Labels of the same shape, ``IGNORED`` except for the sampled anchors.
    """
    require_tensor(labels, "labels")
    if labels.ndim not in (1, 2):
        raise ValueError(f"labels must have shape (A,) or (B, A); got shape {tuple(labels.shape)}")
    require_class_indices(labels, "labels")
    require_in_range(labels, "labels", 2, ignore_index=IGNORED)
    batch_size = require_int(batch_size, "batch_size")
    fraction = require_number(positive_fraction, "positive_fraction", 0.0, 1.0)
    require_cpu_generator(generator)
    rows = labels.reshape(1, -1) if labels.ndim == 1 else labels  # (B, A); A = 0 allowed
    keys = torch.rand(rows.shape, generator=generator, dtype=torch.float64).to(labels.device)  # (B, A)
    positive, negative = rows == POSITIVE, rows == NEGATIVE
    num_pos = positive.sum(dim=1).clamp(max=round(batch_size * fraction))  # (B,)
    num_neg = negative.sum(dim=1).clamp(max=batch_size - num_pos)  # (B,)
    # rank of each anchor among those of its own label, in order of its key (0 = smallest key)
    rank_pos = _rank_within(keys, positive)  # (B, A)
    rank_neg = _rank_within(keys, negative)
    keep_pos = positive & (rank_pos < num_pos[:, None])
    keep_neg = negative & (rank_neg < num_neg[:, None])
    sampled = torch.where(keep_pos | keep_neg, rows, IGNORED)
    return sampled.reshape(labels.shape)


def _rank_within(keys: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
    """For each row, the rank of each member's key among the members' keys (non-members: a large rank)."""
    masked = torch.where(member, keys, 2.0)  # non-members sort last (keys are in [0, 1))
    order = masked.argsort(dim=1)  # (B, A)
    rank = torch.empty_like(order)
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    return rank.scatter_(1, order, positions)
