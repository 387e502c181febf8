"""Box coding: encode then decode is the identity; known values; the clamp; bad input."""

import math

import pytest
import torch

from companion.detection.box_coding import DEFAULT_DELTA_CLAMP, SSD_WEIGHTS, decode_boxes, encode_boxes
from box_samples import random_boxes


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), SSD_WEIGHTS])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encode_then_decode_is_identity(device, generator, weights, dtype):
    boxes, anchors = random_boxes(50, generator, dtype).to(device), random_boxes(50, generator, dtype).to(device)
    deltas = encode_boxes(boxes, anchors, weights)
    assert deltas.shape == (50, 4) and deltas.dtype == dtype
    tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-4}
    torch.testing.assert_close(decode_boxes(deltas, anchors, weights), boxes, **tol)


def test_known_deltas():
    anchor = torch.tensor([[0.0, 0.0, 10.0, 20.0]])  # centre (5, 10), size (10, 20)
    box = torch.tensor([[5.0, 0.0, 25.0, 20.0]])  # centre (15, 10), size (20, 20)
    expected = torch.tensor([[1.0, 0.0, math.log(2.0), 0.0]])
    torch.testing.assert_close(encode_boxes(box, anchor), expected)
    torch.testing.assert_close(encode_boxes(box, anchor, SSD_WEIGHTS), expected * torch.tensor(SSD_WEIGHTS))


def test_decode_clamps_size_deltas_and_broadcasts_over_batch(device):
    anchors = torch.tensor([[0.0, 0.0, 16.0, 16.0]], device=device)
    huge = torch.tensor([[[0.0, 0.0, 50.0, 50.0]], [[0.0, 0.0, 0.0, 0.0]]], device=device)  # (2, 1, 4)
    boxes = decode_boxes(huge, anchors)
    assert boxes.shape == (2, 1, 4) and torch.isfinite(boxes).all()
    torch.testing.assert_close(boxes[0, 0, 2] - boxes[0, 0, 0], torch.tensor(16 * math.exp(DEFAULT_DELTA_CLAMP), device=device))
    torch.testing.assert_close(boxes[1], anchors)


def test_empty_inputs(device):
    empty = torch.zeros(0, 4, device=device)
    assert encode_boxes(empty, empty).shape == (0, 4) and decode_boxes(empty, empty).shape == (0, 4)


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"boxes and references must have the same shape \(N, 4\)"):
        encode_boxes(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"deltas must have shape \(\.\.\., N, 4\) with N = 3 references"):
        decode_boxes(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="weights must hold 4 numbers"):
        encode_boxes(torch.ones(1, 4), torch.ones(1, 4), (1.0, 1.0))
