"""Anchors and prior boxes: counts, sizes, ratios and order, against loops."""

import math

import pytest
import torch

from companion.detection.anchors import base_anchors, grid_anchors, prior_boxes, ssd_scales
from companion.detection.boxes import box_area, box_convert


def test_base_anchors_sizes_and_ratios():
    anchors = base_anchors([128, 256, 512], [0.5, 1, 2], dtype=torch.float64)
    assert anchors.shape == (9, 4)
    cxcywh = box_convert(anchors, "xyxy", "cxcywh")
    torch.testing.assert_close(cxcywh[:, :2], torch.zeros(9, 2, dtype=torch.float64))  # centred at 0
    expected_area = torch.tensor([128.0**2] * 3 + [256.0**2] * 3 + [512.0**2] * 3, dtype=torch.float64)
    torch.testing.assert_close(box_area(anchors), expected_area)
    torch.testing.assert_close(cxcywh[:, 3] / cxcywh[:, 2], torch.tensor([0.5, 1, 2] * 3, dtype=torch.float64))


def test_grid_anchors_match_loop(device):
    base = base_anchors([32, 64], [0.5, 2.0], dtype=torch.float64).to(device)
    h, w, stride = 3, 4, 16
    got = grid_anchors(base, (h, w), stride)
    assert got.shape == (h * w * 4, 4) and got.device.type == device.type
    rows = []
    for y in range(h):
        for x in range(w):
            for a in base.cpu().tolist():
                cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
                rows.append([a[0] + cx, a[1] + cy, a[2] + cx, a[3] + cy])
    torch.testing.assert_close(got.cpu(), torch.tensor(rows, dtype=torch.float64))


def test_fourteen_by_fourteen_map_has_1764_anchors():
    anchors = grid_anchors(base_anchors([128, 256, 512], [0.5, 1, 2]), 14, 16)
    assert anchors.shape == (14 * 14 * 9, 4) == (1764, 4)


def test_empty_feature_map():
    assert grid_anchors(base_anchors([8], [1]), (0, 5), 4).shape == (0, 4)


def test_prior_boxes_counts_and_loop():
    sizes, ratios = [4, 2, 1], [[2], [2, 3], [2]]
    scales = ssd_scales(3, 0.2, 0.9)
    priors = prior_boxes(sizes, scales, ratios)
    assert priors.shape == (16 * 4 + 4 * 6 + 1 * 4, 4)
    rows = []
    for m, f in enumerate(sizes):
        s, s2 = scales[m], scales[m + 1]
        for y in range(f):
            for x in range(f):
                cx, cy = (x + 0.5) / f, (y + 0.5) / f
                rows += [[cx, cy, s, s], [cx, cy, math.sqrt(s * s2), math.sqrt(s * s2)]]
                for a in ratios[m]:
                    rows += [[cx, cy, s * math.sqrt(a), s / math.sqrt(a)], [cx, cy, s / math.sqrt(a), s * math.sqrt(a)]]
    torch.testing.assert_close(priors, torch.tensor(rows, dtype=torch.float64))
    assert float(prior_boxes(sizes, scales, ratios, clip=True).max()) <= 1.0


def test_ssd300_has_8732_priors():
    priors = prior_boxes([38, 19, 10, 5, 3, 1], ssd_scales(6, 0.2, 0.9) , [[2], [2, 3], [2, 3], [2, 3], [2], [2]])
    assert priors.shape[0] == 8732


def test_bad_input_messages():
    with pytest.raises(ValueError, match="sizes must hold positive numbers"):
        base_anchors([0, 1], [1])
    with pytest.raises(ValueError, match=r"anchors must have shape \(N, 4\)"):
        grid_anchors(torch.zeros(3, 2), 4, 16)
    with pytest.raises(ValueError, match="stride must be positive"):
        grid_anchors(base_anchors([8], [1]), 4, 0)
    with pytest.raises(ValueError, match="scales must hold len\\(feature_sizes\\) \\+ 1 = 3 values; got 2"):
        prior_boxes([4, 2], [0.2, 0.5], [[2], [2]])
