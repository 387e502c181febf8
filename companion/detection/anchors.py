"""Anchors (Faster R-CNN) and prior boxes (SSD): reference boxes laid over a feature map.

A detector does not predict boxes from nothing: at every position of a
feature map it holds ``k`` reference boxes of chosen sizes and shapes, and
predicts, for each, a score and a small correction (see
:mod:`companion.detection.box_coding`). Faster R-CNN calls them *anchors*
and states them in pixels; SSD calls them *prior boxes* (or default boxes)
and states them in normalised coordinates, over several feature maps.

Order of the output rows, everywhere: row-major over the feature map
(``y`` slowest, then ``x``), then the ``k`` boxes of one position. A head
whose output is reshaped to ``(N, H, W, k, ...)`` lines up with these rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from companion._checks import (
    _type_name,
    require_bool,
    require_float_dtype,
    require_int,
    require_int_pair,
    require_number,
)
from companion.detection.boxes import _require_boxes


def _sequence(values: object, name: str) -> list:
    """``values`` as a list; TypeError unless it is a sequence (a string is not)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a sequence; got {_type_name(values)} {values!r}")
    return list(values)


def _positive_list(values: Sequence[float], name: str) -> list[float]:
    values = _sequence(values, name)
    if not values:
        raise ValueError(f"{name} must hold at least one value; got {values!r}")
    out = []
    for v in values:
        v = require_number(v, name)
        if v <= 0:
            raise ValueError(f"{name} must hold positive numbers; got {values!r}")
        out.append(v)
    return out


