"""Per-pixel losses for semantic segmentation, in PyTorch (and cross-entropy in NumPy).

A segmentation network scores every class at every pixel, so the losses of
chapter 1 apply pixel by pixel. The layout is channels first:

- logits ``(N, C, H, W)`` float, one score per class and pixel;
- labels ``(N, H, W)`` int64 in ``[0, C)``, or ``== ignore_index`` for a pixel
  that takes no part in the loss (an unlabelled border, say);
- binary masks ``(N, 1, H, W)`` or ``(N, H, W)`` float in ``[0, 1]`` (1 = object).

Per pixel, with ``p = softmax(z)`` over the C channels and ``y`` the label:

- cross-entropy   ``l = -log p_y = logsumexp(z) - z_y``, times ``w_y`` with class weights;
- infogain        ``l = -sum_k H[y, k] log p_k``   (``H = I`` gives cross-entropy);
- focal           ``l = -alpha_y (1 - p_y)^gamma log p_y``   (``gamma = 0`` gives cross-entropy);
- soft Dice       ``1 - mean_c (2 sum p_c t_c + eps) / (sum p_c + sum t_c + eps)``, per image.

Reductions, and a batch where every pixel is ignored
----------------------------------------------------
``"none"`` keeps one value per pixel (0 at ignored pixels), ``"sum"`` adds
them, and ``"mean"`` divides the sum by the number of pixels that count, or,
for :func:`pixel_cross_entropy` with ``weight``, by the sum of their weights
``sum_i w_{y_i}``, as ``F.cross_entropy`` does. When nothing counts (every
pixel ignored) this package defines the mean over zero pixels as ``0.0``, with
a zero gradient; ``F.cross_entropy`` returns ``nan`` there (0 / 0) (its gradient
is zero, but a logged or summed ``nan`` loss spoils the running average).
"""

from __future__ import annotations

import numpy as np
import torch

from companion import losses
from companion._checks import (
    reduce,
    require_array,
    require_binary_targets,
    require_class_indices,
    require_floating,
    require_in_range,
    require_int,
    require_layout,
    require_number,
    require_positive,
    require_reduction,
    require_same_shape,
    require_tensor,
)
from companion.activations import log_sigmoid, log_softmax, logsumexp_np, sigmoid, softmax

IGNORE_INDEX = -100  # the label of a pixel that takes no part in the loss (PyTorch's default)


# ----------------------------------------------------------------------------- checks


def _check_logits_labels(logits, labels, ignore_index: int, reduction: str, require_type) -> None:
    """Checks for (N, C, H, W) logits and (N, H, W) labels; ``require_type`` is require_tensor or require_array.

    Catches logits given channels last, ``(N, H, W, C)``, by mistake: the labels'
    ``(N, H, W)`` then matches the logits' first three axes instead of axes 0, 2, 3.
    """
    require_type(logits, "logits")
    require_type(labels, "labels")
    require_floating(logits, "logits")
    require_layout(logits, "logits", "(N, C, H, W)")
    require_layout(labels, "labels", "(N, H, W)")
    require_class_indices(labels, "labels")
    require_reduction(reduction)
    n, c, h, w = logits.shape
    if tuple(labels.shape) != (n, h, w):
        if tuple(labels.shape) == (n, c, h):  # logits are (N, H, W, C)
            raise ValueError(
                f"logits must be (N, C, H, W) with C = {w} channels first; got (N, H, W, C)-like shape "
                f"{tuple(logits.shape)} for labels {tuple(labels.shape)} (channels last?): "
                "use logits.permute(0, 3, 1, 2)"
            )
        raise ValueError(
            f"labels must have shape (N, H, W) = ({n}, {h}, {w}) to match logits (N, C, H, W) = "
            f"{tuple(logits.shape)}; got labels {tuple(labels.shape)}"
        )
    require_in_range(labels, "labels", c, ignore_index)


def _check_class_vector(v, name: str, num_classes: int, like):
    """A ``(C,)`` vector of per-class values, of the type of ``like`` and returned with its dtype (and device)."""
    if isinstance(like, torch.Tensor):
        require_tensor(v, name)
    else:
        require_array(v, name)
    if tuple(v.shape) != (num_classes,):
        raise ValueError(f"{name} must have shape (C,) = ({num_classes},); got shape {tuple(v.shape)}")
    return v.to(dtype=like.dtype, device=like.device) if isinstance(v, torch.Tensor) else v.astype(like.dtype)


