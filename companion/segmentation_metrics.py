"""Segmentation metrics, all read off one confusion matrix built with one ``bincount``.

Every pixel is a (true class, predicted class) pair. Encoding the pair as the
single integer ``C * label + pred`` turns counting all pairs into one
histogram, ``bincount``, whose ``C * C`` bins reshape into the confusion
matrix: rows are the true class, columns the predicted class. Every metric
below is a few vector operations on that matrix, so a whole validation set is
summarised by adding its batches' matrices and computing the metrics once.

For class ``c``, with ``cm`` the (C, C) matrix::

    TP_c = cm[c, c]          true c, predicted c
    FN_c = cm[c, :].sum() - TP_c   true c, predicted something else
    FP_c = cm[:, c].sum() - TP_c   predicted c, true something else

Conventions for the edge cases (a class absent from an image is common, and an
image can be entirely ignored):

- A class absent from both the target and the prediction has no IoU or Dice:
  ``0 / 0`` is reported as NaN, and the means skip it (``nanmean``). A class
  that is predicted but absent from the target has IoU 0 and counts.
- A confusion matrix of zeros (every pixel ignored, or no pixels) makes every
  metric NaN: there is nothing to measure, and NaN says so instead of a
  number that would bias an average. No error is raised.

Metrics are returned in float64 so that pixel counts beyond 2**24 (a few
hundred large images) are still exact; they live on the matrix's device.
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import (
    Array,
    _size,
    is_integer,
    min_max,
    require_array,
    require_floating,
    require_in_range,
    require_int,
    require_layout,
    require_same_device,
    require_same_shape,
    require_tensor,
    require_values,
)


def _check_label_maps(pred: Array, labels: Array, num_classes: int, ignore_index: int | None) -> None:
    """Check types, shapes and ``ignore_index``; the values are checked by :func:`_confusion_matrix`."""
    require_int(num_classes, "num_classes", minimum=1)
    if ignore_index is not None:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            kind = type(ignore_index).__name__
            raise TypeError(f"ignore_index must be an int or None; got {kind} {ignore_index!r}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index must lie outside the class range [0, {num_classes}); got {ignore_index}, "
                "which would silently drop a real class"
            )
    if not is_integer(pred):
        message = (
            "pred must be an integer label map (N, H, W); take argmax over the class dim 1 first; "
            f"got dtype {pred.dtype} and shape {tuple(pred.shape)}"
        )
        if pred.ndim == 4 and labels.ndim == 3 and tuple(pred.shape[:3]) == tuple(labels.shape):
            channels_first = (pred.shape[0], *pred.shape[2:]) == tuple(labels.shape)
            if not channels_first:
                message += (
                    f"; that shape is (N, H, W, C)-like: logits must be (N, C, H, W) with C = {pred.shape[3]} "
                    "channels first, so use logits.permute(0, 3, 1, 2).argmax(dim=1)"
                )
        raise TypeError(message)
    if not is_integer(labels):
        raise TypeError(f"labels must be an integer label map (N, H, W); got dtype {labels.dtype}")
    require_layout(labels, "labels", "(N, H, W)")
    require_layout(pred, "pred", "(N, H, W)")
    require_same_shape(pred, "pred", labels, "labels")
    if isinstance(pred, torch.Tensor) and pred.device != labels.device:
        raise ValueError(f"pred and labels must be on the same device; got {pred.device} and {labels.device}")


def _pair_histogram(pred: Array, labels: Array, num_classes: int, base: int, rows: int) -> Array:
    """Counts of (label, pred) pairs as a (rows, C) matrix: label value ``v`` counts in row ``v - base``.

    The pair is encoded as the bin ``C * (v - base) + p``, in int64 so that a small
    label dtype cannot overflow, and all bins are counted by one ``bincount``.
    """
    c = num_classes
    if isinstance(labels, torch.Tensor):
        bins = torch.add(pred.long(), labels.long(), alpha=c)  # (N, H, W), C * v + p
        if base:
            bins -= base * c
        return torch.bincount(bins.flatten(), minlength=rows * c).reshape(rows, c)
    bins = np.multiply(labels, c, dtype=np.int64)  # (N, H, W), C * v; updated in place below
    bins += pred
    if base:
        bins -= base * c
    return np.bincount(bins.ravel(), minlength=rows * c).reshape(rows, c).astype(np.int64, copy=False)


# Histogram bins beyond which an ignore_index far from the classes (say 10**9) is
# dropped by a mask instead of counted in a row of its own.
_MAX_HISTOGRAM_BINS = 1 << 20


def _confusion_matrix(pred: Array, labels: Array, num_classes: int, ignore_index: int | None) -> Array:
    """The body shared by the twins, once types and shapes are checked.

    No pass over the pixels masks the ignored ones: the histogram has a row for
    every label value from ``min(labels, 0)`` to ``max(labels, C - 1)``, so the
    ignored pixels land in the row of ``ignore_index`` and are left out by taking
    the C rows of the classes. Any count outside those rows and the ignored row
    is a label that is neither a class nor ``ignore_index``. This costs one min/max
    pass over each map, one pass to form the bins and one ``bincount``.
    """
    c = num_classes
    require_in_range(pred, "pred", c)
    lo, hi = min_max(labels) if _size(labels) else (0, 0)
    if 0 <= lo and hi < c:  # every pixel is a class: nothing to ignore
        return _pair_histogram(pred, labels, c, base=0, rows=c)
    if ignore_index is None or not lo <= ignore_index <= hi:
        require_in_range(labels, "labels", c, ignore_index)  # raises
    base = min(lo, 0)
    rows = max(hi, c - 1) - base + 1
    if rows * c > _MAX_HISTOGRAM_BINS:  # an ignore_index far from the classes: drop its pixels instead
        require_in_range(labels, "labels", c, ignore_index)
        kept = labels != ignore_index
        return _pair_histogram(pred[kept], labels[kept], c, base=0, rows=c)  # (K,) pixels each
    counts = _pair_histogram(pred, labels, c, base, rows)  # (rows, C)
    cm = counts[-base : c - base]  # (C, C), rows = classes 0 .. C-1
    if int(counts.sum()) != int(cm.sum()) + int(counts[ignore_index - base].sum()):
        require_in_range(labels, "labels", c, ignore_index)  # raises
    return cm


def confusion_matrix(
    pred: torch.Tensor, labels: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> torch.Tensor:
    """Count (true class, predicted class) pairs over all pixels with one ``torch.bincount``.

    Args:
        pred: (N, H, W) integer predicted classes in [0, C), e.g. ``logits.argmax(dim=1)``.
        labels: (N, H, W) integer true classes in [0, C), or ``ignore_index``.
        num_classes: C.
        ignore_index: label value whose pixels are left out of the count
            (whatever is predicted there); must lie outside [0, C). None: no pixel is ignored.
    Returns:
        (C, C) int64 tensor on the inputs' device; ``cm[t, p]`` is the number of
        pixels of true class ``t`` predicted as ``p`` (rows = true class).
    Raises:
        TypeError: a float ``pred`` (logits passed instead of a label map), non-integer labels.
        ValueError: wrong or mismatched shapes, values out of range.

    >>> labels = torch.tensor([[[0, 1], [1, 2]]])  # (1, 2, 2)
    >>> pred = torch.tensor([[[0, 1], [2, 2]]])
    >>> confusion_matrix(pred, labels, num_classes=3)
    tensor([[1, 0, 0],
            [0, 1, 1],
            [0, 0, 1]])
    """
    require_tensor(pred, "pred")
    require_tensor(labels, "labels")
    _check_label_maps(pred, labels, num_classes, ignore_index)
    require_values(pred, "pred")  # the counts are the values
    require_values(labels, "labels")
    return _confusion_matrix(pred, labels, num_classes, ignore_index)


def confusion_matrix_np(
    pred: np.ndarray, labels: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """NumPy twin of :func:`confusion_matrix` (same contract), with ``np.bincount``.

    Returns:
        (C, C) int64 array, rows = true class.
    """
    require_array(pred, "pred")
    require_array(labels, "labels")
    _check_label_maps(pred, labels, num_classes, ignore_index)
    return _confusion_matrix(pred, labels, num_classes, ignore_index)


def _check_confusion_matrix(cm: torch.Tensor) -> torch.Tensor:
    """Check a square (C, C) matrix of counts and return it as float64 (exact for counts below 2**53)."""
    require_tensor(cm, "cm")
    require_layout(cm, "cm", "(C, C)")
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be square (C, C), rows = true class; got shape {tuple(cm.shape)}")
    if cm.dtype == torch.bool or cm.is_complex():
        raise TypeError(f"cm must hold counts (integers or floats); got dtype {cm.dtype}")
    cm = cm.double()
    if cm.device.type != "meta" and cm.numel() and not bool(((cm >= 0) & (cm < torch.inf)).all()):
        raise ValueError("cm must hold counts: non-negative, finite numbers")
    return cm


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, NaN where the denominator is 0 (the quantity is undefined)."""
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1), torch.nan)


