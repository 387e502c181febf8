"""SSD's detection output: from per-prior scores and deltas to a (1, 1, N, 7) array of detections.

This is the last layer of Caffe's SSD models (``DetectionOutput``), which
OpenCV's DNN module runs when it loads them, for instance its ResNet-10 SSD
face detector. For each image of the batch it:

1. turns each prior box's class scores into probabilities (softmax);
2. decodes each prior's four deltas into a box (:func:`decode_boxes`, SSD's weights);
3. for every class but the background: keeps the boxes whose probability
   exceeds ``confidence_threshold``, the ``top_k`` best of them, and applies
   NMS within the class;
4. keeps the ``keep_top_k`` most confident detections over all classes.

The detections of all images are written as the rows of one array of shape
``(1, 1, N, 7)`` (Caffe's blobs are 4-D: the first two axes are always 1),
each row ``[image_id, class_id, confidence, x1, y1, x2, y2]`` with the
corners in normalised [0, 1] coordinates, by decreasing confidence within
each image. When no image has a detection, there is one row per image,
``[image_id, -1, -1, -1, -1, -1, -1]``, as in Caffe.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from companion._checks import require_floating, require_int, require_number, require_tensor
from companion.detection.box_coding import SSD_WEIGHTS, decode_boxes
from companion.detection.boxes import _require_boxes, box_convert, denormalize_boxes
from companion.detection.nms import batched_nms, top_k_indices

COLUMNS = ("image_id", "class_id", "confidence", "x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class DetectionOutputConfig:
    """The settings of Caffe's ``DetectionOutput`` layer (defaults: OpenCV's SSD face detector)."""

    num_classes: int = 2  # background and face
    background_id: int = 0
    confidence_threshold: float = 0.01
    nms_threshold: float = 0.45
    top_k: int = 400  # per class, before NMS
    keep_top_k: int = 200  # per image, over all classes, after NMS


def detection_output(
    deltas: torch.Tensor,
    class_logits: torch.Tensor,
    priors: torch.Tensor,
    config: DetectionOutputConfig = DetectionOutputConfig(),
) -> torch.Tensor:
    """Run SSD's detection output on a batch of raw network outputs.

    Args:
        deltas: (B, P, 4) box deltas, one row per prior box (SSD's ``mbox_loc``).
        class_logits: (B, P, C) class scores before the softmax (``mbox_conf``).
        priors: (P, 4) ``cxcywh`` prior boxes in [0, 1] coordinates (:func:`prior_boxes`).
        config: thresholds and counts; ``config.num_classes`` must equal C.
    Returns:
        (1, 1, N, 7) tensor: rows ``[image_id, class_id, confidence, x1, y1, x2, y2]``,
        grouped by image, by decreasing confidence within an image; see the module's docstring.
    """
    require_tensor(deltas, "deltas")
    require_floating(deltas, "deltas")
    require_tensor(class_logits, "class_logits")
    require_floating(class_logits, "class_logits")
    _require_boxes(priors, "priors")
    if not isinstance(config, DetectionOutputConfig):
        raise TypeError(f"config must be a DetectionOutputConfig; got {type(config).__name__}")
    p = priors.shape[0]
    if deltas.ndim != 3 or deltas.shape[1:] != (p, 4):
        raise ValueError(f"deltas must have shape (B, P, 4) with P = {p} priors; got {tuple(deltas.shape)}")
    c = require_int(config.num_classes, "config.num_classes", minimum=2)
    if class_logits.shape != (deltas.shape[0], p, c):
        raise ValueError(
            f"class_logits must have shape (B, P, C) = ({deltas.shape[0]}, {p}, {c}); got {tuple(class_logits.shape)}"
        )
    threshold = require_number(config.confidence_threshold, "config.confidence_threshold", 0.0, 1.0)
    top_k = require_int(config.top_k, "config.top_k")
    keep_top_k = require_int(config.keep_top_k, "config.keep_top_k")
    background = require_int(config.background_id, "config.background_id", minimum=0, maximum=c - 1)
    nms_threshold = require_number(config.nms_threshold, "config.nms_threshold", 0.0, 1.0)

    boxes = decode_boxes(deltas, box_convert(priors, "cxcywh", "xyxy"), SSD_WEIGHTS)  # (B, P, 4) xyxy
    probs = class_logits.softmax(dim=-1)  # (B, P, C)
    foreground = torch.arange(c, device=probs.device) != background  # (C,)
    rows = []
    for image in range(deltas.shape[0]):  # a loop over images, not boxes
        # every (prior, class) pair above the threshold is a candidate detection
        prior_idx, class_idx = torch.nonzero((probs[image] > threshold) & foreground, as_tuple=True)  # (D,) each
        scores = probs[image, prior_idx, class_idx]  # (D,)
        chosen = _top_k_per_class(scores, class_idx, top_k)  # step 3: top_k per class before NMS
        prior_idx, class_idx, scores = prior_idx[chosen], class_idx[chosen], scores[chosen]
        kept = batched_nms(boxes[image, prior_idx], scores, class_idx, nms_threshold)  # by decreasing score
        kept = kept[:keep_top_k]  # step 4
        image_id = scores.new_full((kept.numel(), 1), image)
        rows.append(torch.cat([image_id, class_idx[kept, None].to(scores.dtype), scores[kept, None],
                               boxes[image, prior_idx[kept]]], dim=1))  # (K, 7)
    detections = torch.cat(rows) if rows else deltas.new_zeros(0, 7)
    if detections.shape[0] == 0:  # Caffe: one row of -1 per image, with its image id
        detections = deltas.new_full((deltas.shape[0], 7), -1.0)
        detections[:, 0] = torch.arange(deltas.shape[0], dtype=deltas.dtype, device=deltas.device)
    return detections[None, None]  # (1, 1, N, 7)


def _top_k_per_class(scores: torch.Tensor, classes: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` highest scores of each class (all of a class with fewer)."""
    by_score = top_k_indices(scores, scores.numel())  # (D,), decreasing score
    by_class = by_score[classes[by_score].argsort(stable=True)]  # grouped by class, decreasing score within
    grouped = classes[by_class]
    # rank within the class = position - position of the class's first entry
    first = torch.searchsorted(grouped, grouped, side="left")
    rank = torch.arange(grouped.numel(), device=grouped.device) - first
    return by_class[rank < k]


def detections_to_pixels(detections: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """The ``x1, y1, x2, y2`` columns of a ``(1, 1, N, 7)`` detection array, in pixels of a ``width x height`` image.

    The coordinates are fractions of the network input, which is the whole
    image resized: multiplying by the *original* image's size maps them back
    onto it. Returns (N, 4).
    """
    require_tensor(detections, "detections")
    require_floating(detections, "detections")
    if detections.ndim != 4 or detections.shape[:2] != (1, 1) or detections.shape[3] != 7:
        raise ValueError(f"detections must have shape (1, 1, N, 7); got {tuple(detections.shape)}")
    return denormalize_boxes(detections[0, 0, :, 3:7], width, height)
