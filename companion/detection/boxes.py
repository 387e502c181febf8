"""Axis-aligned boxes: formats, area, pairwise IoU and GIoU, clipping.

Boxes are rows of four numbers. Two formats are used:

- ``xyxy``: ``(x1, y1, x2, y2)``, the top-left and bottom-right corners, with
  ``x1 <= x2`` and ``y1 <= y2`` (the format of :func:`box_iou` and NMS);
- ``cxcywh``: ``(cx, cy, w, h)``, the centre, width and height (the format
  in which box deltas are coded and SSD prior boxes are stated).

Coordinates are continuous: a box from 0 to 10 has width 10 (no "+1" of the
old pixel-index convention). *Normalised* coordinates are divided by the
image's width and height, so that they lie in [0, 1] inside the image.
Every function takes its device and dtype from its inputs and accepts any
number of boxes, zero included.
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import require_array, require_floating, require_number, require_same_device, require_tensor

BOX_FORMATS = ("xyxy", "cxcywh")
_IOU_CHUNK = 1 << 17  # IoUs per chunk of rows in box_iou on the CPU


def _require_boxes(boxes: torch.Tensor, name: str) -> None:
    """Raise unless ``boxes`` is a floating (N, 4) tensor."""
    require_tensor(boxes, name)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4); got shape {tuple(boxes.shape)}")
    require_floating(boxes, name)


def _require_boxes_np(boxes: np.ndarray, name: str) -> None:
    require_array(boxes, name)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4); got shape {tuple(boxes.shape)}")
    require_floating(boxes, name)


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert (N, 4) boxes between ``"xyxy"`` and ``"cxcywh"``.

    >>> box_convert(torch.tensor([[0.0, 0.0, 4.0, 2.0]]), "xyxy", "cxcywh")
    tensor([[2., 1., 4., 2.]])
    """
    _require_boxes(boxes, "boxes")
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{name} must be one of {BOX_FORMATS}; got {fmt!r}")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(dim=1)  # each (N,)
    if in_fmt == "xyxy":  # corners -> centre and size
        return torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], dim=1)
    return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], dim=1)  # centre and size -> corners


def normalize_boxes(boxes: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Divide x coordinates by ``width`` and y coordinates by ``height``: pixels -> [0, 1] (either format)."""
    _require_boxes(boxes, "boxes")
    scale = boxes.new_tensor([_size(width, "width"), _size(height, "height")] * 2)  # (4,)
    return boxes / scale


def denormalize_boxes(boxes: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Multiply x coordinates by ``width`` and y coordinates by ``height``: [0, 1] -> pixels (either format)."""
    _require_boxes(boxes, "boxes")
    scale = boxes.new_tensor([_size(width, "width"), _size(height, "height")] * 2)  # (4,)
    return boxes * scale


def _size(value: float, name: str) -> float:
    value = require_number(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive; got {value}")
    return value


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of (N, 4) ``xyxy`` boxes: ``(x2 - x1) * (y2 - y1)``; returns (N,)."""
    _require_boxes(boxes, "boxes")
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _intersection_union(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise intersection and union areas, both (N, M), of ``xyxy`` boxes.

    In-place steps on fresh (N, M) temporaries keep the number of large
    allocations low: at this size, allocating memory costs more than the arithmetic.
    """
    x1, y1, x2, y2 = (c[:, None] for c in boxes1.unbind(dim=1))  # (N, 1) each
    u1, v1, u2, v2 = (c[None, :] for c in boxes2.unbind(dim=1))  # (1, M) each
    overlap_w = torch.minimum(x2, u2).sub_(torch.maximum(x1, u1)).clamp_(min=0)  # (N, M); 0 if disjoint
    overlap_h = torch.minimum(y2, v2).sub_(torch.maximum(y1, v1)).clamp_(min=0)
    inter = overlap_w * overlap_h  # (N, M)
    union = ((x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1)).sub_(inter)  # (N, M)
    return inter, union


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair of boxes, as an (N, M) matrix.

    Args:
        boxes1: (N, 4) ``xyxy`` boxes, ``x1 <= x2``, ``y1 <= y2``.
        boxes2: (M, 4) ``xyxy`` boxes on the same device (two float dtypes give the promoted one).
    Returns:
        (N, M) tensor, ``iou[i, j] = area(b1_i & b2_j) / area(b1_i | b2_j)``
        in [0, 1]; 0 where the union is empty (two zero-area boxes).

    >>> box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]]))
    tensor([[0.3333, 0.0000]])
    """
    _require_boxes(boxes1, "boxes1")
    _require_boxes(boxes2, "boxes2")
    require_same_device(boxes1, "boxes1", boxes2, "boxes2")
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    boxes1, boxes2 = boxes1.to(dtype), boxes2.to(dtype)
    if torch.is_grad_enabled() and (boxes1.requires_grad or boxes2.requires_grad):
        inter, union = _intersection_union(boxes1, boxes2)  # out-of-place: autograd records it
        return torch.where(union > 0, inter / union.clamp(min=torch.finfo(dtype).tiny), 0.0)
    n, m = boxes1.shape[0], boxes2.shape[0]
    iou = boxes1.new_empty(n, m)
    if n == 0 or m == 0:
        return iou
    x1, y1, x2, y2 = (c[:, None] for c in boxes1.unbind(dim=1))  # (N, 1) each
    u1, v1, u2, v2 = (c[None, :] for c in boxes2.unbind(dim=1))  # (1, M) each
    area1, area2 = (x2 - x1) * (y2 - y1), (u2 - u1) * (v2 - v1)
    # On the CPU, rows in chunks whose two work buffers stay in the cache,
    # written straight into the result: fewer and smaller allocations, which at
    # this size cost more than the arithmetic. An accelerator takes all rows at once.
    on_cpu = boxes1.device.type == "cpu"
    rows = max(1, _IOU_CHUNK // m) if on_cpu else n
    buffers = [boxes1.new_empty(min(rows, n) * m) for _ in range(2)]
    # 0 / 0 needs two zero-area boxes; elsewhere the check would cost a device sync (or, on "meta", not run)
    empty_unions = not on_cpu or (bool((area1 == 0).any()) and bool((area2 == 0).any()))
    for start in range(0, n, rows):
        r = slice(start, min(start + rows, n))
        h, other = (b[: iou[r].numel()].view(iou[r].shape) for b in buffers)
        inter = torch.minimum(x2[r], u2, out=iou[r]).sub_(torch.maximum(x1[r], u1, out=other)).clamp_(min=0)
        torch.minimum(y2[r], v2, out=h).sub_(torch.maximum(y1[r], v1, out=other)).clamp_(min=0)
        union = torch.add(area1[r], area2, out=other).sub_(inter.mul_(h))
        inter.div_(union)
        if empty_unions:
            torch.nan_to_num_(inter, nan=0.0)  # two zero-area boxes: IoU 0
    return iou


def box_iou_np(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`box_iou` (same contract): (N, 4), (M, 4) -> (N, M)."""
    _require_boxes_np(boxes1, "boxes1")
    _require_boxes_np(boxes2, "boxes2")
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0).astype(boxes1.dtype)


