"""Confusion matrix and segmentation metrics against brute-force loops over pixels and scikit-learn."""

import doctest
import math

import numpy as np
import pytest
import torch

from companion import segmentation_metrics as sm

IGNORE = 255


def confusion_matrix_by_loop(pred, labels, num_classes, ignore_index=None):
    cm = [[0] * num_classes for _ in range(num_classes)]
    for p, t in zip(pred.flatten().tolist(), labels.flatten().tolist()):
        if t != ignore_index:
            cm[t][p] += 1
    return torch.tensor(cm, dtype=torch.int64)


def metrics_by_loop(pred, labels, num_classes, ignore_index=None):
    """Metrics straight from the pixel pairs, without a confusion matrix."""
    pairs = [(p, t) for p, t in zip(pred.flatten().tolist(), labels.flatten().tolist()) if t != ignore_index]
    nan = float("nan")
    iou, dice, recall = [], [], []
    for c in range(num_classes):
        both = sum(p == c and t == c for p, t in pairs)
        either = sum(p == c or t == c for p, t in pairs)
        in_pred = sum(p == c for p, _ in pairs)
        in_target = sum(t == c for _, t in pairs)
        iou.append(both / either if either else nan)
        dice.append(2 * both / (in_pred + in_target) if either else nan)
        recall.append(both / in_target if in_target else nan)
    present = [v for v in iou if not math.isnan(v)]
    found = [r for r in recall if not math.isnan(r)]  # classes present in the target
    return {
        "pixel_accuracy": sum(p == t for p, t in pairs) / len(pairs) if pairs else nan,
        "per_class_iou": iou,
        "mean_iou": sum(present) / len(present) if present else nan,
        "dice": dice,
        "per_class_recall": recall,
        "balanced_accuracy": sum(found) / len(found) if found else nan,
    }


def random_label_maps(generator, shape, num_classes, ignore_fraction=0.0):
    labels = torch.randint(0, num_classes, shape, generator=generator)
    pred = torch.where(torch.rand(shape, generator=generator) < 0.6, labels, torch.randint(0, num_classes, shape, generator=generator))
    labels[torch.rand(shape, generator=generator) < ignore_fraction] = IGNORE
    return pred, labels


@pytest.mark.parametrize("ignore_index", [None, IGNORE])
def test_confusion_matrix_matches_a_loop_and_its_numpy_twin(device, generator, ignore_index):
    pred, labels = random_label_maps(generator, (3, 9, 11), 5, ignore_fraction=0.2 if ignore_index else 0.0)
    expected = confusion_matrix_by_loop(pred, labels, 5, ignore_index)
    cm = sm.confusion_matrix(pred.to(device), labels.to(device), 5, ignore_index)
    assert cm.dtype == torch.int64 and cm.device == device
    assert torch.equal(cm.cpu(), expected)
    cm_np = sm.confusion_matrix_np(pred.numpy(), labels.numpy(), 5, ignore_index)
    assert cm_np.dtype == np.int64
    np.testing.assert_array_equal(cm_np, expected.numpy())


@pytest.mark.parametrize("ignore_index", [-100, -1, 3, IGNORE, 10**9], ids=lambda i: f"ignore={i}")
@pytest.mark.parametrize("twin", ["torch", "numpy"])
def test_any_ignore_index_outside_the_classes(device, generator, ignore_index, twin):
    # the ignored pixels are counted in a histogram row of their own, below the classes for a
    # negative ignore_index, above them otherwise; 10**9 is too far for a row and is masked instead
    labels = torch.randint(1, 3, (2, 6, 7), generator=generator)  # class 0 absent: min(labels) > 0
    pred = torch.randint(0, 3, labels.shape, generator=generator)
    labels[torch.rand(labels.shape, generator=generator) < 0.3] = ignore_index
    expected = confusion_matrix_by_loop(pred, labels, 3, ignore_index)
    if twin == "torch":
        cm = sm.confusion_matrix(pred.to(device), labels.to(device), 3, ignore_index).cpu()
    else:
        cm = torch.from_numpy(sm.confusion_matrix_np(pred.numpy(), labels.numpy(), 3, ignore_index))
    assert torch.equal(cm, expected) and cm.shape == (3, 3)
    bad = labels.clone()
    bad[0, 0, 0], bad[1, 0, 0] = 7, -5  # neither a class nor ignore_index, hidden among ignored pixels
    message = rf"labels must lie in \[0, 3\) for C = 3 classes or equal ignore_index = {ignore_index}; got 2 value\(s\) outside, in \[-5, 7\]"
    with pytest.raises(ValueError, match=message):
        if twin == "torch":
            sm.confusion_matrix(pred.to(device), bad.to(device), 3, ignore_index)
        else:
            sm.confusion_matrix_np(pred.numpy(), bad.numpy(), 3, ignore_index)


