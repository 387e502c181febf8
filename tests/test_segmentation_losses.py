"""Segmentation losses against torch.nn.functional and per-pixel loop references: values, gradients, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion import segmentation_losses as sl

REDUCTIONS = ["none", "mean", "sum"]
N, C, H, W = 2, 4, 5, 3


@pytest.fixture
def logits_labels(generator):
    """float64 (N, C, H, W) logits and (N, H, W) labels with a few ignored pixels."""
    logits = 3 * torch.randn(N, C, H, W, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, C, (N, H, W), generator=generator)
    labels[0, 0, :2] = sl.IGNORE_INDEX
    labels[1, 4, 2] = sl.IGNORE_INDEX
    return logits, labels


@pytest.fixture
def class_weight(generator):
    return 0.5 + torch.rand(C, generator=generator, dtype=torch.float64)


def loop_infogain(logits, labels, gain, ignore_index=sl.IGNORE_INDEX):
    """Reference: -sum_k H[y, k] log p_k, one pixel at a time (0 at ignored pixels)."""
    out = torch.zeros(labels.shape, dtype=logits.dtype)
    for n in range(labels.shape[0]):
        for i in range(labels.shape[1]):
            for j in range(labels.shape[2]):
                y = int(labels[n, i, j])
                if y != ignore_index:
                    log_p = torch.log_softmax(logits[n, :, i, j], dim=0)
                    out[n, i, j] = -(gain[y] * log_p).sum()
    return out


def labelled_probs_and_onehot(logits, labels):
    """The softmax probabilities and one-hot labels, both (N, C, H, W), zero at ignored pixels."""
    valid = (labels != sl.IGNORE_INDEX)[:, None].to(logits.dtype)
    probs = torch.softmax(logits, dim=1) * valid
    onehot = F.one_hot(labels.clamp(min=0), C).permute(0, 3, 1, 2).to(logits.dtype) * valid
    return probs, onehot


def loop_soft_dice(probs, onehot, eps):
    """Reference: per image and class, (2 sum p t + eps) / (sum p + sum t + eps), as plain sums."""
    losses = []
    for n in range(probs.shape[0]):
        dice = [
            (2 * (probs[n, c] * onehot[n, c]).sum() + eps) / (probs[n, c].sum() + onehot[n, c].sum() + eps)
            for c in range(probs.shape[1])
        ]
        losses.append(1 - sum(dice) / len(dice))
    return torch.stack(losses)


def loop_soft_iou(probs, onehot, eps):
    """Reference: per image and class, (sum p t + eps) / (sum (p + t - p t) + eps), pixel by pixel."""
    losses = []
    for n in range(probs.shape[0]):
        jaccard = []
        for c in range(probs.shape[1]):
            p, t = probs[n, c].flatten().tolist(), onehot[n, c].flatten().tolist()
            intersection = sum(a * b for a, b in zip(p, t))
            union = sum(a + b - a * b for a, b in zip(p, t))
            jaccard.append((intersection + eps) / (union + eps))
        losses.append(1 - sum(jaccard) / len(jaccard))
    return torch.tensor(losses, dtype=probs.dtype, device=probs.device)


# ----------------------------------------------------------------------------- pixel cross-entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_pixel_cross_entropy_matches_torch(device, logits_labels, class_weight, reduction, weighted):
    logits, labels = (t.to(device) for t in logits_labels)
    weight = class_weight.to(device) if weighted else None
    expected = F.cross_entropy(logits, labels, weight=weight, ignore_index=sl.IGNORE_INDEX, reduction=reduction)
    torch.testing.assert_close(sl.pixel_cross_entropy(logits, labels, weight, reduction=reduction), expected)
    weight_np = None if weight is None else weight.cpu().numpy()
    ours_np = sl.pixel_cross_entropy_np(logits.cpu().numpy(), labels.cpu().numpy(), weight_np, reduction=reduction)
    np.testing.assert_allclose(ours_np, expected.cpu().numpy(), rtol=1e-12, atol=1e-15)


def test_pixel_cross_entropy_other_ignore_index(device, logits_labels):
    logits, labels = (t.to(device) for t in logits_labels)
    labels = labels.masked_fill(labels == sl.IGNORE_INDEX, 255)
    torch.testing.assert_close(
        sl.pixel_cross_entropy(logits, labels, ignore_index=255), F.cross_entropy(logits, labels, ignore_index=255)
    )


def test_pixel_cross_entropy_float32_large_batch_and_extreme_logits(device, generator):
    logits = 20 * torch.randn(3, 6, 16, 16, generator=generator)
    logits[0, :, 0, 0] = torch.tensor([1e4, -1e4, 0, 0, 0, 0])
    labels = torch.randint(0, 6, (3, 16, 16), generator=generator)
    logits, labels = logits.to(device), labels.to(device)
    out = sl.pixel_cross_entropy(logits, labels, reduction="none")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, F.cross_entropy(logits, labels, reduction="none"))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_pixel_cross_entropy_gradient(device, logits_labels, class_weight, reduction, weighted):
    logits, labels = (t.to(device) for t in logits_labels)
    weight = class_weight.to(device) if weighted else None
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: sl.pixel_cross_entropy(z, labels, weight, reduction=reduction), (logits,))
    (ours,) = torch.autograd.grad(sl.pixel_cross_entropy(logits, labels, weight, reduction=reduction), logits)
    (theirs,) = torch.autograd.grad(F.cross_entropy(logits, labels, weight=weight, reduction=reduction), logits)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("weighted", [False, True])
def test_all_pixels_ignored_gives_zero_not_nan(device, logits_labels, class_weight, weighted):
    logits, labels = (t.to(device) for t in logits_labels)
    labels = torch.full_like(labels, sl.IGNORE_INDEX)
    weight = class_weight.to(device) if weighted else None
    logits.requires_grad_()
    # PyTorch: 0 / 0 = nan for the mean
    assert F.cross_entropy(logits, labels, weight=weight).isnan()
    loss = sl.pixel_cross_entropy(logits, labels, weight)
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, logits)
    assert (grad == 0).all()
    assert sl.pixel_cross_entropy(logits, labels, weight, reduction="sum").item() == 0.0
    assert (sl.pixel_cross_entropy(logits, labels, weight, reduction="none") == 0).all()
    assert sl.pixel_cross_entropy_np(logits.detach().cpu().numpy(), labels.cpu().numpy()) == 0.0
    for loss in (
        sl.infogain_loss(logits, labels, torch.eye(C, dtype=logits.dtype)),
        sl.focal_loss(logits, labels),
        sl.soft_dice_loss(logits, labels),  # every class absent and unpredicted: Dice eps / eps = 1
    ):
        assert loss.item() == 0.0
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(grad).all()


def test_empty_batch(device):
    logits = torch.zeros(0, C, H, W, device=device)
    labels = torch.zeros(0, H, W, dtype=torch.int64, device=device)
    assert sl.pixel_cross_entropy(logits, labels, reduction="none").shape == (0, H, W)
    assert sl.pixel_cross_entropy(logits, labels).item() == 0.0  # F.cross_entropy: nan
    assert sl.focal_loss(logits, labels).item() == 0.0


def test_single_pixel_object(device, generator):
    """One pixel of class 1 in a 32 x 32 background: the losses see it and push its score up."""
    logits = torch.zeros(1, 2, 32, 32, dtype=torch.float64, device=device, requires_grad=True)
    labels = torch.zeros(1, 32, 32, dtype=torch.int64, device=device)
    labels[0, 17, 5] = 1
    weight = sl.inverse_frequency_weights(labels, 2).to(torch.float64)
    torch.testing.assert_close(weight.cpu(), torch.tensor([1024 / (2 * 1023), 1024 / 2], dtype=torch.float64))
    for loss in (
        sl.pixel_cross_entropy(logits, labels, weight),
        sl.focal_loss(logits, labels, alpha=weight),
        sl.soft_dice_loss(logits, labels),
    ):
        (grad,) = torch.autograd.grad(loss, logits)
        assert grad[0, 1, 17, 5] < 0 and grad[0, 0, 17, 5] > 0  # descent raises class 1 at the pixel
    torch.testing.assert_close(
        sl.pixel_cross_entropy(logits, labels, weight), F.cross_entropy(logits, labels, weight=weight)
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_one_hot_binary_cross_entropy_matches_torch(device, generator, reduction):
    logits = 3 * torch.randn(N, C, H, W, generator=generator, dtype=torch.float64).to(device)
    labels = torch.randint(0, C, (N, H, W), generator=generator).to(device)
    one_hot = F.one_hot(labels, C).permute(0, 3, 1, 2).double()  # (N, C, H, W)
    expected = F.binary_cross_entropy_with_logits(logits, one_hot, reduction=reduction)
    torch.testing.assert_close(sl.one_hot_binary_cross_entropy(logits, labels, reduction), expected)
    # a brute-force loop over the entries for one pixel
    z, y = logits[0, :, 1, 2].tolist(), labels[0, 1, 2].item()
    per_entry = [-np.log(1 / (1 + np.exp(-v))) if k == y else -np.log(1 - 1 / (1 + np.exp(-v))) for k, v in enumerate(z)]
    torch.testing.assert_close(sl.one_hot_binary_cross_entropy(logits, labels, "none")[0, :, 1, 2].cpu(),
                               torch.tensor(per_entry, dtype=torch.float64))


def test_one_hot_binary_cross_entropy_rejects_bad_input():
    logits, labels = torch.zeros(2, 3, 4, 5, dtype=torch.float64), torch.zeros(2, 4, 5, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        sl.one_hot_binary_cross_entropy(logits, labels - 1)
    with pytest.raises(ValueError, match="channels last"):
        sl.one_hot_binary_cross_entropy(logits.permute(0, 2, 3, 1), labels)  # (N, H, W, C) with (N, H, W)
    with pytest.raises(TypeError, match="labels must hold integer class indices"):
        sl.one_hot_binary_cross_entropy(logits, labels.double())


# ----------------------------------------------------------------------------- binary masks


@pytest.fixture
def logits_masks(generator):
    logits = 4 * torch.randn(N, 1, H, W, generator=generator, dtype=torch.float64)
    masks = (torch.rand(N, 1, H, W, generator=generator, dtype=torch.float64) > 0.7).to(torch.float64)
    return logits, masks


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, 3.0, "tensor"])
def test_binary_mask_cross_entropy_matches_torch(device, logits_masks, reduction, pos_weight):
    logits, masks = (t.to(device) for t in logits_masks)
    if pos_weight == "tensor":
        pos_weight = torch.tensor([0.25], dtype=torch.float64, device=device)
    torch_pos_weight = torch.tensor([pos_weight], dtype=torch.float64, device=device) if isinstance(pos_weight, float) else pos_weight
    expected = F.binary_cross_entropy_with_logits(logits, masks, pos_weight=torch_pos_weight, reduction=reduction)
    torch.testing.assert_close(sl.binary_mask_cross_entropy(logits, masks, pos_weight, reduction), expected)
    # (N, H, W) masks for (N, 1, H, W) logits, and (N, H, W) for both
    torch.testing.assert_close(sl.binary_mask_cross_entropy(logits, masks[:, 0], pos_weight, reduction), expected)
    expected_3d = expected[:, 0] if reduction == "none" else expected
    torch.testing.assert_close(sl.binary_mask_cross_entropy(logits[:, 0], masks[:, 0], pos_weight, reduction), expected_3d)


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_binary_mask_cross_entropy_gradient(device, logits_masks, pos_weight):
    logits, masks = (t.to(device) for t in logits_masks)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: sl.binary_mask_cross_entropy(z, masks, pos_weight), (logits,))


def test_binary_mask_cross_entropy_extreme_logits_are_finite(device):
    logits = torch.tensor([[[[1e4, -1e4, 50.0]]]], device=device)
    masks = torch.tensor([[[[0.0, 1.0, 1.0]]]], device=device)
    out = sl.binary_mask_cross_entropy(logits, masks, 2.0, "none")
    torch.testing.assert_close(out, torch.tensor([[[[1e4, 2e4, 0.0]]]], device=device))


# ----------------------------------------------------------------------------- infogain


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_infogain_with_identity_is_cross_entropy(device, logits_labels, reduction):
    logits, labels = (t.to(device) for t in logits_labels)
    eye = torch.eye(C, dtype=logits.dtype, device=device)
    torch.testing.assert_close(
        sl.infogain_loss(logits, labels, eye, reduction=reduction), F.cross_entropy(logits, labels, reduction=reduction)
    )


def test_infogain_with_diagonal_is_weighted_cross_entropy(device, logits_labels, class_weight):
    logits, labels = (t.to(device) for t in logits_labels)
    weight = class_weight.to(device)
    gain = torch.diag(weight)
    for reduction in ("none", "sum"):  # equal as they stand
        torch.testing.assert_close(
            sl.infogain_loss(logits, labels, gain, reduction=reduction),
            F.cross_entropy(logits, labels, weight=weight, reduction=reduction),
        )
    # "mean" divides by the number of non-ignored pixels, F.cross_entropy by the sum of their weights
    valid = labels != sl.IGNORE_INDEX
    n_valid = valid.sum()
    torch.testing.assert_close(
        sl.infogain_loss(logits, labels, gain), F.cross_entropy(logits, labels, weight=weight, reduction="sum") / n_valid
    )
    weight_sum = weight[labels[valid]].sum()
    torch.testing.assert_close(
        sl.infogain_loss(logits, labels, gain), F.cross_entropy(logits, labels, weight=weight) * weight_sum / n_valid
    )


def test_infogain_matches_loop_and_gradcheck(device, logits_labels, generator):
    logits, labels = logits_labels
    gain = torch.rand(C, C, generator=generator, dtype=torch.float64)
    expected = loop_infogain(logits, labels, gain)
    logits, labels, gain = logits.to(device), labels.to(device), gain.to(device)
    torch.testing.assert_close(sl.infogain_loss(logits, labels, gain, reduction="none").cpu(), expected)
    torch.testing.assert_close(sl.infogain_loss(logits, labels, gain).cpu(), expected.sum() / (labels != -100).sum().cpu())
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: sl.infogain_loss(z, labels, gain), (logits,))


# ----------------------------------------------------------------------------- focal


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_with_gamma_zero_is_cross_entropy(device, logits_labels, class_weight, reduction):
    logits, labels = (t.to(device) for t in logits_labels)
    expected = F.cross_entropy(logits, labels, reduction=reduction)
    torch.testing.assert_close(sl.focal_loss(logits, labels, gamma=0.0, reduction=reduction), expected)
    # with alpha: "none" and "sum" are weighted CE; "mean" divides by the pixel count
    weight = class_weight.to(device)
    weighted = sl.focal_loss(logits, labels, gamma=0.0, alpha=weight, reduction=reduction)
    if reduction == "mean":
        expected = F.cross_entropy(logits, labels, weight=weight, reduction="sum") / (labels != sl.IGNORE_INDEX).sum()
    else:
        expected = F.cross_entropy(logits, labels, weight=weight, reduction=reduction)
    torch.testing.assert_close(weighted, expected)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_matches_formula_and_gradcheck(device, logits_labels, class_weight, gamma):
    logits, labels = (t.to(device) for t in logits_labels)
    valid = labels != sl.IGNORE_INDEX
    p = torch.softmax(logits, dim=1).gather(1, labels.clamp(min=0)[:, None])[:, 0]
    expected = (-class_weight.to(device)[labels.clamp(min=0)] * (1 - p) ** gamma * torch.log(p) * valid)
    torch.testing.assert_close(sl.focal_loss(logits, labels, gamma, class_weight.to(device), reduction="none"), expected)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: sl.focal_loss(z, labels, gamma, class_weight.to(device)), (logits,))


def test_focal_down_weights_easy_pixels(device):
    logits = torch.tensor([[[[8.0]], [[0.0]]], [[[0.5]], [[0.0]]]], device=device)  # (2, 2, 1, 1)
    labels = torch.zeros(2, 1, 1, dtype=torch.int64, device=device)  # pixel 0 easy, pixel 1 hard
    ratio = sl.focal_loss(logits, labels, reduction="none") / sl.pixel_cross_entropy(logits, labels, reduction="none")
    assert ratio[0].item() < 1e-6 and 0.1 < ratio[1].item() < 1


# ----------------------------------------------------------------------------- soft Dice


OVERLAP_LOSSES = [(sl.soft_dice_loss, loop_soft_dice), (sl.soft_iou_loss, loop_soft_iou)]


@pytest.mark.parametrize("loss, loop", OVERLAP_LOSSES, ids=["dice", "iou"])
def test_soft_overlap_labels_match_loop_and_gradcheck(device, logits_labels, loss, loop):
    logits, labels = (t.to(device) for t in logits_labels)
    probs, onehot = labelled_probs_and_onehot(logits, labels)
    expected = loop(probs, onehot, eps=1.0)
    torch.testing.assert_close(loss(logits, labels, reduction="none"), expected)
    torch.testing.assert_close(loss(logits, labels), expected.mean())
    torch.testing.assert_close(loss(logits, labels, reduction="sum"), expected.sum())
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: loss(z, labels, eps=0.5), (logits,))


@pytest.mark.parametrize("loss, loop", OVERLAP_LOSSES, ids=["dice", "iou"])
def test_soft_overlap_masks_match_loop(device, logits_masks, loss, loop):
    logits, masks = (t.to(device) for t in logits_masks)
    expected = loop(torch.sigmoid(logits), masks, eps=1.0)
    torch.testing.assert_close(loss(logits, masks, reduction="none"), expected)
    torch.testing.assert_close(loss(logits, masks[:, 0], reduction="none"), expected)
    torch.testing.assert_close(loss(logits[:, 0], masks[:, 0], reduction="none"), expected)


def test_soft_iou_of_hard_predictions_is_one_minus_iou(device, generator):
    masks = (torch.rand(3, 1, 6, 7, generator=generator) < 0.3).double().to(device)
    pred = (torch.rand(3, 1, 6, 7, generator=generator) < 0.3).double().to(device)
    logits = 60.0 * (2 * pred - 1)  # sigmoid rounds to exactly 0 or 1 in float64
    both, either = (pred * masks).sum(dim=(1, 2, 3)), ((pred + masks) > 0).double().sum(dim=(1, 2, 3))
    torch.testing.assert_close(sl.soft_iou_loss(logits, masks, eps=1e-9, reduction="none"), 1 - both / either,
                               atol=1e-8, rtol=0)


def test_soft_dice_is_near_zero_for_a_perfect_prediction(device):
    labels = torch.tensor([[[0, 1], [2, 2]]], device=device)
    logits = 50.0 * F.one_hot(labels, 3).permute(0, 3, 1, 2).to(torch.float64)
    assert sl.soft_dice_loss(logits, labels, eps=1e-6).item() < 1e-9


# ----------------------------------------------------------------------------- class weights


def test_inverse_frequency_weights(device):
    labels = torch.tensor([[[0, 0, 0, 1], [0, 0, 0, 1], [-100, -100, 0, 0]]], device=device)  # 8 x 0, 2 x 1, none of 2
    weights = sl.inverse_frequency_weights(labels, 3)
    assert weights.dtype == torch.float32 and weights.device == labels.device
    torch.testing.assert_close(weights.cpu(), torch.tensor([10 / (3 * 8), 10 / (3 * 2), 0.0]))
    # a loop over classes as the reference
    counts = [(labels == c).sum().item() for c in range(3)]
    assert weights.cpu().tolist() == pytest.approx([10 / (3 * k) if k else 0.0 for k in counts])
    # in float64 the quotient is the correctly rounded one; other dtypes are that value rounded once
    exact = [10 / (3 * k) if k else 0.0 for k in counts]
    assert sl.inverse_frequency_weights(labels, 3, dtype=torch.float64).cpu().tolist() == exact
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        got = sl.inverse_frequency_weights(labels, 3, dtype=dtype)
        assert got.dtype == dtype and torch.equal(got.cpu(), torch.tensor(exact, dtype=torch.float64).to(dtype))


# ----------------------------------------------------------------------------- bad input


def test_labels_out_of_range_are_rejected(logits_labels):
    logits, labels = logits_labels
    labels[0, 1, 1] = C
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\).*ignore_index = -100.*\[4, 4\]"):
        sl.pixel_cross_entropy(logits, labels)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        sl.pixel_cross_entropy_np(logits.numpy(), labels.numpy())
    labels[0, 1, 1] = -1  # negative, and not the ignore index
    for loss in (sl.pixel_cross_entropy, sl.focal_loss, sl.soft_dice_loss, sl.soft_iou_loss):
        with pytest.raises(ValueError, match=r"\[-1, -1\]"):
            loss(logits, labels)
    with pytest.raises(ValueError, match="labels must lie in"):
        sl.inverse_frequency_weights(labels, C)


def test_channels_last_logits_are_caught(logits_labels):
    logits, labels = logits_labels
    channels_last = logits.permute(0, 2, 3, 1)  # (N, H, W, C)
    for loss in (sl.pixel_cross_entropy, sl.focal_loss, sl.soft_dice_loss, sl.soft_iou_loss):
        with pytest.raises(ValueError, match=r"logits must be \(N, C, H, W\) with C = 4 channels first; got \(N, H, W, C\)"):
            loss(channels_last, labels)
    with pytest.raises(ValueError, match=r"channels first"):
        sl.pixel_cross_entropy_np(channels_last.numpy(), labels.numpy())


def test_shape_mismatch_is_caught(logits_labels):
    logits, labels = logits_labels
    with pytest.raises(ValueError, match=r"labels must have shape \(N, H, W\) = \(2, 5, 3\).*got labels \(2, 5, 2\)"):
        sl.pixel_cross_entropy(logits, labels[:, :, :2])
    with pytest.raises(ValueError, match=r"labels must have shape \(N, H, W\)"):
        sl.pixel_cross_entropy(logits, labels[:, None])
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C, H, W\)"):
        sl.pixel_cross_entropy(logits[0], labels)
    with pytest.raises(ValueError, match=r"weight must have shape \(C,\) = \(4,\)"):
        sl.pixel_cross_entropy(logits, labels, torch.ones(3))
    with pytest.raises(ValueError, match=r"H must have shape \(C, C\) = \(4, 4\)"):
        sl.infogain_loss(logits, labels, torch.eye(3))
    with pytest.raises(ValueError, match=r"alpha must have shape \(C,\)"):
        sl.focal_loss(logits, labels, alpha=torch.ones(5))
    with pytest.raises(ValueError, match="logits and masks must have the same shape"):
        sl.binary_mask_cross_entropy(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 3))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, 1, H, W\) or \(N, H, W\)"):
        sl.binary_mask_cross_entropy(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))


def test_wrong_types_and_arguments(logits_labels):
    logits, labels = logits_labels
    with pytest.raises(TypeError, match="labels must hold integer class indices"):
        sl.pixel_cross_entropy(logits, labels.to(torch.float64))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        sl.pixel_cross_entropy(labels[:, None].expand(N, C, H, W), labels)
    with pytest.raises(ValueError, match="reduction must be one of"):
        sl.pixel_cross_entropy(logits, labels, reduction="average")
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        sl.focal_loss(logits, labels, gamma=-1.0)
    with pytest.raises(ValueError, match=r"masks must lie in \[0, 1\]"):
        sl.binary_mask_cross_entropy(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0))
    with pytest.raises(ValueError, match="pos_weight must be positive"):
        sl.binary_mask_cross_entropy(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), pos_weight=0.0)
    with pytest.raises(ValueError, match="eps must be positive"):
        sl.soft_dice_loss(logits, labels, eps=0.0)
    with pytest.raises(ValueError, match="eps must be positive"):
        sl.soft_iou_loss(logits, labels, eps=0.0)
    with pytest.raises(TypeError, match="targets must be integer class labels"):
        sl.soft_iou_loss(logits, labels.double())
