"""Pairwise IoU and NMS: the companion's vectorized versions against the Python loops they replace.

- IoU: :func:`box_iou` on 1,000 x 1,000 boxes against :func:`box_iou_loop`,
  two nested loops over lists of four floats (the fastest plain-Python form).
- NMS: :func:`nms` on 10,000 boxes against :func:`nms_loop`, the greedy loop
  that compares each box with the boxes kept so far. Its cost grows with the
  number of boxes times the number kept, so two inputs are timed: boxes
  scattered over a 1,000 x 1,000 image (most are kept, as in a crowded scene),
  and boxes jittered around 200 objects (few are kept, as in one detector's
  raw output). Both loops run once, in full, on the same inputs.

Target: at least 100x faster than the loop.
"""

import time

import torch

from companion.detection.boxes import box_iou, box_iou_loop
from companion.detection.nms import nms, nms_loop
from companion.runtime import default_device
from timing import median_seconds  # benchmarks/timing.py

TARGET_SPEEDUP = 100
NUM_IOU, NUM_NMS, IOU_THRESHOLD = 1_000, 10_000, 0.5


def scattered_boxes(n: int, generator: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 1000
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 60 + 10
    return torch.cat([xy, xy + wh], dim=1).float()


def clustered_boxes(n: int, generator: torch.Generator, objects: int = 200) -> torch.Tensor:
    centres = torch.rand(objects, 2, generator=generator, dtype=torch.float64) * 900
    sizes = torch.rand(objects, 2, generator=generator, dtype=torch.float64) * 80 + 20
    which = torch.randint(0, objects, (n,), generator=generator)
    wh = sizes[which] * (1 + 0.2 * torch.randn(n, 2, generator=generator, dtype=torch.float64)).clamp(0.5, 1.5)
    xy = centres[which] + 0.15 * sizes[which] * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return torch.cat([xy, xy + wh], dim=1).float()


def once(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def report(name: str, t_loop: float, t_ours: float) -> None:
    ratio = t_loop / t_ours
    verdict = "met" if ratio >= TARGET_SPEEDUP else "MISSED"
    print(f"{name:44s} loop {t_loop:9.3f}s  companion {t_ours * 1e3:9.2f}ms  x{ratio:8.0f}  {verdict}")


def main() -> None:
    device = default_device()
    generator = torch.Generator().manual_seed(0)
    print(f"device {device}, one CPU thread (benchmark.Timer default), torch {torch.__version__}")
    print(f"target: at least {TARGET_SPEEDUP}x faster than the plain-Python loop on the same inputs")

    a, b = scattered_boxes(NUM_IOU, generator), scattered_boxes(NUM_IOU, generator)
    t_loop, expected = once(box_iou_loop, a.double().tolist(), b.double().tolist())
    torch.testing.assert_close(box_iou(a, b), torch.tensor(expected, dtype=torch.float32))
    report(f"box_iou, {NUM_IOU:,} x {NUM_IOU:,} boxes (cpu)", t_loop, median_seconds(box_iou, a, b))
    if device.type != "cpu":
        report(f"box_iou, {NUM_IOU:,} x {NUM_IOU:,} boxes ({device})", t_loop,
               median_seconds(lambda: (box_iou(a.to(device), b.to(device)), torch.cuda.synchronize())))

    for kind, make in (("scattered", scattered_boxes), ("clustered", clustered_boxes)):
        boxes = make(NUM_NMS, generator)
        scores = torch.rand(NUM_NMS, generator=generator)
        t_loop, expected = once(nms_loop, boxes.tolist(), scores.tolist(), IOU_THRESHOLD)
        kept = nms(boxes, scores, IOU_THRESHOLD)
        assert kept.tolist() == expected  # the same boxes, in the same order
        name = f"nms, {NUM_NMS:,} {kind} boxes, {len(expected):,} kept"
        report(f"{name} (cpu)", t_loop, median_seconds(nms, boxes, scores, IOU_THRESHOLD))
        if device.type != "cpu":
            bd, sd = boxes.to(device), scores.to(device)
            report(f"{name} ({device})", t_loop, median_seconds(lambda: (nms(bd, sd, IOU_THRESHOLD), torch.cuda.synchronize())))


if __name__ == "__main__":
    main()