def pixel_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Fraction of counted pixels whose class is right: ``trace(cm) / sum(cm)``.

    Args:
        cm: (C, C) confusion matrix, rows = true class.
    Returns:
        0-dim float64 tensor; NaN when ``cm`` is all zeros (no pixel counted).
    """
    cm = _check_confusion_matrix(cm)
    return _ratio(cm.diagonal().sum(), cm.sum())


def per_class_iou(cm: torch.Tensor) -> torch.Tensor:
    """Intersection over union of each class: ``TP / (TP + FP + FN)``.

    Args:
        cm: (C, C) confusion matrix, rows = true class.
    Returns:
        (C,) float64; NaN for a class absent from both target and prediction
        (its union is empty). A class predicted but absent from the target gets 0.
    """
    cm = _check_confusion_matrix(cm)
    true_pos = cm.diagonal()  # (C,)
    # union = TP + FP + FN = (row sum) + (column sum) - TP
    union = cm.sum(dim=1) + cm.sum(dim=0) - true_pos  # (C,)
    return _ratio(true_pos, union)


def mean_iou(cm: torch.Tensor) -> torch.Tensor:
    """Mean of :func:`per_class_iou` over the classes that have one (NaN entries skipped).

    Returns:
        0-dim float64 tensor; NaN when no class has an IoU (``cm`` all zeros).
    """
    return per_class_iou(cm).nanmean()


def dice(cm: torch.Tensor) -> torch.Tensor:
    """Dice coefficient (F1 score) of each class: ``2 TP / (2 TP + FP + FN)`` = ``2 IoU / (1 + IoU)``.

    Args:
        cm: (C, C) confusion matrix, rows = true class.
    Returns:
        (C,) float64; NaN for a class absent from both target and prediction, as for IoU.
    """
    cm = _check_confusion_matrix(cm)
    # 2 TP + FP + FN = (row sum) + (column sum)
    return _ratio(2 * cm.diagonal(), cm.sum(dim=1) + cm.sum(dim=0))


def per_class_recall(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class, ``TP / (TP + FN)``: the fraction of its true pixels that were found.

    Args:
        cm: (C, C) confusion matrix, rows = true class.
    Returns:
        (C,) float64; NaN for a class absent from the target (it has nothing to find).
    """
    cm = _check_confusion_matrix(cm)
    return _ratio(cm.diagonal(), cm.sum(dim=1))


