"""Non-maximum suppression (NMS), exact greedy, vectorized.

Greedy NMS visits boxes from the highest score down and keeps a box unless
a box already kept overlaps it with IoU above the threshold. Written as a
loop, it is sequential (:func:`nms_loop`). But its answer has a closed
description that vectorizes: sort by score; box ``j`` is kept if and only if
no *kept* box ``i`` before it overlaps it. That is a fixed point,

    keep[j] = not any(keep[i] and overlaps[i, j] for i < j),

and it has exactly one solution (``keep[0]`` is True, and each ``keep[j]``
follows from the ones before it). :func:`nms` finds it by iterating the
equation from "keep everything": after round ``t`` the first ``t`` boxes are
settled, and in practice it stops after a few rounds (as many as the longest
chain "a suppresses b, which would have suppressed c, ..."), each round one
scatter over the overlapping pairs. Only pairs that can overlap enough
along both axes get an IoU (:func:`overlapping_pairs`), and only pairs above
the threshold are kept, so neither time nor memory grows as the full N x N matrix.
"""

from __future__ import annotations

import torch

from companion._checks import is_integer, require_floating, require_int, require_number, require_tensor
from companion.detection.boxes import _intersection_union, _require_boxes


def _require_scores(scores: torch.Tensor, boxes: torch.Tensor, name: str = "scores") -> None:
    require_tensor(scores, name)
    require_floating(scores, name)
    if scores.shape != (boxes.shape[0],):
        raise ValueError(f"{name} must have shape (N,) = ({boxes.shape[0]},); got shape {tuple(scores.shape)}")


