"""The companion's one-``bincount`` confusion matrix against per-pixel Python loops.

The naive reference visits every pixel in Python and adds one to
``cm[label][pred]``. It is timed on the same inputs as each companion function:
indexing the tensors pixel by pixel for :func:`confusion_matrix`, indexing the
NumPy arrays for :func:`confusion_matrix_np`. The target is at least
100x faster than that loop. For scale, two more references are printed: the
fastest pure-Python loop (over lists of ints, after a ``tolist()`` conversion
whose time is shown apart), and NumPy's vectorized but unbuffered scatter-add
``np.add.at(cm, (labels, pred), 1)``. PyTorch itself has no confusion-matrix
function; ``torch.bincount`` is the primitive the companion builds on, and
``bincount alone`` (on bins computed beforehand) is the floor any
bincount-based implementation could reach: the rest of the companion's time is
one pass to form the bins and one min/max pass over each label map.

The loops are too slow to run on the whole batch, so each is timed on a slice
of image 0 and scaled by the pixel count (a loop is linear in pixels).
"""

import time

import numpy as np
import torch

from companion import segmentation_metrics
from companion.runtime import default_device
from timing import median_seconds  # benchmarks/timing.py

N, H, W, C = 8, 256, 256, 21
IGNORE = 255
TARGET_SPEEDUP = 100


def loop_seconds(fn, pred, labels, timed_pixels: int, repeats: int = 3) -> float:
    """Median seconds of ``fn(pred, labels, C, IGNORE)`` on a slice, scaled to all N * H * W pixels."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(pred, labels, C, IGNORE)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * (N * H * W) / timed_pixels


def confusion_matrix_by_index_loop(pred, labels, num_classes: int, ignore_index: int):
    """The textbook loop: pred, labels (N, H, W) tensors or arrays, indexed pixel by pixel."""
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
    """The fastest pure-Python loop: flat lists of Python ints."""
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

    # every reference gives the companion's answer
    whole = segmentation_metrics.confusion_matrix_np(pred_np, labels_np, C, IGNORE)
    assert np.array_equal(segmentation_metrics.confusion_matrix(pred, labels, C, IGNORE).numpy(), whole)
    assert np.array_equal(confusion_matrix_add_at(pred_np, labels_np, C, IGNORE), whole)
    rows = slice(0, 8)
    part = segmentation_metrics.confusion_matrix_np(pred_np[:1, rows], labels_np[:1, rows], C, IGNORE)
    assert np.array_equal(confusion_matrix_by_index_loop(pred[:1, rows], labels[:1, rows], C, IGNORE), part)
    assert np.array_equal(confusion_matrix_by_index_loop(pred_np[:1, rows], labels_np[:1, rows], C, IGNORE), part)
    pred_list, labels_list = pred_np.ravel().tolist(), labels_np.ravel().tolist()
    assert np.array_equal(confusion_matrix_by_list_loop(pred_list, labels_list, C, IGNORE), whole)

    t_tensor_loop = loop_seconds(confusion_matrix_by_index_loop, pred[:1, :16], labels[:1, :16], 16 * W)
    t_array_loop = loop_seconds(confusion_matrix_by_index_loop, pred_np[:1, :128], labels_np[:1, :128], 128 * W)
    t_list_loop = loop_seconds(confusion_matrix_by_list_loop, pred_list[: 128 * W], labels_list[: 128 * W], 128 * W)
    t_tolist = median_seconds(lambda: (pred_np.ravel().tolist(), labels_np.ravel().tolist()))
    t_add_at = median_seconds(confusion_matrix_add_at, pred_np, labels_np, C, IGNORE)
    bins = torch.add(pred, labels, alpha=C).flatten()
    t_floor = median_seconds(torch.bincount, bins)

    print(f"label maps ({N}, {H}, {W}) int64, C = {C}, 5% of pixels ignored (label {IGNORE})")
    print(f"device {device}, one CPU thread (benchmark.Timer default), torch {torch.__version__}, numpy {np.__version__}")
    print("references (loops timed on a slice and scaled to all pixels):")
    print(f"  loop indexing the tensors          {t_tensor_loop * 1e3:10.1f}ms")
    print(f"  loop indexing the NumPy arrays     {t_array_loop * 1e3:10.1f}ms")
    print(f"  loop over lists of Python ints     {t_list_loop * 1e3:10.1f}ms  (+ {t_tolist * 1e3:.1f}ms for tolist())")
    print(f"  np.add.at (vectorized scatter-add) {t_add_at * 1e3:10.2f}ms")
    print(f"  torch.bincount alone (the floor)   {t_floor * 1e3:10.2f}ms")

    cases = [
        ("confusion_matrix_np (NumPy, CPU)", segmentation_metrics.confusion_matrix_np, pred_np, labels_np, t_array_loop),
        ("confusion_matrix (torch, cpu)", segmentation_metrics.confusion_matrix, pred, labels, t_tensor_loop),
    ]
    if device.type != "cpu":
        pred_d, labels_d = pred.to(device), labels.to(device)
        cases.append((f"confusion_matrix (torch, {device})", segmentation_metrics.confusion_matrix, pred_d, labels_d, t_tensor_loop))
    print(f"{'function':34s} {'companion':>10s} {'x its loop':>11s} {'target':>7s} {'x list loop':>12s} {'x add.at':>9s} {'/ floor':>8s}")
    for name, fn, pred_x, labels_x, t_loop in cases:
        t_ours = median_seconds(fn, pred_x, labels_x, C, IGNORE)
        verdict = "met" if t_loop / t_ours >= TARGET_SPEEDUP else "MISSED"
        print(
            f"{name:34s} {t_ours * 1e3:8.2f}ms {t_loop / t_ours:11.0f} {verdict:>7s} "
            f"{t_list_loop / t_ours:12.0f} {t_add_at / t_ours:9.1f} {t_ours / t_floor:8.1f}"
        )
    print(f"target: at least {TARGET_SPEEDUP}x faster than the per-pixel loop over the same inputs ('x its loop')")


if __name__ == "__main__":
    main()
