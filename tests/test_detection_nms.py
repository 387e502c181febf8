"""NMS against the greedy loop on random inputs; per-class NMS; properties; empty input; bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.detection.boxes import box_iou
from companion.detection.nms import batched_nms, nms, nms_loop, overlapping_pairs, top_k_indices
from box_samples import clustered_boxes, random_boxes


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 60), st.sampled_from([0.0, 0.3, 0.5, 0.7]), st.booleans(), st.integers(0, 2**31 - 1))
def test_nms_matches_greedy_loop(n, threshold, clustered, seed):
    g = torch.Generator().manual_seed(seed)
    boxes = clustered_boxes(n, g) if clustered else random_boxes(n, g)
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    kept = nms(boxes, scores, threshold)
    assert kept.tolist() == nms_loop(boxes.tolist(), scores.tolist(), threshold)
    iou = box_iou(boxes[kept], boxes[kept])
    assert not bool((iou.triu(diagonal=1) > threshold).any())  # no two kept boxes above the threshold


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nms_on_device_with_ties(device, generator, dtype):
    boxes = clustered_boxes(200, generator, dtype)
    scores = (torch.rand(200, generator=generator) * 5).floor().to(dtype)  # many tied scores
    expected = nms_loop(boxes.tolist(), scores.tolist(), 0.5)
    kept = nms(boxes.to(device), scores.to(device), 0.5)
    assert kept.device.type == device.type and kept.cpu().tolist() == expected


def test_overlapping_pairs_match_all_pairs(generator):
    boxes = clustered_boxes(80, generator)
    i, j = overlapping_pairs(boxes, 0.4, slab_size=7)  # small slabs: the slab boundaries are exercised
    iou = box_iou(boxes, boxes)
    expected = torch.nonzero((iou > 0.4).triu(diagonal=1))
    assert sorted(zip(i.tolist(), j.tolist())) == sorted(map(tuple, expected.tolist()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.5, 0.7, 0.95])
def test_overlapping_pairs_on_a_grid_match_all_pairs(dtype, threshold):
    """Integer boxes put tops exactly on band edges and IoUs exactly on the threshold; tall and flat boxes mix."""
    g = torch.Generator().manual_seed(7)
    corner = torch.randint(0, 80, (600, 2), generator=g)
    size = torch.randint(0, 14, (600, 2), generator=g) * torch.tensor([1, 2])  # heights up to 26: many bands
    boxes = torch.cat([corner, corner + size], dim=1).to(dtype)
    upper = torch.ones(600, 600, dtype=torch.bool).triu(diagonal=1)
    expected = sorted(map(tuple, torch.nonzero((box_iou(boxes, boxes) > threshold) & upper).tolist()))
    for slab_size in (1, 50, 1 << 17):  # one row per slab, a few, all at once
        i, j = overlapping_pairs(boxes, threshold, slab_size=slab_size)
        assert sorted(zip(i.tolist(), j.tolist())) == expected


def test_batched_nms_is_nms_per_class(device, generator):
    boxes = clustered_boxes(90, generator).to(device)
    scores = torch.rand(90, generator=generator, dtype=torch.float64).to(device)
    classes = torch.randint(0, 3, (90,), generator=generator).to(device)
    kept = batched_nms(boxes, scores, classes, 0.5)
    expected = []
    for c in range(3):  # the loop over classes that batched_nms replaces
        members = torch.nonzero(classes == c).flatten()
        expected += members[nms(boxes[members], scores[members], 0.5)].tolist()
    assert sorted(kept.tolist()) == sorted(expected)
    assert torch.all(scores[kept][:-1] >= scores[kept][1:])  # by decreasing score
    for c in range(3):
        k = kept[classes[kept] == c]
        assert not bool((box_iou(boxes[k], boxes[k]).triu(diagonal=1) > 0.5).any())


def test_empty_and_single(device):
    empty = torch.zeros(0, 4, device=device)
    assert nms(empty, torch.zeros(0, device=device), 0.5).shape == (0,)
    assert batched_nms(empty, torch.zeros(0, device=device), torch.zeros(0, dtype=torch.int64, device=device), 0.5).shape == (0,)
    one = torch.tensor([[0.0, 0.0, 1.0, 1.0]], device=device)
    assert nms(one, torch.tensor([0.3], device=device), 0.5).tolist() == [0]
    assert top_k_indices(torch.tensor([0.1, 0.9, 0.5]), 2).tolist() == [1, 2]


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\) = \(2,\); got shape \(3,\)"):
        nms(torch.zeros(2, 4), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="iou_threshold must be a number in"):
        nms(torch.zeros(2, 4), torch.zeros(2), 1.5)
    with pytest.raises(TypeError, match="classes must hold integer class labels"):
        batched_nms(torch.zeros(2, 4), torch.zeros(2), torch.zeros(2), 0.5)
