"""Faster R-CNN's region proposal network: one small head slid over the feature map, and its loss.

The head (Ren et al., 2015, section 3.1) is ONE network shared by every
position and every anchor: a 3x3 convolution (the "sliding window", 512
channels for VGG16) with a ReLU, then two sibling 1x1 convolutions, one with
``2k`` outputs (object / not object for each of the ``k`` anchors) and one with
``4k`` (the deltas of each anchor). Anchor ``a`` at position ``(y, x)`` reads
its two scores and four deltas from fixed channels of those outputs: the
``k`` anchor types are ``k`` groups of output channels, not ``k`` networks.

The loss (eq. 1) over the anchors sampled by
:func:`companion.detection.matching.sample_anchors`:

    L = 1/N_cls * sum_i CE(p_i, p*_i) + lambda * 1/N_reg * sum_i p*_i smoothL1(t_i - t*_i)

The paper takes N_cls = 256 (the sampled anchors), N_reg ~ 2400 (anchor
positions) and lambda = 10. Its released code, like torchvision, divides both
terms by the number of sampled anchors and uses lambda = 1, which weighs the
box term almost the same (10 / 2400 ~ 1 / 240 vs 1 / 256); this module does
the same (:class:`RPNLossConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from companion._checks import (
    require_class_indices,
    require_floating,
    require_in_range,
    require_int,
    require_module_input,
    require_number,
    require_tensor,
)
from companion.detection.matching import IGNORED, NEGATIVE, POSITIVE


class RPNHead(nn.Module):
    """The shared 3x3 convolution and the two sibling 1x1 heads, for ``k`` anchors per position.

    ``forward(features)`` takes (N, C, H, W) and returns ``(scores, deltas)``:
    (N, H * W * k, 2) object/background logits and (N, H * W * k, 4) deltas,
    rows in the order of :func:`companion.detection.anchors.grid_anchors`
    (position-major, then anchor).
    """

    def __init__(self, in_channels: int, num_anchors: int, mid_channels: int | None = None) -> None:
        super().__init__()
        self.in_channels = require_int(in_channels, "in_channels")
        self.num_anchors = require_int(num_anchors, "num_anchors")
        mid = self.in_channels if mid_channels is None else require_int(mid_channels, "mid_channels")
        self.conv = nn.Conv2d(self.in_channels, mid, kernel_size=3, padding=1)  # the sliding window
        self.cls_logits = nn.Conv2d(mid, 2 * self.num_anchors, kernel_size=1)  # 2k scores
        self.bbox_deltas = nn.Conv2d(mid, 4 * self.num_anchors, kernel_size=1)  # 4k deltas

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        require_tensor(features, "features")
        require_floating(features, "features")
        if features.ndim != 4 or features.shape[1] != self.in_channels:
            raise ValueError(
                f"features must have shape (N, C, H, W) with C = {self.in_channels}; got {tuple(features.shape)}"
            )
        require_module_input(features, "features", self)
        n, _, h, w = features.shape
        k = self.num_anchors
        hidden = F.relu(self.conv(features))  # (N, mid, H, W)
        # channel layout: anchor-major, i.e. channels [2a, 2a + 1] are anchor a's two scores
        scores = self.cls_logits(hidden).reshape(n, k, 2, h, w)  # (N, k, 2, H, W)
        deltas = self.bbox_deltas(hidden).reshape(n, k, 4, h, w)  # (N, k, 4, H, W)
        scores = scores.permute(0, 3, 4, 1, 2).reshape(n, h * w * k, 2)  # (N, H*W*k, 2)
        deltas = deltas.permute(0, 3, 4, 1, 2).reshape(n, h * w * k, 4)  # (N, H*W*k, 4)
        return scores, deltas


@dataclass(frozen=True)
class RPNLossConfig:
    """Weights of the RPN loss: ``box_weight`` is lambda; ``beta`` is smooth L1's switch point.

    ``beta = 1/9`` is py-faster-rcnn's ``sigma = 3`` (``beta = 1 / sigma**2``), also torchvision's.
    """

    box_weight: float = 1.0
    beta: float = 1.0 / 9


@dataclass(frozen=True)
class RPNLoss:
    """The two terms of the RPN loss and their weighted sum (0-dim tensors)."""

    total: torch.Tensor
    objectness: torch.Tensor
    box: torch.Tensor


def rpn_loss(
    scores: torch.Tensor,
    deltas: torch.Tensor,
    sampled_labels: torch.Tensor,
    target_deltas: torch.Tensor,
    config: RPNLossConfig = RPNLossConfig(),
) -> RPNLoss:
    """The RPN loss over the sampled anchors of a batch of images.

    Args:
        scores: (N, A, 2) background/object logits from :class:`RPNHead`.
        deltas: (N, A, 4) predicted deltas.
        sampled_labels: (N, A) int64 ``POSITIVE``/``NEGATIVE`` for sampled anchors, ``IGNORED`` elsewhere.
        target_deltas: (N, A, 4) deltas of each anchor's matched box (used only where positive).
        config: :class:`RPNLossConfig`.
    Returns:
        :class:`RPNLoss`. ``objectness``: cross-entropy summed over the sampled anchors;
        ``box``: smooth L1 summed over the positives' four deltas; both divided
        by the number of sampled anchors (0 and 0 when none is sampled).
    """
    require_tensor(scores, "scores")
    require_tensor(deltas, "deltas")
    require_tensor(sampled_labels, "sampled_labels")
    require_tensor(target_deltas, "target_deltas")
    if scores.ndim != 3 or scores.shape[2] != 2:
        raise ValueError(f"scores must have shape (N, A, 2); got {tuple(scores.shape)}")
    n, a = scores.shape[:2]
    for name, t, shape in (("deltas", deltas, (n, a, 4)), ("target_deltas", target_deltas, (n, a, 4)),
                           ("sampled_labels", sampled_labels, (n, a))):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}; got {tuple(t.shape)}")
    for name, t in (("scores", scores), ("deltas", deltas), ("target_deltas", target_deltas)):
        require_floating(t, name)
    require_class_indices(sampled_labels, "sampled_labels")
    require_in_range(sampled_labels, "sampled_labels", 2, ignore_index=IGNORED)
    if not isinstance(config, RPNLossConfig):
        raise TypeError(f"config must be an RPNLossConfig; got {type(config).__name__}")
    require_number(config.box_weight, "config.box_weight", minimum=0.0)
    beta = require_number(config.beta, "config.beta", minimum=0.0)
    sampled = sampled_labels != IGNORED  # (N, A)
    positive = sampled_labels == POSITIVE
    num_sampled = sampled.sum().clamp(min=1)  # N_cls, and N_reg in the code's normalisation
    targets = torch.where(sampled, sampled_labels, NEGATIVE)  # any class for the unsampled: they are masked
    ce = F.cross_entropy(scores.reshape(-1, 2), targets.reshape(-1), reduction="none").reshape(n, a)
    objectness = torch.where(sampled, ce, 0.0).sum() / num_sampled
    l1 = F.smooth_l1_loss(deltas, target_deltas, beta=beta, reduction="none").sum(dim=-1)  # (N, A)
    box = torch.where(positive, l1, 0.0).sum() / num_sampled  # targets of non-positives may be anything, even NaN
    return RPNLoss(objectness + config.box_weight * box, objectness, box)
