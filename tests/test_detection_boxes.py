"""Boxes: formats, IoU and GIoU against brute-force loops, properties, empty inputs, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import companion.detection.boxes as boxes_module
from companion.detection.boxes import (
    box_area,
    box_convert,
    box_iou,
    box_iou_loop,
    box_iou_np,
    boxes_inside,
    clip_boxes,
    denormalize_boxes,
    generalized_box_iou,
    normalize_boxes,
    paired_box_iou,
)

from box_samples import random_boxes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_iou_matches_loop(device, generator, dtype):
    a, b = random_boxes(13, generator, dtype), random_boxes(7, generator, dtype)
    expected = torch.tensor(box_iou_loop(a.double().tolist(), b.double().tolist()), dtype=dtype)
    got = box_iou(a.to(device), b.to(device))
    assert got.shape == (13, 7) and got.dtype == dtype and got.device.type == device.type
    torch.testing.assert_close(got.cpu(), expected)
    np.testing.assert_allclose(box_iou_np(a.numpy(), b.numpy()), expected.numpy(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(paired_box_iou(a[:7].to(device), b.to(device)).cpu(), expected[:7].diagonal())


def test_iou_in_row_chunks_and_mixed_dtypes(monkeypatch, generator):
    """box_iou's CPU chunks (here two rows of 7 at a time, the last chunk short) give the one-shot result."""
    a, b = random_boxes(13, generator), random_boxes(7, generator)
    expected = torch.tensor(box_iou_loop(a.tolist(), b.tolist()), dtype=torch.float64)
    monkeypatch.setattr(boxes_module, "_IOU_CHUNK", 14)
    torch.testing.assert_close(box_iou(a, b), expected)
    mixed = box_iou(a.float(), b)  # the result takes the promoted dtype, as arithmetic would
    assert mixed.dtype == torch.float64
    torch.testing.assert_close(mixed, expected, rtol=1e-6, atol=1e-6)


def test_iou_known_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 2.0, 2.0], [2.0, 2.0, 3.0, 3.0], [0.5, 0.5, 1.5, 1.5]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 3, 1.0, 0.0, 0.25]]))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 2**31 - 1))
def test_iou_properties(n, m, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = random_boxes(n, g), random_boxes(m, g)
    iou = box_iou(a, b)
    assert iou.shape == (n, m)
    torch.testing.assert_close(iou, box_iou(b, a).T)  # symmetric
    assert bool(((iou >= 0) & (iou <= 1)).all())
    torch.testing.assert_close(box_iou(a, a).diagonal(), torch.ones(n, dtype=torch.float64))
    giou = generalized_box_iou(a, b)
    assert bool(((giou >= -1) & (giou <= iou + 1e-12)).all())  # GIoU <= IoU, in [-1, 1]


def test_giou_matches_loop(device, generator):
    a, b = random_boxes(6, generator), random_boxes(5, generator)
    expected = torch.zeros(6, 5, dtype=torch.float64)
    for i, (ax1, ay1, ax2, ay2) in enumerate(a.tolist()):
        for j, (bx1, by1, bx2, by2) in enumerate(b.tolist()):
            inter = max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            hull = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
            expected[i, j] = inter / union - (hull - union) / hull
    torch.testing.assert_close(generalized_box_iou(a.to(device), b.to(device)).cpu(), expected)


def test_far_disjoint_boxes_have_lower_giou():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    near, far = torch.tensor([[2.0, 0.0, 3.0, 1.0]]), torch.tensor([[9.0, 0.0, 10.0, 1.0]])
    assert box_iou(a, near) == box_iou(a, far) == 0
    assert generalized_box_iou(a, far) < generalized_box_iou(a, near) < 0


def test_conversions_round_trip(device, generator):
    boxes = random_boxes(9, generator).to(device)
    cxcywh = box_convert(boxes, "xyxy", "cxcywh")
    torch.testing.assert_close(cxcywh[:, 2] * cxcywh[:, 3], box_area(boxes))
    torch.testing.assert_close(box_convert(cxcywh, "cxcywh", "xyxy"), boxes)
    torch.testing.assert_close(denormalize_boxes(normalize_boxes(boxes, 640, 480), 640, 480), boxes)
    assert float(normalize_boxes(torch.tensor([[0.0, 0.0, 640.0, 480.0]]), 640, 480).min()) == 0.0


def test_clip_and_inside(device):
    boxes = torch.tensor([[-5.0, 2.0, 50.0, 30.0], [1.0, 1.0, 9.0, 9.0], [90.0, -1.0, 120.0, 10.0]], device=device)
    clipped = clip_boxes(boxes, width=100, height=20)
    torch.testing.assert_close(
        clipped.cpu(), torch.tensor([[0.0, 2.0, 50.0, 20.0], [1.0, 1.0, 9.0, 9.0], [90.0, 0.0, 100.0, 10.0]])
    )
    assert boxes_inside(boxes, 100, 20).tolist() == [False, True, False]


def test_empty_inputs(device):
    empty = torch.zeros(0, 4, device=device)
    some = torch.tensor([[0.0, 0.0, 1.0, 1.0]], device=device)
    assert box_iou(empty, some).shape == (0, 1) and box_iou(some, empty).shape == (1, 0)
    assert generalized_box_iou(empty, empty).shape == (0, 0)
    assert box_convert(empty, "xyxy", "cxcywh").shape == (0, 4) and box_area(empty).shape == (0,)
    assert clip_boxes(empty, 1, 1).shape == (0, 4)


def test_zero_area_boxes_have_iou_zero():
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert box_iou(point, point).item() == 0.0


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\); got shape \(3, 5\)"):
        box_iou(torch.zeros(3, 5), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="boxes2 must be a torch.Tensor; got list"):
        box_iou(torch.zeros(3, 4), [[0, 0, 1, 1]])
    with pytest.raises(TypeError, match="boxes must have a floating-point dtype"):
        box_area(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="in_fmt must be one of"):
        box_convert(torch.zeros(1, 4), "xywh", "xyxy")
    with pytest.raises(ValueError, match="width must be positive; got 0"):
        clip_boxes(torch.zeros(1, 4), 0, 1)
    with pytest.raises(ValueError, match=r"same shape \(N, 4\)"):
        paired_box_iou(torch.zeros(2, 4), torch.zeros(3, 4))


def test_iou_and_giou_gradients():
    """IoU and GIoU are used as losses: their autograd gradients match finite differences (float64)."""
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.5, 0.2, 2.5, 3.0], [4.0, 4.0, 5.0, 6.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: box_iou(x, b), (a,))
    assert torch.autograd.gradcheck(lambda x: generalized_box_iou(x, b), (a,))