def test_rows_are_the_true_class():
    labels = torch.tensor([[[2, 2, 2]]])
    pred = torch.tensor([[[0, 2, 2]]])
    cm = sm.confusion_matrix(pred, labels, 3)
    assert cm[2].tolist() == [1, 0, 2] and cm[:, 2].tolist() == [0, 0, 2]


def test_confusion_matrices_of_batches_add_up(generator):
    pred, labels = random_label_maps(generator, (4, 8, 8), 4, ignore_fraction=0.1)
    whole = sm.confusion_matrix(pred, labels, 4, IGNORE)
    parts = sm.confusion_matrix(pred[:1], labels[:1], 4, IGNORE) + sm.confusion_matrix(pred[1:], labels[1:], 4, IGNORE)
    assert torch.equal(whole, parts)


def test_small_integer_dtypes_do_not_overflow(device, generator):
    # 21 * 20 + 20 = 440 does not fit in uint8: the bins must be computed in int64
    pred, labels = random_label_maps(generator, (2, 16, 16), 21, ignore_fraction=0.1)
    cm = sm.confusion_matrix(pred.to(torch.uint8).to(device), labels.to(torch.uint8).to(device), 21, IGNORE)
    assert torch.equal(cm.cpu(), confusion_matrix_by_loop(pred, labels, 21, IGNORE))
    cm_np = sm.confusion_matrix_np(pred.numpy().astype(np.uint8), labels.numpy().astype(np.uint8), 21, IGNORE)
    np.testing.assert_array_equal(cm_np, cm.cpu().numpy())


@pytest.mark.parametrize("ignore_index", [None, IGNORE])
def test_metrics_match_a_loop(device, generator, ignore_index):
    # labels use classes 0..3 only and predictions 0..4: class 4 is predicted but never true
    # (IoU 0, no recall) and class 5 is absent from both (IoU and Dice NaN)
    labels = torch.randint(0, 4, (2, 10, 12), generator=generator)
    pred = torch.where(torch.rand(labels.shape, generator=generator) < 0.5, labels, torch.randint(0, 5, labels.shape, generator=generator))
    if ignore_index is not None:
        labels[torch.rand(labels.shape, generator=generator) < 0.25] = ignore_index
    expected = metrics_by_loop(pred, labels, 6, ignore_index)
    cm = sm.confusion_matrix(pred.to(device), labels.to(device), 6, ignore_index)
    for name, value in expected.items():
        result = getattr(sm, name)(cm)
        assert result.device == device and result.dtype == torch.float64
        torch.testing.assert_close(result.cpu(), torch.tensor(value, dtype=torch.float64), equal_nan=True)
    assert sm.per_class_iou(cm)[4] == 0.0 and sm.per_class_iou(cm)[5].isnan()


def test_class_absent_from_both_is_nan_and_left_out_of_the_mean():
    labels = torch.tensor([[[0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1]]])
    cm = sm.confusion_matrix(pred, labels, 3)  # class 2 appears nowhere
    iou = sm.per_class_iou(cm)
    assert iou[:2].tolist() == [0.5, 2 / 3] and iou[2].isnan()
    assert sm.dice(cm)[2].isnan()
    assert sm.mean_iou(cm).item() == pytest.approx((0.5 + 2 / 3) / 2)
    assert sm.balanced_accuracy(cm).item() == pytest.approx((0.5 + 1.0) / 2)


def test_dice_is_a_function_of_iou(generator):
    pred, labels = random_label_maps(generator, (2, 8, 8), 5)
    cm = sm.confusion_matrix(pred, labels, 5)
    iou = sm.per_class_iou(cm)
    torch.testing.assert_close(sm.dice(cm), 2 * iou / (1 + iou))


@pytest.mark.parametrize("shape", [(2, 4, 4), (0, 4, 4)], ids=["all-ignored", "no-images"])
def test_no_counted_pixel_gives_nan_metrics_without_error(device, shape):
    labels = torch.full(shape, IGNORE, device=device)
    pred = torch.zeros(shape, dtype=torch.int64, device=device)
    cm = sm.confusion_matrix(pred, labels, 3, ignore_index=IGNORE)
    assert torch.equal(cm, torch.zeros(3, 3, dtype=torch.int64, device=device))
    assert sm.pixel_accuracy(cm).isnan()
    assert sm.per_class_iou(cm).isnan().all() and sm.dice(cm).isnan().all() and sm.per_class_recall(cm).isnan().all()
    assert sm.mean_iou(cm).isnan() and sm.balanced_accuracy(cm).isnan()


