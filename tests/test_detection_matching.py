"""Anchor labelling and sampling against brute-force loops; zero ground-truth boxes; bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.detection.boxes import box_iou_loop
from companion.detection.matching import IGNORED, NEGATIVE, NO_MATCH, POSITIVE, label_anchors, sample_anchors
from box_samples import random_boxes


def label_anchors_loop(anchors, gt, size, high, low):
    """py-faster-rcnn's anchor_target_layer, written as loops over anchors and boxes."""
    h, w = size
    inside = [a[0] >= 0 and a[1] >= 0 and a[2] <= w and a[3] <= h for a in anchors]
    iou = box_iou_loop(gt, anchors)  # [g][a]
    labels = []
    for a in range(len(anchors)):
        if not inside[a]:
            labels.append(IGNORED)
            continue
        best = max((iou[g][a] for g in range(len(gt))), default=0.0)
        labels.append(NEGATIVE if best < low else IGNORED)
    for g in range(len(gt)):
        best_for_box = max((iou[g][a] for a in range(len(anchors)) if inside[a]), default=0.0)
        for a in range(len(anchors)):
            if inside[a] and best_for_box > 0 and iou[g][a] == best_for_box:
                labels[a] = POSITIVE
    for a in range(len(anchors)):
        if inside[a] and any(iou[g][a] >= high for g in range(len(gt))):
            labels[a] = POSITIVE
    return labels


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 40), st.integers(0, 5), st.integers(0, 2**31 - 1))
def test_labels_match_loop(num_anchors, num_gt, seed):
    g = torch.Generator().manual_seed(seed)
    anchors, gt = random_boxes(num_anchors, g, size=60), random_boxes(num_gt, g, size=60)
    result = label_anchors(anchors, gt, image_size=(80, 90), high_threshold=0.5, low_threshold=0.2)
    assert result.labels.tolist() == label_anchors_loop(anchors.tolist(), gt.tolist(), (80, 90), 0.5, 0.2)
    if num_gt:
        iou = torch.tensor(box_iou_loop(gt.tolist(), anchors.tolist()), dtype=torch.float64).reshape(num_gt, -1)
        positives = result.labels == POSITIVE
        # a positive regresses to a box it overlaps best
        torch.testing.assert_close(result.max_iou[positives], iou[:, positives].amax(dim=0))


def test_every_box_gets_an_anchor_even_at_low_iou(device):
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]], device=device)
    gt = torch.tensor([[0.0, 0.0, 4.0, 4.0]], device=device)  # IoU 0.16 with the first anchor only
    result = label_anchors(anchors, gt)
    assert result.labels.tolist() == [POSITIVE, NEGATIVE] and result.matched_index.tolist() == [0, 0]


def test_zero_ground_truth_boxes(device):
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [-5.0, 0.0, 5.0, 10.0]], device=device)
    result = label_anchors(anchors, torch.zeros(0, 4, device=device), image_size=(20, 20))
    assert result.labels.tolist() == [NEGATIVE, IGNORED]  # the second crosses the border
    assert result.matched_index.tolist() == [NO_MATCH, NO_MATCH] and result.labels.device.type == device.type
    assert label_anchors(torch.zeros(0, 4), torch.zeros(0, 4)).labels.shape == (0,)


@pytest.mark.parametrize("num_pos, num_neg, batch, expected", [
    (300, 5000, 256, (128, 128)),  # up to half positive
    (20, 5000, 256, (20, 236)),  # few positives: filled with negatives
    (0, 5000, 256, (0, 256)),  # no positive at all
    (200, 30, 256, (128, 30)),  # not enough negatives either
    (0, 0, 256, (0, 0)),
])
def test_sample_counts(device, generator, num_pos, num_neg, batch, expected):
    labels = torch.cat([torch.full((num_pos,), POSITIVE), torch.full((num_neg,), NEGATIVE), torch.full((50,), IGNORED)])
    labels = labels[torch.randperm(labels.numel(), generator=generator)].to(device)
    sampled = sample_anchors(labels, batch, 0.5, generator=generator)
    assert ((sampled == POSITIVE).sum().item(), (sampled == NEGATIVE).sum().item()) == expected
    kept = sampled != IGNORED
    assert torch.equal(sampled[kept], labels[kept])  # sampling never relabels
    assert sampled.device.type == device.type


def test_sampling_is_seeded_uniform_and_batched(generator):
    labels = torch.tensor([POSITIVE] * 4 + [NEGATIVE] * 6)
    first = sample_anchors(labels, 4, 0.5, generator=torch.Generator().manual_seed(3))
    again = sample_anchors(labels, 4, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    hits = torch.zeros(10)
    for _ in range(400):  # each positive is chosen with probability 2/4, each negative 2/6
        hits += (sample_anchors(labels, 4, 0.5, generator=generator) != IGNORED).float()
    torch.testing.assert_close(hits / 400, torch.tensor([0.5] * 4 + [1 / 3] * 6), atol=0.1, rtol=0)
    batch = sample_anchors(torch.stack([labels, labels.flip(0)]), 4, 0.5, generator=generator)
    assert batch.shape == (2, 10) and ((batch == POSITIVE).sum(dim=1) == 2).all()


def test_bad_input_messages(generator):
    with pytest.raises(ValueError, match=r"gt_boxes must have shape \(N, 4\)"):
        label_anchors(torch.zeros(2, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="low_threshold must be <= high_threshold"):
        label_anchors(torch.zeros(2, 4), torch.zeros(1, 4), high_threshold=0.3, low_threshold=0.7)
    with pytest.raises(ValueError, match=r"labels must have shape \(A,\) or \(B, A\)"):
        sample_anchors(torch.zeros(2, 2, 2, dtype=torch.int64), generator=generator)
    with pytest.raises(ValueError, match="positive_fraction must be a number in"):
        sample_anchors(torch.zeros(3, dtype=torch.int64), 2, 1.5, generator=generator)