def _valid_and_target(labels, ignore_index: int):
    """``valid`` (N, H, W) bool, and the labels with ignored pixels set to class 0 so they can index."""
    valid = labels != ignore_index
    return valid, labels.long().masked_fill(~valid, 0)  # int64, as gather and indexing need


def _safe_divide(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``total / count``, and 0.0 (with a zero gradient) where ``count == 0``.

    Only ever called with ``total == 0`` where ``count == 0``. Dividing by 1
    there, rather than selecting 0 after ``total / 0``, keeps ``nan`` out of the
    backward pass too.
    """
    return total / torch.where(count > 0, count, torch.ones_like(count))


def _reduce_over_valid(per_pixel: torch.Tensor, count: torch.Tensor, reduction: str) -> torch.Tensor:
    """``none``: the (N, H, W) map; ``sum``: its sum; ``mean``: the sum over ``count`` (0.0 if ``count == 0``)."""
    if reduction == "none":
        return per_pixel
    total = per_pixel.sum()
    return _safe_divide(total, count) if reduction == "mean" else total


# ----------------------------------------------------------------------------- cross-entropy


def _channel_logsumexp(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log sum_c exp(z_c)`` over dim 1, split as ``m + s``: (N, C, H, W) -> two (N, H, W) maps.

    Returns ``s = log(sum_c exp(z_c - m))`` and the shift ``m = max_c z_c``
    separately, so that a caller computing ``logsumexp(z) - z_y`` can write
    ``s - (z_y - m)`` and lose no digits to cancellation when ``z`` is large.
    The formula of :func:`companion.activations.logsumexp`, with two savings
    that make it faster than ``F.cross_entropy`` on the CPU:

    - ``exp`` is taken in place on the shifted copy: one (C, H, W) temporary
      instead of two (autograd allows it: ``exp`` saves its output for the
      backward, and the subtraction saves nothing);
    - one image at a time: the allocator hands the same (C, H, W) block back
      for each image, where one fresh (N, C, H, W) block (44 MB for
      8 x 21 x 256 x 256) would be mapped from the OS, page by page, every call.
    """
    sums, shifts = [], []
    for z in logits:  # (C, H, W); a loop over images, not pixels
        m = z.amax(dim=0, keepdim=True).detach()  # (1, H, W); the shift is a constant
        e = (z - m).exp_()  # (C, H, W), every exponent <= 0
        sums.append(torch.log(e.sum(dim=0)))  # (H, W)
        shifts.append(m[0])
    if not sums:
        empty = logits.new_zeros(0, *logits.shape[2:])
        return empty, empty
    return torch.stack(sums), torch.stack(shifts)  # (N, H, W) each


def pixel_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax cross-entropy at every pixel; equals ``F.cross_entropy`` on (N, C, H, W) logits.

    ``l_i = w_{y_i} (logsumexp(z_i) - z_{i, y_i})`` for each pixel ``i``, with
    ``w = 1`` when ``weight`` is None.

    Args:
        logits: (N, C, H, W) scores, channels first; floating dtype, any device.
        labels: (N, H, W) int64 in ``[0, C)`` or equal to ``ignore_index``; same device.
        weight: optional (C,) class weights (cast to the logits' dtype and device).
        ignore_index: label of the pixels to leave out.
        reduction: ``"none"`` gives (N, H, W) (0 at ignored pixels), ``"sum"`` the sum;
            ``"mean"`` gives ``sum_i l_i / sum_i w_{y_i}`` over non-ignored pixels,
            PyTorch's weighted mean, and ``0.0`` when there are none, where
            ``F.cross_entropy`` returns ``nan``.
    Returns:
        (N, H, W) for ``"none"``, else a scalar; dtype and device of ``logits``.
    Raises:
        ValueError: logits not (N, C, H, W) (also when they look channels last),
            labels not (N, H, W), or a label outside ``[0, C)`` that is not ``ignore_index``.
    """
    _check_logits_labels(logits, labels, ignore_index, reduction, require_tensor)
    valid, target = _valid_and_target(labels, ignore_index)  # (N, H, W) each
    # CE = logsumexp(z) - z_y = s - (z_y - m): only (N, H, W) maps, never the (N, C, H, W) log-softmax
    log_sum, shift = _channel_logsumexp(logits)  # (N, H, W) each
    per_pixel = log_sum - (logits.gather(1, target[:, None]).squeeze(1) - shift)  # (N, H, W)
    if weight is None:
        pixel_weight = valid.to(logits.dtype)  # (N, H, W), 1 or 0
    else:
        weight = _check_class_vector(weight, "weight", logits.shape[1], logits)
        pixel_weight = weight[target] * valid  # (N, H, W), w_y or 0
    return _reduce_over_valid(per_pixel * pixel_weight, pixel_weight.sum(), reduction)


def pixel_cross_entropy_np(
    logits: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> np.ndarray:
    """NumPy twin of :func:`pixel_cross_entropy`: same arguments, shapes and reductions."""
    _check_logits_labels(logits, labels, ignore_index, reduction, require_array)
    valid = labels != ignore_index  # (N, H, W)
    target = np.where(valid, labels, 0)
    z_y = np.take_along_axis(logits, target[:, None], axis=1)[:, 0]  # (N, H, W)
    per_pixel = logsumexp_np(logits, axis=1) - z_y  # (N, H, W)
    if weight is None:
        pixel_weight = valid.astype(logits.dtype)
    else:
        weight = _check_class_vector(weight, "weight", logits.shape[1], logits)
        pixel_weight = weight[target] * valid
    per_pixel = per_pixel * pixel_weight
    if reduction == "none":
        return per_pixel
    total, count = per_pixel.sum(), pixel_weight.sum()
    if reduction == "sum":
        return total
    return total / count if count > 0 else np.zeros((), dtype=logits.dtype)


# ----------------------------------------------------------------------------- binary masks


def _match_mask_shape(masks: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """(N, H, W) masks for (N, 1, H, W) logits, or the reverse: reshaped to the logits' shape.

    The same pixels, with or without the channel axis of size 1; left as is otherwise,
    for the shape check to reject (broadcasting would give (N, N, H, W)).
    """
    same_pixels = (
        {masks.ndim, logits.ndim} == {3, 4}
        and masks.numel() == logits.numel()
        and masks.shape[0] == logits.shape[0]
        and masks.shape[-2:] == logits.shape[-2:]
    )
    return masks.reshape(logits.shape) if same_pixels else masks


def _check_binary_masks(logits: torch.Tensor, masks: torch.Tensor, reduction: str) -> None:
    """Floating (N, 1, H, W) or (N, H, W) logits, and masks of the same shape in [0, 1]."""
    require_floating(logits, "logits")
    if logits.ndim not in (3, 4) or (logits.ndim == 4 and logits.shape[1] != 1):
        raise ValueError(f"logits must have shape (N, 1, H, W) or (N, H, W) for binary masks; got shape {tuple(logits.shape)}")
    require_binary_targets(masks, "masks")
    require_same_shape(logits, "logits", masks, "masks")
    require_reduction(reduction)


def binary_mask_cross_entropy(
    logits: torch.Tensor,
    masks: torch.Tensor,
    pos_weight: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Binary cross-entropy at every pixel of a one-object mask; equals ``F.binary_cross_entropy_with_logits``.

    ``l = -(p y log s(z) + (1 - y) log(1 - s(z))) = (1 - y) z - (1 + (p - 1) y) log s(z)``,
    ``s`` the sigmoid, ``p`` the ``pos_weight`` (``p > 1`` counts a missed object
    pixel ``p`` times). With ``p = 1`` it is :func:`companion.losses.binary_cross_entropy_with_logits`.

    Args:
        logits: (N, 1, H, W) or (N, H, W) scores; floating dtype, any device.
        masks: (N, 1, H, W) or (N, H, W) targets in ``[0, 1]`` (1 = object); a mask
            that differs from ``logits`` only by the channel axis of size 1 is reshaped
            to match (instead of broadcasting to (N, N, H, W)).
        pos_weight: None, a positive number, or a one-element tensor.
        reduction: ``"none"`` gives the shape of ``logits``; ``"mean"`` (over all pixels), ``"sum"``.
    """
    require_tensor(logits, "logits")
    require_tensor(masks, "masks")
    masks = _match_mask_shape(masks, logits)
    _check_binary_masks(logits, masks, reduction)
    if pos_weight is None:
        return losses.binary_cross_entropy_with_logits(logits, masks, reduction)
    if isinstance(pos_weight, torch.Tensor):
        if pos_weight.numel() != 1:
            raise ValueError(f"pos_weight must be a number or a one-element tensor; got shape {tuple(pos_weight.shape)}")
        pos_weight = pos_weight.to(dtype=logits.dtype, device=logits.device).reshape(())
    else:
        require_positive(pos_weight, "pos_weight")
    # -log s(z) = softplus(-z), and -log(1 - s(z)) = z + softplus(-z): both from one stable log-sigmoid
    per_pixel = (1 - masks) * logits - (1 + (pos_weight - 1) * masks) * log_sigmoid(logits)
    return reduce(per_pixel, reduction)


# ----------------------------------------------------------------------------- infogain and focal


def infogain_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    H: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Infogain loss (Caffe's ``InfogainLoss``): ``l = -sum_k H[y, k] log p_k`` at every pixel.

    Row ``y`` of ``H`` says how much each predicted class is worth when the truth
    is ``y``. ``H = I`` gives cross-entropy; a diagonal ``H = diag(w)`` gives
    ``w_y (-log p_y)``, the per-pixel weighted cross-entropy; off-diagonal entries
    reward probability put on a similar class.

    Normalisation: ``"mean"`` divides by the *number* of non-ignored pixels
    (as Caffe does), not by ``sum_i H[y_i, y_i]``. So for ``H = diag(w)``
    ``"none"`` and ``"sum"`` equal ``F.cross_entropy(weight=w)``'s, but ``"mean"``
    equals ``F.cross_entropy(weight=w, reduction="sum") / n_valid``, which is
    ``F.cross_entropy(weight=w)`` times ``sum_i w_{y_i} / n_valid``.

    Args:
        logits: (N, C, H, W), floating, any device.
        labels: (N, H, W) int64 in ``[0, C)`` or ``== ignore_index``.
        H: (C, C) gain matrix, rows indexed by the true class (cast to the logits' dtype and device).
        reduction: ``"none"`` gives (N, H, W) (0 at ignored pixels); ``"mean"`` as above
            (0.0 over zero pixels); ``"sum"``.
    """
    _check_logits_labels(logits, labels, ignore_index, reduction, require_tensor)
    c = logits.shape[1]
    require_tensor(H, "H")
    if tuple(H.shape) != (c, c):
        raise ValueError(f"H must have shape (C, C) = ({c}, {c}); got shape {tuple(H.shape)}")
    H = H.to(dtype=logits.dtype, device=logits.device)
    valid, target = _valid_and_target(labels, ignore_index)
    log_p = log_softmax(logits, dim=1)  # (N, C, H, W)
    # -sum_k H[j, k] log p_k for every row j, then row y at each pixel
    gain = torch.einsum("jk,nkhw->njhw", H, log_p)  # (N, C, H, W)
    per_pixel = -gain.gather(1, target[:, None]).squeeze(1) * valid  # (N, H, W)
    return _reduce_over_valid(per_pixel, valid.sum().to(logits.dtype), reduction)


def focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    gamma: float = 2.0,
    alpha: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Multi-class focal loss (Lin et al., 2017): ``l = -alpha_y (1 - p_y)^gamma log p_y`` per pixel.

    The factor ``(1 - p_y)^gamma`` shrinks the loss of pixels already classified
    with confidence, so the many easy background pixels do not drown the few
    hard ones. ``gamma = 0`` and no ``alpha`` give cross-entropy.

    Args:
        logits: (N, C, H, W), floating, any device.
        labels: (N, H, W) int64 in ``[0, C)`` or ``== ignore_index``.
        gamma: focusing exponent, ``>= 0``.
        alpha: optional (C,) class weights (cast to the logits' dtype and device).
        reduction: ``"none"`` gives (N, H, W) (0 at ignored pixels); ``"sum"``;
            ``"mean"`` divides by the *number* of non-ignored pixels (as the paper
            and ``torchvision.ops.sigmoid_focal_loss`` do), not by ``sum alpha_y``
            as ``F.cross_entropy(weight=alpha)`` would; 0.0 over zero pixels.
    """
    _check_logits_labels(logits, labels, ignore_index, reduction, require_tensor)
    require_number(gamma, "gamma", minimum=0)
    valid, target = _valid_and_target(labels, ignore_index)
    log_p_y = log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)  # (N, H, W)
    # 1 - p_y = -expm1(log p_y): exact even when p_y is within rounding of 1
    per_pixel = -torch.pow(-torch.expm1(log_p_y), gamma) * log_p_y  # (N, H, W)
    if alpha is not None:
        alpha = _check_class_vector(alpha, "alpha", logits.shape[1], logits)
        per_pixel = per_pixel * alpha[target]
    return _reduce_over_valid(per_pixel * valid, valid.sum().to(logits.dtype), reduction)


# ----------------------------------------------------------------------------- soft Dice


def soft_dice_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    eps: float = 1.0,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Soft Dice loss: ``1 - mean_c D_c`` per image, ``D_c = (2 sum p_c t_c + eps) / (sum p_c + sum t_c + eps)``.

    Sums run over the pixels of one image; ``p`` is the predicted probability,
    ``t`` the target (one-hot labels, or the mask). Dice counts overlap relative
    to size, so a small object weighs as much as a large one.

    Two kinds of target, told apart by dtype:

    - integer labels (N, H, W) with logits (N, C, H, W): ``p = softmax`` over
      channels, ``t = onehot(y)``, mean over the C classes; pixels equal to
      ``ignore_index`` are left out of every sum;
    - floating masks (N, 1, H, W) or (N, H, W) in ``[0, 1]``, same shape as
      the logits: ``p = sigmoid``, one class (the object); ``ignore_index`` unused.

    Args:
        eps: smoothing, ``> 0``: a class absent from both target and prediction
            scores ``D_c = eps / (sum p_c + eps)``, close to 1, rather than 0 / 0.
        reduction: ``"none"`` gives (N,), one loss per image; ``"mean"``, ``"sum"`` over images.
    """
    require_tensor(logits, "logits")
    require_tensor(targets, "targets")
    require_positive(eps, "eps")
    if targets.is_floating_point():  # binary masks
        masks = _match_mask_shape(targets, logits)
        _check_binary_masks(logits, masks, reduction)
        probs = sigmoid(logits).reshape(logits.shape[0], 1, -1)  # (N, 1, HW)
        onehot = masks.reshape(probs.shape)  # (N, 1, HW)
    else:  # class labels
        _check_logits_labels(logits, targets, ignore_index, reduction, require_tensor)
        n, c = logits.shape[:2]
        valid, target = _valid_and_target(targets, ignore_index)
        valid = valid.reshape(n, 1, -1).to(logits.dtype)  # (N, 1, HW)
        probs = softmax(logits, dim=1).reshape(n, c, -1) * valid  # (N, C, HW), 0 at ignored pixels
        onehot = torch.nn.functional.one_hot(target.reshape(n, -1), c).transpose(1, 2) * valid  # (N, C, HW)
    intersection = (probs * onehot).sum(dim=2)  # (N, C)
    dice = (2 * intersection + eps) / (probs.sum(dim=2) + onehot.sum(dim=2) + eps)  # (N, C)
    return reduce(1 - dice.mean(dim=1), reduction)  # (N,) before the reduction


# ----------------------------------------------------------------------------- class weights


def inverse_frequency_weights(labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Class weights ``w_c = n / (C n_c)`` from pixel counts, for ``weight=`` of :func:`pixel_cross_entropy`.

    ``n_c`` is the number of pixels of class ``c`` and ``n = sum_c n_c`` (ignored
    pixels left out); a class holding exactly ``n / C`` pixels gets weight 1, a
    rare class more. A class with no pixels gets weight ``0.0`` (it has nothing
    to weigh). Counted with one ``bincount``.

    Args:
        labels: (N, H, W) or any shape, int64 in ``[0, C)`` or ``== ignore_index``.
        num_classes: C.
    Returns:
        (C,) float32 on the device of ``labels``.
    """
    require_tensor(labels, "labels")
    require_class_indices(labels, "labels")
    c = require_int(num_classes, "num_classes")
    require_in_range(labels, "labels", c, ignore_index)
    flat = labels.reshape(-1)
    counts = torch.bincount(flat[flat != ignore_index], minlength=c).to(torch.float32)  # (C,)
    # w_c = n / (C n_c), and 0 where n_c = 0 (the clamp only keeps 1 / 0 out of the unused branch)
    return torch.where(counts > 0, counts.sum() / (c * counts.clamp(min=1)), torch.zeros_like(counts))
