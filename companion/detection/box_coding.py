"""Box coding: a box as four deltas relative to a reference box (an anchor or prior box).

A detector does not regress raw coordinates: it predicts how to move and
stretch a reference box (Girshick et al., R-CNN appendix C; Faster R-CNN eq. 2):

    dx = wx * (x - xa) / wa        dy = wy * (y - ya) / ha
    dw = ww * log(w / wa)          dh = wh * log(h / ha)

with ``(x, y, w, h)`` the target's centre and size and ``(xa, ya, wa, ha)``
the reference's. The deltas do not depend on the reference's position and
scale, so one regressor serves every anchor of a given shape. The weights
``(wx, wy, ww, wh)`` rescale the deltas to about unit variance: Faster R-CNN's
RPN uses (1, 1, 1, 1); SSD's ``variance: [0.1, 0.1, 0.2, 0.2]`` is the same
as weights (10, 10, 5, 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from companion._checks import require_floating, require_number, require_tensor
from companion.detection.anchors import _sequence
from companion.detection.boxes import _require_boxes, box_convert

# exp(dw) is clamped here before it is taken: a box at most 1000/16 times its anchor (torchvision's value)
DEFAULT_DELTA_CLAMP = math.log(1000.0 / 16)

RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
SSD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # SSD's variances (0.1, 0.1, 0.2, 0.2), inverted


def _weights(weights: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    weights = _sequence(weights, "weights")
    if len(weights) != 4:
        raise ValueError(f"weights must hold 4 numbers (wx, wy, ww, wh); got {weights!r}")
    values = [require_number(w, "weights") for w in weights]
    if min(values) <= 0:
        raise ValueError(f"weights must be positive; got {weights!r}")
    return like.new_tensor(values)  # (4,)


def encode_boxes(
    boxes: torch.Tensor, references: torch.Tensor, weights: Sequence[float] = RPN_WEIGHTS
) -> torch.Tensor:
    """Deltas that turn each reference box into its target box.

    Args:
        boxes: (N, 4) ``xyxy`` target boxes, positive width and height.
        references: (N, 4) ``xyxy`` reference boxes (anchors), row i paired with row i of ``boxes``.
        weights: ``(wx, wy, ww, wh)``; see the module's docstring.
    Returns:
        (N, 4) deltas ``(dx, dy, dw, dh)``.
    """
    _require_boxes(boxes, "boxes")
    _require_boxes(references, "references")
    if boxes.shape != references.shape:
        raise ValueError(
            f"boxes and references must have the same shape (N, 4); "
            f"got {tuple(boxes.shape)} and {tuple(references.shape)}"
        )
    w = _weights(weights, boxes)
    target = box_convert(boxes, "xyxy", "cxcywh")  # (N, 4): x, y, w, h
    ref = box_convert(references, "xyxy", "cxcywh")  # (N, 4): xa, ya, wa, ha
    centre = (target[:, :2] - ref[:, :2]) / ref[:, 2:]  # (x - xa) / wa, (y - ya) / ha
    size = torch.log(target[:, 2:] / ref[:, 2:])  # log(w / wa), log(h / ha)
    return torch.cat([centre, size], dim=1) * w


def decode_boxes(
    deltas: torch.Tensor,
    references: torch.Tensor,
    weights: Sequence[float] = RPN_WEIGHTS,
    clamp: float = DEFAULT_DELTA_CLAMP,
) -> torch.Tensor:
    """Apply deltas to reference boxes: the inverse of :func:`encode_boxes`.

    Args:
        deltas: (..., N, 4) ``(dx, dy, dw, dh)``; leading batch axes allowed.
        references: (N, 4) ``xyxy`` reference boxes.
        weights: the weights the deltas were encoded with.
        clamp: ``dw`` and ``dh`` (after dividing by their weights) are clamped
            to at most this before ``exp``, so that an untrained network's
            large outputs cannot overflow into infinite boxes.
    Returns:
        (..., N, 4) ``xyxy`` boxes.
    """
    require_tensor(deltas, "deltas")
    require_floating(deltas, "deltas")
    _require_boxes(references, "references")
    if deltas.ndim < 2 or deltas.shape[-2:] != references.shape:
        raise ValueError(
            f"deltas must have shape (..., N, 4) with N = {references.shape[0]} references; "
            f"got {tuple(deltas.shape)}"
        )
    clamp = require_number(clamp, "clamp")
    d = deltas / _weights(weights, deltas)  # (..., N, 4)
    ref = box_convert(references, "xyxy", "cxcywh")  # (N, 4)
    centre = ref[:, :2] + d[..., :2] * ref[:, 2:]  # x = xa + dx * wa
    size = ref[:, 2:] * torch.exp(d[..., 2:].clamp(max=clamp))  # w = wa * exp(dw)
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)