def paired_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU of row i of ``boxes1`` with row i of ``boxes2`` (a prediction with its own target): (N, 4), (N, 4) -> (N,)."""
    _require_boxes(boxes1, "boxes1")
    _require_boxes(boxes2, "boxes2")
    require_same_device(boxes1, "boxes1", boxes2, "boxes2")
    if boxes1.shape != boxes2.shape:
        raise ValueError(
            f"boxes1 and boxes2 must have the same shape (N, 4); got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        )
    top_left = torch.maximum(boxes1[:, :2], boxes2[:, :2])  # (N, 2)
    bottom_right = torch.minimum(boxes1[:, 2:], boxes2[:, 2:])  # (N, 2)
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]  # (N,)
    union = box_area(boxes1) + box_area(boxes2) - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Generalised IoU (Rezatofighi et al., 2019) of every pair, as an (N, M) matrix in [-1, 1].

    ``GIoU = IoU - (area(C) - area(union)) / area(C)``, with ``C`` the smallest
    box enclosing both. Unlike IoU it still tells apart two disjoint boxes that
    are near from two that are far. Shapes and formats as :func:`box_iou`;
    boxes must have positive area.
    """
    _require_boxes(boxes1, "boxes1")
    _require_boxes(boxes2, "boxes2")
    require_same_device(boxes1, "boxes1", boxes2, "boxes2")
    inter, union = _intersection_union(boxes1, boxes2)
    iou = inter / union
    enclose_tl = torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    enclose_br = torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    wh = enclose_br - enclose_tl
    enclosing = wh[..., 0] * wh[..., 1]  # (N, M)
    # GIoU = IoU - |C \ (A u B)| / |C|
    return iou - (enclosing - union) / enclosing


def clip_boxes(boxes: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Clip (N, 4) ``xyxy`` boxes to the image ``[0, width] x [0, height]`` (use 1, 1 for normalised boxes)."""
    _require_boxes(boxes, "boxes")
    width, height = _size(width, "width"), _size(height, "height")
    x = boxes[:, 0::2].clamp(0, width)  # (N, 2): x1, x2
    y = boxes[:, 1::2].clamp(0, height)  # (N, 2): y1, y2
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)


def boxes_inside(boxes: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """(N,) bool: which ``xyxy`` boxes lie entirely inside ``[0, width] x [0, height]``."""
    _require_boxes(boxes, "boxes")
    width, height = _size(width, "width"), _size(height, "height")
    return (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= width) & (boxes[:, 3] <= height)


def box_iou_loop(boxes1: list, boxes2: list) -> list[list[float]]:
    """The plain-Python reference for :func:`box_iou`: two nested loops over lists of 4 numbers.

    Kept as the test reference and the benchmark's baseline; use :func:`box_iou`.
    """
    result = []
    for ax1, ay1, ax2, ay2 in boxes1:
        row = []
        for bx1, by1, bx2, by2 in boxes2:
            iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            ih = max(0.0, min(ay2, by2) - max(ay1, by1))
            inter = iw * ih
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            row.append(inter / union if union > 0 else 0.0)
        result.append(row)
    return result
