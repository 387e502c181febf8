"""The companion's one-``bincount`` confusion matrix against per-pixel Python loops and ``np.add.at``.

Two naive references visit every pixel in Python and add one to
``cm[label][pred]``: the textbook loop, indexing the NumPy label maps pixel by
pixel, and the fastest pure-Python loop, over lists of ints. Both are too slow
to run on the whole batch, so they are timed on a slice (image 0, its first
``LOOP_ROWS`` rows) and their time is scaled by the pixel count (a loop is
linear in pixels). ``x loop`` is how many times faster the companion is; the
brief's target is 100x. PyTorch has no confusion-matrix function
(``torch.bincount`` is the primitive the companion builds on), so the
vectorized reference is NumPy's unbuffered scatter-add
``np.add.at(cm, (labels, pred), 1)``.
"""

import time

import numpy as np
import torch
from torch.utils import benchmark

from companion import segmentation_metrics
from companion.runtime import default_device

N, H, W, C = 8, 256, 256, 21
IGNORE = 255
LOOP_ROWS = 128  # the loops are timed on labels[0, :LOOP_ROWS]
TARGET_SPEEDUP = 100
MIN_RUN_TIME_S = 0.5


def median_seconds(fn, *args) -> float:
    timer = benchmark.Timer(stmt="fn(*args)", globals={"fn": fn, "args": args})
    return timer.blocked_autorange(min_run_time=MIN_RUN_TIME_S).median


def loop_seconds(fn, *args, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def confusion_matrix_by_index_loop(pred: np.ndarray, labels: np.ndarray, num_classes: int, ignore_index: int):
    """The textbook loop: pred, labels (N, H, W) arrays, indexed pixel by pixel."""
    cm = [[0] * num_classes for _ in range(num_classes)]
    n, h, w = labels.shape
    for i in range(n):
        for y in range(h):
            for x in range(w):
                t = labels[i, y, x]
                if t != ignore_index:
                    cm[t][pred[i, y, x]] += 1
    return cm


def confusion_matrix_by_list_loop(pred: list[int], labels: list[int], num_classes: int, ignore_index: int):
    """The fastest pure-Python loop: flat lists of Python ints (conversion not timed)."""
    cm = [[0] * num_classes for _ in range(num_classes)]
    for p, t in zip(pred, labels):
        if t != ignore_index:
            cm[t][p] += 1
    return cm


def confusion_matrix_add_at(pred: np.ndarray, labels: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    kept = labels != ignore_index
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels[kept], pred[kept]), 1)
    return cm


def main() -> None:
    device = default_device()
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, C, (N, H, W), generator=generator)
    labels[torch.rand(N, H, W, generator=generator) < 0.05] = IGNORE
    pred = torch.randint(0, C, (N, H, W), generator=generator)
    labels_np, pred_np = labels.numpy(), pred.numpy()
    pixels, slice_pixels = N * H * W, LOOP_ROWS * W

    pred_slice, labels_slice = pred_np[:1, :LOOP_ROWS], labels_np[:1, :LOOP_ROWS]
    expected = segmentation_metrics.confusion_matrix_np(pred_slice, labels_slice, C, IGNORE)
    pred_list, labels_list = pred_slice.ravel().tolist(), labels_slice.ravel().tolist()
    assert np.array_equal(confusion_matrix_by_list_loop(pred_list, labels_list, C, IGNORE), expected)
    whole = segmentation_metrics.confusion_matrix_np(pred_np, labels_np, C, IGNORE)
    assert np.array_equal(confusion_matrix_add_at(pred_np, labels_np, C, IGNORE), whole)
    scale = pixels / slice_pixels
    t_index_loop = loop_seconds(confusion_matrix_by_index_loop, pred_slice, labels_slice, C, IGNORE, repeats=3) * scale
    t_list_loop = loop_seconds(confusion_matrix_by_list_loop, pred_list, labels_list, C, IGNORE) * scale
    t_add_at = median_seconds(confusion_matrix_add_at, pred_np, labels_np, C, IGNORE)

    cases = [
        ("confusion_matrix_np (NumPy, CPU)", segmentation_metrics.confusion_matrix_np, pred_np, labels_np),
        ("confusion_matrix (torch, cpu)", segmentation_metrics.confusion_matrix, pred, labels),
    ]
    if device.type != "cpu":
        pred_d, labels_d = pred.to(device), labels.to(device)
        cases.append((f"confusion_matrix (torch, {device})", segmentation_metrics.confusion_matrix, pred_d, labels_d))

    print(f"label maps ({N}, {H}, {W}) int64, C = {C}, 5% of pixels ignored")
    print(f"device {device}, one CPU thread (benchmark.Timer default), torch {torch.__version__}, numpy {np.__version__}")
    print(f"loops timed on {slice_pixels} of {pixels} pixels and scaled by the pixel count (x{scale:.0f}):")
    print(f"  index loop over the NumPy arrays {t_index_loop * 1e3:9.1f}ms")
    print(f"  loop over lists of Python ints   {t_list_loop * 1e3:9.1f}ms")
    print(f"  np.add.at (vectorized reference) {t_add_at * 1e3:9.3f}ms")
    print(f"{'function':34s} {'companion':>11s} {'x index loop':>13s} {'x list loop':>12s} {'x add.at':>9s}")
    for name, fn, pred_x, labels_x in cases:
        t_ours = median_seconds(fn, pred_x, labels_x, C, IGNORE)
        verdicts = ["met" if t_loop / t_ours >= TARGET_SPEEDUP else "MISSED" for t_loop in (t_index_loop, t_list_loop)]
        print(
            f"{name:34s} {t_ours * 1e3:9.3f}ms {t_index_loop / t_ours:6.0f} {verdicts[0]:>6s} "
            f"{t_list_loop / t_ours:5.0f} {verdicts[1]:>6s} {t_add_at / t_ours:9.1f}"
        )
    print(f"target: at least {TARGET_SPEEDUP}x faster than a per-pixel loop")


if __name__ == "__main__":
    main()