def test_a_single_pixel_object(device):
    labels = torch.zeros(1, 16, 16, dtype=torch.int64)
    labels[0, 5, 7] = 1
    hit = sm.confusion_matrix(labels.to(device), labels.to(device), 2)
    assert sm.per_class_iou(hit).tolist() == [1.0, 1.0]
    shifted = torch.zeros_like(labels)
    shifted[0, 5, 8] = 1  # one pixel off: no overlap at all
    cm = sm.confusion_matrix(shifted.to(device), labels.to(device), 2)
    assert cm.tolist() == [[254, 1], [1, 0]]
    assert sm.per_class_iou(cm)[1].item() == 0.0 and sm.dice(cm)[1].item() == 0.0
    assert sm.pixel_accuracy(cm).item() == pytest.approx(254 / 256)  # accuracy barely notices the miss
    assert sm.balanced_accuracy(cm).item() == pytest.approx((254 / 255 + 0.0) / 2)


def test_float_logits_instead_of_a_label_map_are_refused():
    labels = torch.zeros(2, 8, 8, dtype=torch.int64)
    logits = torch.randn(2, 5, 8, 8)
    with pytest.raises(TypeError, match=r"pred must be an integer label map \(N, H, W\); take argmax over the class dim 1 first"):
        sm.confusion_matrix(logits, labels, 5)
    with pytest.raises(TypeError, match=r"\(N, H, W, C\)-like.*channels first.*permute"):
        sm.confusion_matrix(logits.permute(0, 2, 3, 1), labels, 5)  # channels-last by mistake
    with pytest.raises(TypeError, match="integer label map"):
        sm.confusion_matrix_np(logits.numpy(), labels.numpy(), 5)