def base_anchors(
    sizes: Sequence[float], aspect_ratios: Sequence[float], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The ``k = len(sizes) * len(aspect_ratios)`` anchors of one position, centred at the origin.

    An anchor of size ``s`` and aspect ratio ``r = h / w`` has the area ``s**2``:
    ``w = s / sqrt(r)``, ``h = s * sqrt(r)``. Faster R-CNN uses sizes
    (128, 256, 512) pixels and ratios (0.5, 1, 2): k = 9.

    Returns:
        (k, 4) ``xyxy`` boxes, ordered size-major (all ratios of the first size first).

    >>> base_anchors([2.0], [1.0])
    tensor([[-1., -1.,  1.,  1.]])
    """
    require_float_dtype(dtype)
    sizes_t = torch.tensor(_positive_list(sizes, "sizes"), dtype=torch.float64)  # (S,)
    ratios_t = torch.tensor(_positive_list(aspect_ratios, "aspect_ratios"), dtype=torch.float64)  # (R,)
    # w = s / sqrt(r), h = s * sqrt(r): area s^2, h / w = r
    widths = (sizes_t[:, None] / ratios_t.sqrt()[None, :]).reshape(-1)  # (k,)
    heights = (sizes_t[:, None] * ratios_t.sqrt()[None, :]).reshape(-1)  # (k,)
    return torch.stack([-widths / 2, -heights / 2, widths / 2, heights / 2], dim=1).to(dtype)


def grid_anchors(anchors: torch.Tensor, feature_size: int | tuple[int, int], stride: float) -> torch.Tensor:
    """Lay the ``k`` base anchors over every position of an ``H x W`` feature map.

    Position ``(y, x)`` of the map looks at the image around the pixel point
    ``((x + 0.5) * stride, (y + 0.5) * stride)``: the centre of the
    ``stride x stride`` cell it covers. The anchors are shifted there.

    Args:
        anchors: (k, 4) ``xyxy`` anchors centred at the origin (:func:`base_anchors`).
        feature_size: ``H`` (square map) or ``(H, W)``.
        stride: image pixels per feature-map position (16 for VGG16's conv5_3).
    Returns:
        (H * W * k, 4) ``xyxy`` boxes in image pixels, rows ordered (y, x, anchor).
    """
    _require_boxes(anchors, "anchors")
    h, w = require_int_pair(feature_size, "feature_size", minimum=0)
    stride = require_number(stride, "stride")
    if stride <= 0:
        raise ValueError(f"stride must be positive; got {stride}")
    ys = (torch.arange(h, dtype=anchors.dtype, device=anchors.device) + 0.5) * stride  # (H,)
    xs = (torch.arange(w, dtype=anchors.dtype, device=anchors.device) + 0.5) * stride  # (W,)
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(h * w, 1, 4)  # (H*W, 1, 4)
    return (shifts + anchors[None, :, :]).reshape(-1, 4)  # (H*W*k, 4)


def ssd_scales(num_maps: int, s_min: float = 0.2, s_max: float = 0.9) -> list[float]:
    """SSD's box scales, spaced evenly from ``s_min`` to ``s_max`` over the feature maps (Liu et al., eq. 4).

    Returns ``num_maps + 1`` values: the last one only serves the extra
    ``sqrt(s_k * s_{k+1})`` box of the last map.
    """
    num_maps = require_int(num_maps, "num_maps")
    s_min = require_number(s_min, "s_min", 0.0)
    s_max = require_number(s_max, "s_max", s_min)
    step = (s_max - s_min) / max(num_maps - 1, 1)
    return [s_min + step * k for k in range(num_maps + 1)]


def prior_boxes(
    feature_sizes: Sequence[int],
    scales: Sequence[float],
    aspect_ratios: Sequence[Sequence[float]],
    clip: bool = False,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """SSD's prior (default) boxes over several square feature maps, in normalised coordinates.

    On map ``m`` (``f x f`` cells, scale ``s_m``), every cell centre
    ``((x + 0.5) / f, (y + 0.5) / f)`` gets: a square of side ``s_m``, a square
    of side ``sqrt(s_m * s_{m+1})``, and for every ratio ``a`` in
    ``aspect_ratios[m]`` two boxes ``(s_m sqrt(a), s_m / sqrt(a))`` and
    ``(s_m / sqrt(a), s_m sqrt(a))`` (width, height): ``2 + 2 * len(aspect_ratios[m])``
    boxes per cell, in the order of Caffe's ``PriorBox`` layer with ``flip: true``.

    Args:
        feature_sizes: the side ``f`` of each map, e.g. ``[38, 19, 10, 5, 3, 1]``.
        scales: ``len(feature_sizes) + 1`` box sizes relative to the image (:func:`ssd_scales`).
        aspect_ratios: for each map, the ratios other than 1, e.g. ``[[2], [2, 3], ...]``.
        clip: clip the boxes to [0, 1] (Caffe's ``clip``; off in SSD's own models).
    Returns:
        (P, 4) ``cxcywh`` boxes in [0, 1] coordinates, maps in order, rows
        ordered (map, y, x, box) with P = sum of ``f**2 * (2 + 2 * len(ratios))``.
    """
    feature_sizes = _sequence(feature_sizes, "feature_sizes")
    scales = _positive_list(scales, "scales")
    aspect_ratios = _sequence(aspect_ratios, "aspect_ratios")
    clip = require_bool(clip, "clip")
    require_float_dtype(dtype)
    if len(scales) != len(feature_sizes) + 1:
        raise ValueError(
            f"scales must hold len(feature_sizes) + 1 = {len(feature_sizes) + 1} values; got {len(scales)}"
        )
    if len(aspect_ratios) != len(feature_sizes):
        raise ValueError(
            f"aspect_ratios must hold one list per feature map ({len(feature_sizes)}); got {len(aspect_ratios)}"
        )
    maps = []
    for m, f in enumerate(feature_sizes):  # a loop over feature maps (layers), not over boxes
        (f, _) = require_int_pair(f, "feature_sizes")
        s, s_next = scales[m], scales[m + 1]
        ratios_m = _sequence(aspect_ratios[m], "aspect_ratios")
        ratios = torch.tensor(_positive_list(ratios_m, "aspect_ratios") if ratios_m else [],
                              dtype=torch.float64)
        root = ratios.sqrt()
        squares = torch.tensor([s, math.sqrt(s * s_next)], dtype=torch.float64)  # (2,)
        # ratio a, then its flip 1 / a, for each a in turn (Caffe's order): (2 * len(ratios),)
        widths = torch.cat([squares, torch.stack([s * root, s / root], dim=1).reshape(-1)])
        heights = torch.cat([squares, torch.stack([s / root, s * root], dim=1).reshape(-1)])
        centres = (torch.arange(f, dtype=torch.float64) + 0.5) / f  # (f,)
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")  # (f, f)
        b = widths.numel()
        boxes = torch.stack(
            [
                cx.reshape(-1, 1).expand(-1, b),
                cy.reshape(-1, 1).expand(-1, b),
                widths.expand(f * f, -1),
                heights.expand(f * f, -1),
            ],
            dim=-1,
        )  # (f*f, b, 4)
        maps.append(boxes.reshape(-1, 4))
    priors = torch.cat(maps) if maps else torch.zeros(0, 4, dtype=torch.float64)
    return (priors.clamp(0, 1) if clip else priors).to(dtype)
