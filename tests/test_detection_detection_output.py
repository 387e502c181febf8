"""SSD detection output against a loop written from Caffe's DetectionOutput; layout; empty output."""

import pytest
import torch

from companion.detection.box_coding import SSD_WEIGHTS, decode_boxes
from companion.detection.boxes import box_convert
from companion.detection.detection_output import DetectionOutputConfig, detection_output, detections_to_pixels
from companion.detection.nms import nms_loop


def detection_output_loop(deltas, logits, priors, cfg):
    """Per image, per class: threshold, top_k, NMS; then keep_top_k over classes. Loops everywhere."""
    rows = []
    for i in range(deltas.shape[0]):
        boxes = decode_boxes(deltas[i], box_convert(priors, "cxcywh", "xyxy"), SSD_WEIGHTS).tolist()
        probs = logits[i].softmax(dim=-1).tolist()
        found = []
        for c in range(cfg.num_classes):
            if c == cfg.background_id:
                continue
            cand = [p for p in range(len(boxes)) if probs[p][c] > cfg.confidence_threshold]
            cand = sorted(cand, key=lambda p: -probs[p][c])[: cfg.top_k]
            kept = nms_loop([boxes[p] for p in cand], [probs[p][c] for p in cand], cfg.nms_threshold)
            found += [(probs[cand[k]][c], c, cand[k]) for k in kept]
        found = sorted(found, key=lambda t: -t[0])[: cfg.keep_top_k]
        rows += [[i, c, s, *boxes[p]] for s, c, p in found]
    return rows


@pytest.mark.parametrize("num_classes", [2, 4])
def test_matches_loop(device, generator, num_classes):
    priors = torch.cat([torch.rand(60, 2, generator=generator, dtype=torch.float64),
                        torch.rand(60, 2, generator=generator, dtype=torch.float64) * 0.3 + 0.05], dim=1)
    deltas = torch.randn(3, 60, 4, generator=generator, dtype=torch.float64)
    logits = torch.randn(3, 60, num_classes, generator=generator, dtype=torch.float64) * 2
    cfg = DetectionOutputConfig(num_classes=num_classes, confidence_threshold=0.3, nms_threshold=0.45, top_k=15, keep_top_k=12)
    got = detection_output(deltas.to(device), logits.to(device), priors.to(device), cfg)
    expected = torch.tensor(detection_output_loop(deltas, logits, priors, cfg), dtype=torch.float64)
    assert got.shape == (1, 1, expected.shape[0], 7) and got.device.type == device.type
    torch.testing.assert_close(got[0, 0].cpu(), expected)


def test_no_detection_gives_one_row_of_minus_one_per_image(device):
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2]], device=device, dtype=torch.float64)
    logits = torch.tensor([[[10.0, -10.0]], [[10.0, -10.0]]], device=device, dtype=torch.float64)  # background
    out = detection_output(torch.zeros(2, 1, 4, device=device, dtype=torch.float64), logits, priors)
    assert out.cpu().tolist() == [[[[0, -1, -1, -1, -1, -1, -1], [1, -1, -1, -1, -1, -1, -1]]]]


def test_pixels():
    det = torch.tensor([[[[0, 1, 0.9, 0.1, 0.2, 0.5, 0.6]]]])
    torch.testing.assert_close(detections_to_pixels(det, 640, 480), torch.tensor([[64.0, 96.0, 320.0, 288.0]]))


def test_bad_input_messages():
    priors = torch.zeros(5, 4)
    with pytest.raises(ValueError, match=r"deltas must have shape \(B, P, 4\) with P = 5 priors"):
        detection_output(torch.zeros(1, 4, 4), torch.zeros(1, 5, 2), priors)
    with pytest.raises(ValueError, match=r"class_logits must have shape \(B, P, C\) = \(1, 5, 2\)"):
        detection_output(torch.zeros(1, 5, 4), torch.zeros(1, 5, 3), priors)
    with pytest.raises(ValueError, match=r"detections must have shape \(1, 1, N, 7\)"):
        detections_to_pixels(torch.zeros(1, 2, 3, 7), 10, 10)