def test_bad_shapes_values_and_types_are_refused():
    labels = torch.zeros(2, 8, 8, dtype=torch.int64)
    pred = torch.zeros(2, 8, 8, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"pred and labels must have the same shape.*\(2, 8, 7\)"):
        sm.confusion_matrix(pred[..., :7], labels, 3)
    with pytest.raises(ValueError, match=r"pred must have shape \(N, H, W\)"):
        sm.confusion_matrix(pred[:, None], labels, 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*\[3, 3\]"):
        sm.confusion_matrix(pred, torch.full_like(labels, 3), 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for C = 3 classes or equal ignore_index = 255; got 128 value\(s\) outside, in \[-1, -1\]"):
        sm.confusion_matrix(pred, torch.full_like(labels, -1), 3, ignore_index=IGNORE)
    with pytest.raises(ValueError, match=r"pred must lie in \[0, 3\)"):
        sm.confusion_matrix(torch.full_like(pred, 7), labels, 3)
    with pytest.raises(ValueError, match="ignore_index must lie outside"):
        sm.confusion_matrix(pred, labels, 3, ignore_index=0)
    with pytest.raises(TypeError, match="labels must be an integer label map"):
        sm.confusion_matrix(pred, labels.float(), 3)
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        sm.confusion_matrix(pred.numpy(), labels, 3)
    with pytest.raises(TypeError, match="pred must be a numpy.ndarray"):
        sm.confusion_matrix_np(pred, labels.numpy(), 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        sm.confusion_matrix_np(pred.numpy(), np.full((2, 8, 8), 4), 3)
    with pytest.raises(ValueError, match=r"cm must be square"):
        sm.mean_iou(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"cm must have shape \(C, C\)"):
        sm.pixel_accuracy(torch.zeros(9, dtype=torch.int64))


def test_docstring_examples():
    assert doctest.testmod(sm).failed == 0


# ----------------------------------------------------------------------------- IoU against the threshold


def iou_against_threshold_by_loop(scores, targets, thresholds):
    """Reference: for every threshold, threshold every pixel and count."""
    out = []
    for t in thresholds.tolist():
        tp = fp = fn = 0
        for s, y in zip(scores.flatten().tolist(), targets.flatten().tolist()):
            predicted = s > t
            tp += predicted and y
            fp += predicted and not y
            fn += (not predicted) and y
        out.append(tp / (tp + fp + fn) if tp + fp + fn else float("nan"))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_iou_against_threshold_matches_a_loop(device, generator, dtype):
    scores = torch.randn(3, 7, 9, generator=generator, dtype=torch.float64)
    targets = torch.rand(3, 7, 9, generator=generator) < 0.2
    scores = torch.where(targets, scores + 1.0, scores).round(decimals=1)  # ties with the thresholds, on purpose
    thresholds = torch.arange(-40, 41, dtype=torch.float64) / 10
    expected = iou_against_threshold_by_loop(scores, targets, thresholds)
    got = sm.iou_against_threshold(scores.to(device, dtype), targets.to(device), thresholds.to(device, dtype))
    assert got.dtype == torch.float64 and got.device == device and got.shape == thresholds.shape
    if dtype == torch.float64:
        torch.testing.assert_close(got.cpu(), expected)
    integer = sm.iou_against_threshold(scores.to(device), targets.long().to(device), thresholds.to(device))
    torch.testing.assert_close(integer.cpu(), iou_against_threshold_by_loop(scores, targets, thresholds))


def test_iou_against_threshold_agrees_with_the_confusion_matrix_and_precision_recall(generator):
    scores = torch.randn(2, 8, 8, generator=generator, dtype=torch.float64)
    labels = (scores + torch.randn(2, 8, 8, generator=generator, dtype=torch.float64) > 1.0).long()
    for t in (-0.5, 0.3, 1.2):
        cm = sm.confusion_matrix((scores > t).long(), labels, 2)
        iou = sm.iou_against_threshold(scores, labels == 1, torch.tensor([t], dtype=torch.float64))
        torch.testing.assert_close(iou[0], sm.per_class_iou(cm)[1])
        precision, recall = cm[1, 1] / cm[:, 1].sum().double(), cm[1, 1] / cm[1].sum().double()
        torch.testing.assert_close(iou[0], 1 / (1 / precision + 1 / recall - 1))


def test_iou_against_threshold_edge_cases(device):
    scores = torch.tensor([0.2, 0.8], device=device)
    none = torch.zeros(2, dtype=torch.bool, device=device)
    got = sm.iou_against_threshold(scores, none, torch.tensor([0.0, 0.5, 1.0], device=device))
    assert got[:2].tolist() == [0.0, 0.0] and got[2].isnan()  # no object: 0 while something is predicted, then NaN
    empty = sm.iou_against_threshold(scores[:0], none[:0], torch.tensor([0.5], device=device))
    assert empty.isnan().all()


def test_iou_against_threshold_bad_input():
    scores, targets, thresholds = torch.zeros(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool), torch.zeros(3)
    with pytest.raises(ValueError, match=r"scores and targets must have the same shape.*\(2, 4, 3\)"):
        sm.iou_against_threshold(scores, targets[..., :3], thresholds)
    with pytest.raises(ValueError, match=r"thresholds must have shape \(T,\)"):
        sm.iou_against_threshold(scores, targets, thresholds[None])
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        sm.iou_against_threshold(targets.long(), targets, thresholds)
    with pytest.raises(TypeError, match="thresholds must have a floating-point dtype"):
        sm.iou_against_threshold(scores, targets, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="targets must be a bool"):
        sm.iou_against_threshold(scores, targets.float(), thresholds)
    with pytest.raises(ValueError, match=r"targets must hold 0 and 1 only.*\[2, 2\]"):
        sm.iou_against_threshold(scores, torch.full((2, 4, 4), 2), thresholds)
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        sm.iou_against_threshold(torch.full((2, 4, 4), float("nan")), targets, thresholds)
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        sm.iou_against_threshold(scores.numpy(), targets, thresholds)


@pytest.mark.parametrize("ignore_index", [None, IGNORE])
def test_confusion_matrix_and_metrics_match_scikit_learn(generator, ignore_index):
    from sklearn import metrics as sk

    labels = torch.randint(0, 5, (3, 9, 11), generator=generator)
    pred = torch.where(torch.rand(labels.shape, generator=generator) < 0.6, labels, torch.randint(0, 5, labels.shape, generator=generator))
    if ignore_index is not None:
        labels[torch.rand(labels.shape, generator=generator) < 0.2] = ignore_index
    kept = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
    y_true, y_pred = labels[kept].numpy(), pred[kept].numpy()
    cm = sm.confusion_matrix(pred, labels, 5, ignore_index)
    np.testing.assert_array_equal(cm.numpy(), sk.confusion_matrix(y_true, y_pred, labels=range(5)))  # rows: true class
    np.testing.assert_allclose(sm.pixel_accuracy(cm).item(), sk.accuracy_score(y_true, y_pred))
    np.testing.assert_allclose(sm.per_class_iou(cm).numpy(), sk.jaccard_score(y_true, y_pred, labels=range(5), average=None))
    np.testing.assert_allclose(sm.mean_iou(cm).item(), sk.jaccard_score(y_true, y_pred, labels=range(5), average="macro"))
    np.testing.assert_allclose(sm.dice(cm).numpy(), sk.f1_score(y_true, y_pred, labels=range(5), average=None))
    np.testing.assert_allclose(sm.per_class_recall(cm).numpy(), sk.recall_score(y_true, y_pred, labels=range(5), average=None))
    np.testing.assert_allclose(sm.balanced_accuracy(cm).item(), sk.balanced_accuracy_score(y_true, y_pred))