def overlapping_pairs(boxes: torch.Tensor, iou_threshold: float, block: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs ``(i, j)``, ``i < j``, of boxes whose IoU exceeds ``iou_threshold``.

    IoU above ``t`` needs an overlap of more than ``t`` times each box's width
    and height: ``inter > t * union >= t * w * h`` and ``inter <= overlap_x * h``.
    Two consequences narrow the search. Along y, the tops of such a pair lie
    less than ``B = (1 - t) * (largest height)`` apart, so both boxes fall in
    one band of height ``2B`` in at least one of two tilings of the image by
    such bands (the second shifted by ``B``). Along x, within a band sorted by
    ``x1``, a box can only pair with the boxes that start after it and more
    than ``t * w`` before its right edge: a window of the sorted order (one
    ``searchsorted``). The boxes are taken in blocks of ``block``; each block
    gets a dense IoU slab against the union of its members' windows
    (contiguous slices and elementwise arithmetic), and the slab's entries
    above the threshold are the pairs. Time and memory grow as ``N`` times a
    window, not as ``N**2``.

    Args:
        boxes: (N, 4) ``xyxy`` boxes.
        iou_threshold: pairs with IoU strictly above it are returned.
        block: boxes per slab (memory at most ``block * N`` IoUs).
    Returns:
        ``(i, j)``, two (E,) int64 tensors of indices into ``boxes``, with ``i < j``.
    """
    _require_boxes(boxes, "boxes")
    t = require_number(iou_threshold, "iou_threshold", 0.0, 1.0)
    block = require_int(block, "block", minimum=1)
    n, device = boxes.shape[0], boxes.device
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    if n < 2:
        return empty, empty
    exact = boxes.double()  # the band and sweep keys, not the IoUs, are computed in float64
    band = (1 - t) * float((exact[:, 3] - exact[:, 1]).max())
    if band <= 0:  # t = 1, or every box has zero height: no IoU exceeds t
        return empty, empty
    y1 = exact[:, 1] - exact[:, 1].min()
    x_span = float(exact[:, 2].max() - exact[:, 0].min()) + 1.0  # more than any window along x
    pairs = []
    for shift in (0.0, band):  # two tilings by bands of height 2 * band
        group = torch.floor((y1 + shift) / (2 * band))  # (N,)
        key = group * x_span + (exact[:, 0] - exact[:, 0].min())  # bands in order, x1 within a band
        order = key.argsort(stable=True)
        swept, key = boxes[order], key[order]
        width = (swept[:, 2] - swept[:, 0]).double()
        # the window of swept box p is p + 1 .. end[p] - 1: same band, x1 < x2[p] - t * w[p]
        end = torch.searchsorted(key, key + (1 - t) * width, side="left")  # (N,)
        for start in range(0, n, block):  # slabs of `block` boxes; not a loop over boxes
            stop = min(start + block, n)
            last = int(end[start:stop].max())  # the slab's columns: start .. last - 1
            if last <= start + 1:
                continue
            inter, union = _intersection_union(swept[start:stop], swept[start:last])  # (b, w) each
            rows = torch.arange(start, stop, device=device)[:, None]
            columns = torch.arange(start, last, device=device)[None, :]
            hit = (inter / union > t) & (columns > rows)  # 0 / 0 (two empty boxes) is NaN: no hit
            p, q = hit.nonzero(as_tuple=True)
            a, b = order[p + start], order[q + start]  # back to indices into `boxes`
            pairs.append(torch.minimum(a, b) * n + torch.maximum(a, b))
    codes = torch.unique(torch.cat(pairs)) if pairs else empty  # a pair found in both tilings counts once
    return codes // n, codes % n


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, exact, without a loop over boxes.

    Args:
        boxes: (N, 4) ``xyxy`` boxes.
        scores: (N,) scores; ties are visited in index order.
        iou_threshold: a box is suppressed by a kept, higher-scoring box whose IoU with it is above this.
    Returns:
        (K,) int64 indices of the kept boxes, by decreasing score
        (the same as :func:`nms_loop` and ``torchvision.ops.nms``).
    """
    _require_boxes(boxes, "boxes")
    _require_scores(scores, boxes)
    iou_threshold = require_number(iou_threshold, "iou_threshold", 0.0, 1.0)
    order = scores.argsort(descending=True, stable=True)  # (N,): visiting order
    first, second = overlapping_pairs(boxes[order], iou_threshold)  # positions in `order`, first < second
    keep = torch.ones(order.shape[0], dtype=torch.bool, device=boxes.device)
    while True:  # rounds of the fixed-point equation; at most N, a few in practice
        # count, for each box, the kept boxes before it that overlap it
        suppressors = torch.zeros(keep.shape, dtype=torch.int32, device=keep.device).index_add_(
            0, second, keep[first].to(torch.int32)
        )
        new_keep = suppressors == 0
        if torch.equal(new_keep, keep):
            return order[keep]
        keep = new_keep


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS within each class: boxes of different classes never suppress each other.

    Each class's boxes are shifted by ``class * (extent + 1)`` along both axes,
    so that boxes of two classes cannot overlap; one :func:`nms` then does all
    classes at once.

    Args:
        boxes: (N, 4) ``xyxy`` boxes.
        scores: (N,) scores.
        classes: (N,) int64 class of each box.
        iou_threshold: as in :func:`nms`.
    Returns:
        (K,) int64 indices of the kept boxes, by decreasing score.
    """
    _require_boxes(boxes, "boxes")
    _require_scores(scores, boxes)
    require_tensor(classes, "classes")
    if not is_integer(classes):
        raise TypeError(f"classes must hold integer class labels (any integer dtype, not bool); got {classes.dtype}")
    if classes.shape != scores.shape:
        raise ValueError(f"classes must be integers of shape (N,) = ({boxes.shape[0]},); got {classes.dtype} {tuple(classes.shape)}")
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    extent = boxes.max() - boxes.min()  # every box fits in a square of this side
    offsets = classes.to(boxes.dtype)[:, None] * (extent + 1)  # (N, 1)
    return nms(boxes + offsets, scores, iou_threshold)


def nms_loop(boxes: list, scores: list, iou_threshold: float) -> list[int]:
    """The plain-Python reference for :func:`nms`: visit boxes by decreasing score, compare with those kept.

    ``boxes``: list of ``(x1, y1, x2, y2)``; ``scores``: list of numbers.
    Kept as the test reference and the benchmark's baseline; use :func:`nms`.
    """
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties in index order
    kept: list[int] = []
    for i in order:
        ax1, ay1, ax2, ay2 = boxes[i]
        suppressed = False
        for k in kept:
            bx1, by1, bx2, by2 = boxes[k]
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            if union > 0 and inter / union > iou_threshold:
                suppressed = True
                break
        if not suppressed:
            kept.append(i)
    return kept


def top_k_indices(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` highest scores (fewer if there are fewer), by decreasing score, ties in index order."""
    require_tensor(scores, "scores")
    if scores.ndim != 1:
        raise ValueError(f"scores must have shape (N,); got shape {tuple(scores.shape)}")
    k = require_int(k, "k", minimum=0)
    return scores.argsort(descending=True, stable=True)[:k]