def balanced_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Mean per-class recall, ``mean_c TP_c / (TP_c + FN_c)``, over the classes present in the target.

    Unlike :func:`pixel_accuracy`, a large background class cannot dominate it.
    Classes absent from the target have no recall and are skipped (as in
    scikit-learn's ``balanced_accuracy_score``).

    Returns:
        0-dim float64 tensor; NaN when ``cm`` is all zeros.
    """
    return per_class_recall(cm).nanmean()


def iou_against_threshold(scores: torch.Tensor, targets: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """IoU of the object mask ``scores > t`` for every threshold ``t``, from one sort.

    For a binary (object against background) prediction made by thresholding a
    score, such as the object probability or the logit ``z_1 - z_0``: sorting
    the object pixels' scores and the background pixels' scores once, a
    ``searchsorted`` per threshold counts the pixels above it, so a whole IoU
    curve costs ``O((P + T) log P)`` for P pixels and T thresholds, not ``P T``.
    With ``TP`` and ``FP`` the object and background pixels above ``t`` and
    ``n_obj`` the object pixels::

        IoU(t) = TP / (TP + FP + FN) = TP / (n_obj + FP)

    In terms of precision ``P = TP / (TP + FP)`` and recall ``R = TP / n_obj``,
    ``IoU = 1 / (1/P + 1/R - 1)``: it is high only where both are, so the best
    threshold for IoU is not the one for recall (low) or for precision (high).

    Args:
        scores: (...) floating scores, one per pixel (any shape, e.g. (N, H, W)); no NaN.
        targets: bool (or integer 0/1) of the same shape, True (1) = object pixel.
        thresholds: (T,) floating thresholds on the scores' scale; a pixel is
            predicted as object when its score is strictly above the threshold.
    Returns:
        (T,) float64 on the scores' device; NaN at a threshold where the union is
        empty (no object pixel, none predicted), as for :func:`per_class_iou`.

    >>> scores = torch.tensor([0.9, 0.6, 0.4, 0.2])
    >>> targets = torch.tensor([True, False, True, False])
    >>> iou_against_threshold(scores, targets, torch.tensor([0.1, 0.5, 0.8, 0.95]))
    tensor([0.5000, 0.3333, 0.5000, 0.0000], dtype=torch.float64)
    """
    require_tensor(scores, "scores")
    require_tensor(targets, "targets")
    require_tensor(thresholds, "thresholds")
    require_floating(scores, "scores")
    require_floating(thresholds, "thresholds")
    require_layout(thresholds, "thresholds", "(T,)")
    require_same_shape(scores, "scores", targets, "targets")
    require_same_device(scores, "scores", targets, "targets")
    require_same_device(scores, "scores", thresholds, "thresholds")
    require_values(scores, "scores")
    require_values(targets, "targets")
    if targets.dtype != torch.bool:
        if targets.is_floating_point() or targets.is_complex():
            raise TypeError(f"targets must be a bool (or integer 0/1) mask; got dtype {targets.dtype}")
        if targets.numel() and not bool(((targets == 0) | (targets == 1)).all()):
            lo, hi = min_max(targets)
            raise ValueError(f"targets must hold 0 and 1 only (1 = object); got values in [{lo}, {hi}]")
        targets = targets == 1
    if scores.numel() and bool(scores.isnan().any()):
        raise ValueError("scores must not contain NaN: a NaN pixel is neither above nor below a threshold")
    work = torch.promote_types(scores.dtype, thresholds.dtype)
    scores, thresholds = scores.to(work), thresholds.to(work)
    objects = scores[targets].sort().values  # (n_obj,)
    background = scores[~targets].sort().values  # (n_bg,)
    # pixels strictly above t = count - (pixels <= t)
    true_pos = objects.numel() - torch.searchsorted(objects, thresholds.contiguous(), right=True)  # (T,)
    false_pos = background.numel() - torch.searchsorted(background, thresholds.contiguous(), right=True)  # (T,)
    # IoU = TP / (TP + FP + FN), and TP + FN = n_obj
    return _ratio(true_pos.double(), (objects.numel() + false_pos).double())
