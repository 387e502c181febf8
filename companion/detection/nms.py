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

from companion._checks import is_integer, require_floating, require_int, require_number, require_same_device, require_tensor
from companion.detection.boxes import _require_boxes


def _require_scores(scores: torch.Tensor, boxes: torch.Tensor, name: str = "scores") -> None:
    require_tensor(scores, name)
    require_floating(scores, name)
    require_same_device(boxes, "boxes", scores, name)
    if scores.shape != (boxes.shape[0],):
        raise ValueError(f"{name} must have shape (N,) = ({boxes.shape[0]},); got shape {tuple(scores.shape)}")


def overlapping_pairs(boxes: torch.Tensor, iou_threshold: float, slab_size: int = 1 << 17) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs ``(i, j)``, ``i < j``, of boxes whose IoU exceeds ``iou_threshold``.

    IoU above ``t`` needs an overlap of more than ``t`` times each box's width
    and height: ``inter > t * union >= t * w * h`` and ``inter <= overlap_x * h``.
    So the lower of two such boxes starts less than ``(1 - t) * h`` below the
    top of the upper one (``h`` the upper one's height, which is less than the
    lower one's height over ``t``), and the same holds along x. The search uses both:

    - Along y, the image is cut into bands of height ``2B``, with
      ``B = (1 - t) * (largest height)``. A pair lies in one band, or it
      straddles the edge between two bands; then the upper box starts within
      ``(1 - t) * h`` above the edge and the lower one within
      ``min(B, (1 - t) * h / t)`` below it (``h`` each box's own height). A
      second sweep takes only the boxes that close to an edge, in bands
      centred on the edges.
    - Along x, within a band sorted by ``x1``, a box can only pair with the
      boxes that start after it and less than ``(1 - t) * w`` after it: the
      next ``count`` boxes of the sorted order (one ``searchsorted``).
      Consecutive boxes are taken together in slabs: rows ``p`` against
      columns ``p + 1 .. p + k``, ``k`` the largest count among the rows, read
      as a sliding-window view of the sorted coordinates (no copy).

    Time and memory grow as ``N`` times a window, not as ``N**2``. The
    ``(1 - t)`` of the bounds is widened by a few rounding errors of the
    boxes' dtype, so that no pair whose computed IoU is above ``t`` is missed:
    the result is exactly the pairs with ``box_iou(boxes, boxes) > t``.

    Args:
        boxes: (N, 4) ``xyxy`` boxes.
        iou_threshold: pairs with IoU strictly above it are returned.
        slab_size: IoUs computed at once (at least one row's window), the memory bound.
    Returns:
        ``(i, j)``, two (E,) int64 tensors of indices into ``boxes``, with ``i < j``, in no particular order.
    """
    _require_boxes(boxes, "boxes")
    t = require_number(iou_threshold, "iou_threshold", 0.0, 1.0)
    slab_size = require_int(slab_size, "slab_size", minimum=1)
    n, device = boxes.shape[0], boxes.device
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    exact = boxes.double()  # bands, edges and sweep keys, not the IoUs, are computed in float64
    heights = exact[:, 3] - exact[:, 1]
    if n < 2 or t >= 1 or float(heights.max()) <= 0:  # no IoU exceeds 1; zero heights give IoU 0
        return empty, empty
    margin = (1 - t) + max(1e-6, 16 * torch.finfo(boxes.dtype).eps)
    band = margin * float(heights.max())
    y1 = exact[:, 1] - exact[:, 1].min()
    x1 = exact[:, 0] - exact[:, 0].min()
    bands = torch.floor(y1 / (2 * band))  # (N,)
    i, j = _pairs_in_bands(boxes, bands, x1, margin, t, slab_size)
    # the pairs across an edge between two bands: both tops near the edge, in bands centred on the edges
    below_top = y1 - bands * (2 * band)  # how far each top lies below its band's upper edge
    reach_down = margin * heights  # the upper box of a pair: how far above an edge it can start
    reach_up = (reach_down / t).clamp_(max=band) if t > 0 else torch.full_like(heights, band)  # the lower box
    near = ((2 * band - below_top < reach_down) | (below_top < reach_up)).nonzero().squeeze(1)
    if near.shape[0] >= 2:
        a, b = _pairs_in_bands(boxes[near], torch.floor((y1[near] + band) / (2 * band)), x1[near], margin, t, slab_size)
        a, b = near.index_select(0, a), near.index_select(0, b)
        across = (bands.index_select(0, a) != bands.index_select(0, b)).nonzero().squeeze(1)  # the rest were found above
        i, j = torch.cat([i, a.index_select(0, across)]), torch.cat([j, b.index_select(0, across)])
    return i, j


def _pairs_in_bands(boxes: torch.Tensor, bands: torch.Tensor, x1: torch.Tensor, margin: float, t: float,
                    slab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs ``(i, j)``, ``i < j``, of one band (equal ``bands``) with IoU above ``t``: the sweep along x."""
    n, device = boxes.shape[0], boxes.device
    reach = margin * (boxes[:, 2] - boxes[:, 0]).double()  # how far right of its x1 a box's partners can start
    key = bands * (float((x1 + reach).max()) + 1.0) + x1  # bands in order, x1 within a band; no window spans two bands
    order = key.argsort(stable=True)
    swept, key, reach = boxes.index_select(0, order), key.index_select(0, order), reach.index_select(0, order)
    # swept box p's window is p + 1 .. p + count[p]: the same band, x1 less than reach[p] further
    count = torch.searchsorted(key, key + reach, side="left").sub_(torch.arange(1, n + 1, device=device)).clamp_(min=0)
    widest = int(count.max())
    if widest == 0:
        return (torch.zeros(0, dtype=torch.int64, device=device),) * 2
    rows, offsets = _slab_hits(swept, count, widest, t, slab_size)
    columns = rows + 1 + offsets
    swept_bands = bands.index_select(0, order)  # (index_select: the fast gather on the CPU)
    same = (swept_bands.index_select(0, rows) == swept_bands.index_select(0, columns)).nonzero().squeeze(1)  # a slab reaches past its band
    a, b = order.index_select(0, rows.index_select(0, same)), order.index_select(0, columns.index_select(0, same))
    return torch.minimum(a, b), torch.maximum(a, b)


def _slab_hits(swept: torch.Tensor, count: torch.Tensor, widest: int, t: float, slab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``p`` and offsets ``o`` with IoU(swept[p], swept[p + 1 + o]) > t, for o < the slab's largest count.

    Each slab is rows ``start .. stop - 1`` against the sliding-window view
    ``[p, o] -> p + 1 + o`` of the coordinates (zero boxes pad the end). The
    work buffers are allocated once: at this size, fresh allocations cost more
    than the arithmetic.
    """
    n, device = swept.shape[0], swept.device
    padded = torch.cat([swept, swept.new_zeros(widest, 4)]).T.contiguous()  # (4, n + widest)
    x1, y1, x2, y2 = padded
    area = (x2 - x1) * (y2 - y1)
    size = max(slab_size, widest)
    overlap_w, overlap_h, spare = (swept.new_empty(size) for _ in range(3))
    above = torch.empty(size, dtype=torch.bool, device=device)
    rows, offsets = [], []
    start = 0
    while start < n:
        # the most rows whose slab, rows x their largest count, fits in slab_size
        running = count[start:start + slab_size].cummax(0).values.clamp_(min=1)
        fits = running * torch.arange(1, running.shape[0] + 1, device=device) <= slab_size
        stop = start + max(int(fits.sum()), 1)
        k = int(running[stop - start - 1])
        shape, r = (stop - start, k), slice(start, stop)

        def window(v: torch.Tensor) -> torch.Tensor:
            return v[start + 1:stop + k].unfold(0, k, 1)  # (stop - start, k) view: [p, o] is box p + 1 + o

        w, h, other = (buffer[:shape[0] * k].view(shape) for buffer in (overlap_w, overlap_h, spare))
        torch.minimum(x2[r, None], window(x2), out=w).sub_(torch.maximum(x1[r, None], window(x1), out=other)).clamp_(min=0)
        torch.minimum(y2[r, None], window(y2), out=h).sub_(torch.maximum(y1[r, None], window(y1), out=other))
        inter = w.mul_(h)  # negative where the boxes miss along y: not above t either
        union = torch.add(area[r, None], window(area), out=h).sub_(inter)
        p, o = torch.gt(inter.div_(union), t, out=above[:shape[0] * k].view(shape)).nonzero(as_tuple=True)  # 0 / 0 is NaN: no hit
        rows.append(p.add_(start))
        offsets.append(o)
        start = stop
    return torch.cat(rows), torch.cat(offsets)


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
            0, second, keep.index_select(0, first).to(torch.int32)
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
    require_same_device(boxes, "boxes", classes, "classes")
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
