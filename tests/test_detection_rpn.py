"""RPN head: output layout against the convolutions; loss against a loop over anchors; empty cases."""

import pytest
import torch
import torch.nn.functional as F

from companion.detection.matching import IGNORED, NEGATIVE, POSITIVE
from companion.detection.rpn import RPNHead, RPNLossConfig, rpn_loss
from companion.runtime import init_parameters


def test_head_shapes_and_layout(device, generator):
    head = init_parameters(RPNHead(8, num_anchors=3, mid_channels=6), generator).double().to(device)
    x = torch.randn(2, 8, 4, 5, generator=generator, dtype=torch.float64).to(device)
    scores, deltas = head(x)
    assert scores.shape == (2, 4 * 5 * 3, 2) and deltas.shape == (2, 4 * 5 * 3, 4)
    hidden = F.relu(head.conv(x))
    cls, box = head.cls_logits(hidden), head.bbox_deltas(hidden)  # (2, 2k, H, W), (2, 4k, H, W)
    for n, y, x_, a in [(0, 0, 0, 0), (1, 3, 4, 2), (0, 2, 1, 1)]:
        row = (y * 5 + x_) * 3 + a  # the order of grid_anchors
        torch.testing.assert_close(scores[n, row], cls[n, 2 * a : 2 * a + 2, y, x_])
        torch.testing.assert_close(deltas[n, row], box[n, 4 * a : 4 * a + 4, y, x_])
    assert sum(p.numel() for p in head.parameters()) == (8 * 6 * 9 + 6) + (6 * 6 + 6) + (6 * 12 + 12)


def loss_loop(scores, deltas, labels, targets, beta, weight):
    cls, box, count = 0.0, 0.0, 0
    for n in range(labels.shape[0]):
        for a in range(labels.shape[1]):
            if labels[n, a] == IGNORED:
                continue
            count += 1
            cls += float(F.cross_entropy(scores[n, a][None], labels[n, a][None]))
            if labels[n, a] == POSITIVE:
                for k in range(4):
                    d = abs(float(deltas[n, a, k] - targets[n, a, k]))
                    box += 0.5 * d * d / beta if d < beta else d - 0.5 * beta
    return (cls + weight * box) / max(count, 1), cls / max(count, 1), box / max(count, 1)


def test_loss_matches_loop(device, generator):
    scores = torch.randn(2, 30, 2, generator=generator, dtype=torch.float64)
    deltas = torch.randn(2, 30, 4, generator=generator, dtype=torch.float64)
    targets = torch.randn(2, 30, 4, generator=generator, dtype=torch.float64)
    labels = torch.randint(-1, 2, (2, 30), generator=generator)
    targets[labels != POSITIVE] = torch.nan  # unused targets may be anything
    config = RPNLossConfig(box_weight=2.0, beta=0.3)
    got = rpn_loss(scores.to(device), deltas.to(device), labels.to(device), targets.to(device), config)
    expected = loss_loop(scores, deltas, labels, targets, 0.3, 2.0)
    for value, reference in zip((got.total, got.objectness, got.box), expected):
        assert abs(value.item() - reference) < 1e-10


def test_loss_without_positives_or_samples(device):
    scores = torch.zeros(1, 4, 2, device=device, requires_grad=True)
    deltas = torch.zeros(1, 4, 4, device=device, requires_grad=True)
    negatives = torch.tensor([[NEGATIVE, NEGATIVE, IGNORED, IGNORED]], device=device)
    loss = rpn_loss(scores, deltas, negatives, torch.zeros(1, 4, 4, device=device))
    assert loss.box.item() == 0 and abs(loss.objectness.item() - 0.6931471805599453) < 1e-6
    loss.total.backward()  # a gradient exists even with no positive
    none = rpn_loss(scores, deltas, torch.full((1, 4), IGNORED, device=device), torch.zeros(1, 4, 4, device=device))
    assert none.total.item() == 0


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"features must have shape \(N, C, H, W\) with C = 8"):
        RPNHead(8, 9)(torch.zeros(1, 4, 3, 3))
    with pytest.raises(ValueError, match=r"sampled_labels must have shape \(1, 5\)"):
        rpn_loss(torch.zeros(1, 5, 2), torch.zeros(1, 5, 4), torch.zeros(1, 4, dtype=torch.int64), torch.zeros(1, 5, 4))
