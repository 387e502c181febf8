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
- soft Dice       ``1 - mean_c (2 sum p_c t_c + eps) / (sum p_c + sum t_c + eps)``, per image;
- soft IoU        ``1 - mean_c (sum p_c t_c + eps) / (sum p_c + sum t_c - sum p_c t_c + eps)``, per image.

Reductions, and a batch where every pixel is ignored
----------------------------------------------------
``"none"`` keeps one value per pixel (0 at ignored pixels), ``"sum"`` adds
them, and ``"mean"`` divides the sum by the number of pixels that count, or,
for :func:`pixel_cross_entropy` with ``weight``, by the sum of their weights
``sum_i w_{y_i}``, as ``F.cross_entropy`` does. When nothing counts (every
pixel ignored, or an empty batch) this package defines the mean over zero
pixels (or images) as ``0.0``, with a zero gradient; ``F.cross_entropy`` returns
``nan`` there (0 / 0) (its gradient is zero, but a logged or summed ``nan`` loss
spoils the running average).

An ignored pixel takes no part at all: its logits may be anything, ``-inf``
and NaN included, and the loss is what it would be without that pixel (it is
selected out, not multiplied by 0, as ``0 * inf`` is NaN). float16 and
bfloat16 logits are computed in float32 and the loss rounded back: a float16
sum over one 256 x 256 image passes float16's maximum of 65,504.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from companion import losses
from companion._checks import (
    _is_meta,
    min_max,
    reduce,
    require_array,
    require_binary_targets,
    require_class_indices,
    require_float_dtype,
    require_floating,
    require_in_range,
    require_int,
    require_layout,
    require_number,
    require_positive,
    require_reduction,
    require_same_device,
    require_same_shape,
    require_tensor,
    require_values,
    upcast,
)
from companion.activations import log_sigmoid, log_softmax, logsumexp_np, sigmoid, softmax

IGNORE_INDEX = -100  # the label of a pixel that takes no part in the loss (PyTorch's default)


# ----------------------------------------------------------------------------- checks


def _check_logits_labels(
    logits, labels, ignore_index: int, reduction: str, require_type, name: str = "labels"
) -> int:
    """Checks for (N, C, H, W) logits and (N, H, W) labels; ``require_type`` is require_tensor or require_array.

    Catches logits given channels last, ``(N, H, W, C)``, by mistake: the labels'
    ``(N, H, W)`` then matches the logits' first three axes instead of axes 0, 2, 3.
    ``name`` is the labels' argument name. Returns ``ignore_index`` as an int.
    """
    require_type(logits, "logits")
    require_type(labels, name)
    require_floating(logits, "logits")
    require_layout(logits, "logits", "(N, C, H, W)")
    require_layout(labels, name, "(N, H, W)")
    require_class_indices(labels, name)
    require_reduction(reduction)
    ignore_index = require_int(ignore_index, "ignore_index", minimum=-(2**63), maximum=2**63 - 1)
    n, c, h, w = logits.shape
    if tuple(labels.shape) != (n, h, w):
        if tuple(labels.shape) == (n, c, h):  # logits are (N, H, W, C)
            raise ValueError(
                f"logits must be (N, C, H, W) with C = {w} channels first; got (N, H, W, C)-like shape "
                f"{tuple(logits.shape)} for {name} {tuple(labels.shape)} (channels last?): "
                "use logits.permute(0, 3, 1, 2)"
            )
        raise ValueError(
            f"{name} must have shape (N, H, W) = ({n}, {h}, {w}) to match logits (N, C, H, W) = "
            f"{tuple(logits.shape)}; got {name} {tuple(labels.shape)}"
        )
    if c == 0:
        raise ValueError(f"logits must have at least one class, C >= 1; got shape {tuple(logits.shape)}")
    if isinstance(logits, torch.Tensor):
        require_same_device(logits, "logits", labels, name)
    require_in_range(labels, name, c, ignore_index)
    return ignore_index


def _check_class_vector(v, name: str, num_classes: int, like):
    """A ``(C,)`` vector of non-negative per-class values, of the type of ``like`` and returned with its dtype (and device).

    Negative or non-finite values are refused: a weighted mean divides by
    ``sum_i w_{y_i}``, which weights of both signs could make 0 with a non-zero sum above it.
    """
    if isinstance(like, torch.Tensor):
        require_tensor(v, name)
    else:
        require_array(v, name)
    if tuple(v.shape) != (num_classes,):
        raise ValueError(f"{name} must have shape (C,) = ({num_classes},); got shape {tuple(v.shape)}")
    if isinstance(v, torch.Tensor):
        if v.dtype == torch.bool or v.is_complex():
            raise TypeError(f"{name} must hold real numbers; got dtype {v.dtype}")
        v = v.to(dtype=like.dtype, device=like.device)
        bad = None if _is_meta(v) else bool((~torch.isfinite(v) | (v < 0)).any())
    else:
        if not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)):
            raise TypeError(f"{name} must hold real numbers; got dtype {v.dtype}")
        v = v.astype(like.dtype)
        bad = bool((~np.isfinite(v) | (v < 0)).any())
    if bad:
        raise ValueError(f"{name} must hold non-negative, finite numbers; got {v.tolist()}")
    return v


def _reduce_mean_zero(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """:func:`companion._checks.reduce`, but the mean over zero values is 0.0 (see the module docstring)."""
    if reduction == "mean" and values.numel() == 0:
        return values.sum()  # 0.0, with a zero gradient
    return reduce(values, reduction)


def _valid_and_target(labels, ignore_index: int):
    """``valid`` (N, H, W) bool, and the labels with ignored pixels set to class 0 so they can index."""
    labels = labels.long()  # int64, as gather and indexing need; compared in int64 (a uint8 label != -100 wraps)
    valid = labels != ignore_index
    return valid, labels.masked_fill(~valid, 0)


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
    ignore_index = _check_logits_labels(logits, labels, ignore_index, reduction, require_tensor)
    work = upcast(logits)  # float16 and bfloat16 in float32
    valid, target = _valid_and_target(labels, ignore_index)  # (N, H, W) each
    # CE = logsumexp(z) - z_y = s - (z_y - m): only (N, H, W) maps, never the (N, C, H, W) log-softmax
    log_sum, shift = _channel_logsumexp(work)  # (N, H, W) each
    per_pixel = log_sum - (work.gather(1, target[:, None]).squeeze(1) - shift)  # (N, H, W)
    if weight is None:
        pixel_weight = valid.to(work.dtype)  # (N, H, W), 1 or 0
    else:
        weight = _check_class_vector(weight, "weight", logits.shape[1], work)
        pixel_weight = weight[target] * valid  # (N, H, W), w_y or 0
    per_pixel = torch.where(valid, per_pixel * pixel_weight, 0.0)  # selected: 0 * inf is nan
    return _reduce_over_valid(per_pixel, pixel_weight.sum(), reduction).to(logits.dtype)


def pixel_cross_entropy_np(
    logits: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> np.ndarray:
    """NumPy twin of :func:`pixel_cross_entropy`: same arguments, shapes and reductions."""
    ignore_index = _check_logits_labels(logits, labels, ignore_index, reduction, require_array)
    work = upcast(logits)
    labels = labels.astype(np.int64, copy=False)
    valid = labels != ignore_index  # (N, H, W)
    target = np.where(valid, labels, 0)
    z_y = np.take_along_axis(work, target[:, None], axis=1)[:, 0]  # (N, H, W)
    with np.errstate(invalid="ignore"):  # inf - inf at an ignored pixel: selected out below
        per_pixel = logsumexp_np(work, axis=1) - z_y  # (N, H, W)
        if weight is None:
            pixel_weight = valid.astype(work.dtype)
        else:
            weight = _check_class_vector(weight, "weight", logits.shape[1], work)
            pixel_weight = weight[target] * valid
        per_pixel = np.where(valid, per_pixel * pixel_weight, 0)  # selected: 0 * inf is nan
    if reduction == "none":
        return per_pixel.astype(logits.dtype, copy=False)
    total, count = per_pixel.sum(), pixel_weight.sum()
    if reduction == "sum":
        return total.astype(logits.dtype)
    return (total / count).astype(logits.dtype) if count > 0 else np.zeros((), dtype=logits.dtype)


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


def _float_masks(masks: torch.Tensor, name: str, like: torch.Tensor) -> torch.Tensor:
    """Bool masks, or integer masks of 0 and 1, as floats of ``like``'s dtype; floating masks as they are."""
    if masks.is_floating_point():
        return masks
    if masks.is_complex():
        raise TypeError(f"{name} must be bool, integer 0/1 or floating masks; got dtype {masks.dtype}")
    if masks.dtype != torch.bool and masks.numel() and not _is_meta(masks):
        lo, hi = min_max(masks)
        if lo < 0 or hi > 1:
            raise ValueError(f"{name} must lie in [0, 1]; got values in [{lo}, {hi}]")
    return masks.to(like.dtype)


def _check_binary_masks(logits: torch.Tensor, masks: torch.Tensor, reduction: str, name: str = "masks") -> torch.Tensor:
    """Floating (N, 1, H, W) or (N, H, W) logits, and masks of their shape in [0, 1] (``name``: the masks' argument).

    Returns the masks in the logits' shape (see :func:`_match_mask_shape`), bool and integer ones as floats.
    """
    require_floating(logits, "logits")
    if logits.ndim not in (3, 4) or (logits.ndim == 4 and logits.shape[1] != 1):
        raise ValueError(f"logits must have shape (N, 1, H, W) or (N, H, W) for binary masks; got shape {tuple(logits.shape)}")
    masks = _match_mask_shape(masks, logits)
    require_same_shape(logits, "logits", masks, name)
    require_same_device(logits, "logits", masks, name)
    masks = _float_masks(masks, name, logits)
    require_binary_targets(masks, name)
    require_reduction(reduction)
    return masks


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
        masks: (N, 1, H, W) or (N, H, W) targets in ``[0, 1]`` (1 = object), floating,
            or bool or integer 0/1 (cast to the logits' dtype); a mask that differs
            from ``logits`` only by the channel axis of size 1 is reshaped to match
            (instead of broadcasting to (N, N, H, W)).
        pos_weight: None, a positive number, or a one-element tensor.
        reduction: ``"none"`` gives the shape of ``logits``; ``"mean"`` (over all pixels,
            0.0 over none), ``"sum"``.
    """
    require_tensor(logits, "logits")
    require_tensor(masks, "masks")
    masks = _check_binary_masks(logits, masks, reduction)
    if reduction == "mean" and logits.numel() == 0:
        reduction = "sum"  # the mean over zero pixels is 0.0 (module docstring)
    if pos_weight is None:
        return losses.binary_cross_entropy_with_logits(logits, masks, reduction)
    if isinstance(pos_weight, torch.Tensor):
        if pos_weight.numel() != 1:
            raise ValueError(f"pos_weight must be a number or a one-element tensor; got shape {tuple(pos_weight.shape)}")
        require_floating(pos_weight, "pos_weight")
        pos_weight = pos_weight.to(dtype=logits.dtype, device=logits.device).reshape(())
        if not _is_meta(pos_weight) and not 0 < float(pos_weight) < math.inf:
            raise ValueError(f"pos_weight must be positive and finite; got {float(pos_weight)}")
    else:
        pos_weight = require_positive(pos_weight, "pos_weight")
    # -log s(z) = softplus(-z), and -log(1 - s(z)) = z + softplus(-z): both from one stable log-sigmoid
    per_pixel = (1 - masks) * logits - (1 + (pos_weight - 1) * masks) * log_sigmoid(logits)
    return reduce(per_pixel, reduction)


def one_hot_binary_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Sigmoid + binary cross-entropy per (class, pixel) entry against one-hot class labels: the multi-label reading.

    Each of the ``C x H x W`` entries of an image is its own yes/no question ("is this pixel of
    class c?"), as with a sigmoid on every output map and Keras's ``binary_crossentropy`` on
    one-hot labels; nothing ties a pixel's C probabilities together. Equals
    ``F.binary_cross_entropy_with_logits(logits, one_hot)`` with ``one_hot`` the ``(N, C, H, W)``
    one-hot form of ``labels``.

    Args:
        logits: (N, C, H, W) floating scores, any device.
        labels: (N, H, W) integer class indices in ``[0, C)`` (no ignored pixels).
        reduction: ``"none"`` gives (N, C, H, W); ``"mean"`` over all ``N C H W`` entries; ``"sum"``.
    """
    _check_logits_labels(logits, labels, -1, reduction, require_tensor)
    require_in_range(labels, "labels", logits.shape[1])  # -1 let through above: no ignore_index here
    one_hot = torch.nn.functional.one_hot(labels.long(), logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    return losses.binary_cross_entropy_with_logits(logits, one_hot, reduction)


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
    ignore_index = _check_logits_labels(logits, labels, ignore_index, reduction, require_tensor)
    c = logits.shape[1]
    require_tensor(H, "H")
    if tuple(H.shape) != (c, c):
        raise ValueError(f"H must have shape (C, C) = ({c}, {c}); got shape {tuple(H.shape)}")
    if H.dtype == torch.bool or H.is_complex():
        raise TypeError(f"H must hold real numbers; got dtype {H.dtype}")
    work = upcast(logits)  # float16 and bfloat16 in float32
    H = H.to(dtype=work.dtype, device=work.device)
    if not _is_meta(H) and not bool(torch.isfinite(H).all()):
        raise ValueError("H must hold finite numbers")
    valid, target = _valid_and_target(labels, ignore_index)
    log_p = log_softmax(work, dim=1)  # (N, C, H, W)
    if not _is_meta(log_p) and bool(torch.isneginf(log_p).any()):
        # a class of probability 0 (a logit of -inf): H[y, k] = 0 times log p_k = -inf must count as 0,
        # so take row y of H at each pixel and select, rather than multiply, its zeros
        gains = H[target].permute(0, 3, 1, 2)  # (N, C, H, W): H[y, k] at each pixel
        per_pixel = -torch.where(gains == 0, 0.0, gains * log_p).sum(dim=1)  # (N, H, W)
    else:
        # -sum_k H[j, k] log p_k for every row j, then row y at each pixel
        gain = torch.einsum("jk,nkhw->njhw", H, log_p)  # (N, C, H, W)
        per_pixel = -gain.gather(1, target[:, None]).squeeze(1)  # (N, H, W)
    per_pixel = torch.where(valid, per_pixel, 0.0)  # selected: an ignored pixel's logits may be anything
    return _reduce_over_valid(per_pixel, valid.sum().to(work.dtype), reduction).to(logits.dtype)


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
    ignore_index = _check_logits_labels(logits, labels, ignore_index, reduction, require_tensor)
    gamma = require_number(gamma, "gamma", minimum=0)
    work = upcast(logits)  # float16 and bfloat16 in float32
    valid, target = _valid_and_target(labels, ignore_index)
    log_p_y = log_softmax(work, dim=1).gather(1, target[:, None]).squeeze(1)  # (N, H, W)
    # 1 - p_y = -expm1(log p_y): exact even when p_y is within rounding of 1
    per_pixel = -_modulating_factor(-torch.expm1(log_p_y), gamma) * log_p_y  # (N, H, W)
    if alpha is not None:
        alpha = _check_class_vector(alpha, "alpha", logits.shape[1], work)
        per_pixel = per_pixel * alpha[target]
    per_pixel = torch.where(valid, per_pixel, 0.0)  # selected: an ignored pixel's logits may be anything
    return _reduce_over_valid(per_pixel, valid.sum().to(work.dtype), reduction).to(logits.dtype)


def _modulating_factor(one_minus_p: torch.Tensor, gamma: float) -> torch.Tensor:
    """``(1 - p)^gamma``, with a zero gradient where ``1 - p`` is below the smallest normal number.

    ``d/dx x^gamma = gamma x^(gamma - 1)`` is infinite at ``x = 0`` for ``gamma < 1``,
    and the chain rule multiplies it by ``d(1 - p)/dz = 0`` there: ``inf * 0 = nan``
    for every confidently classified pixel. The loss's own gradient there is 0
    (each of its terms carries a factor ``(1 - p)^gamma``), which the detached
    branch gives.
    """
    normal = one_minus_p >= torch.finfo(one_minus_p.dtype).tiny
    safe = torch.where(normal, one_minus_p, 1.0)
    return torch.where(normal, safe.pow(gamma), one_minus_p.detach().pow(gamma))


# ----------------------------------------------------------------------------- soft Dice


def _overlap_inputs(logits, targets, eps, ignore_index: int, reduction: str):
    """Checked ``(probs, onehot, eps)`` of shape (N, C, HW) for the soft overlap losses (Dice, IoU).

    Binary masks (one-channel logits, or floating/bool targets) give C = 1 and ``p = sigmoid``;
    integer labels with (N, C, H, W) logits give ``p = softmax`` over channels and one-hot targets,
    with ignored pixels set to 0 in both.
    """
    require_tensor(logits, "logits")
    require_tensor(targets, "targets")
    eps = require_positive(eps, "eps")
    one_channel = logits.ndim == 3 or (logits.ndim == 4 and logits.shape[1] == 1)
    mask_dtype = targets.is_floating_point() or targets.dtype == torch.bool
    if mask_dtype and logits.ndim == 4 and logits.shape[1] > 1:
        raise TypeError(
            f"targets must be integer class labels (N, H, W) for logits with C = {logits.shape[1]} channels "
            f"(masks go with one-channel logits); got dtype {targets.dtype}"
        )
    if mask_dtype or one_channel:  # binary masks
        masks = _check_binary_masks(logits, targets, reduction, "targets")
        work = upcast(logits)  # float16 and bfloat16 in float32
        shape = (logits.shape[0], 1, math.prod(logits.shape[1:]))  # (N, 1, HW), also for N = 0
        probs = sigmoid(work).reshape(shape)
        onehot = masks.reshape(shape).to(work.dtype)
    else:  # class labels
        ignore_index = _check_logits_labels(logits, targets, ignore_index, reduction, require_tensor, "targets")
        work = upcast(logits)
        n, c, h, w = logits.shape
        valid, target = _valid_and_target(targets, ignore_index)
        valid = valid.reshape(n, 1, h * w)  # (N, 1, HW)
        # selected, not multiplied: an ignored pixel's logits may be anything (0 * nan is nan)
        probs = torch.where(valid, softmax(work, dim=1).reshape(n, c, h * w), 0.0)  # (N, C, HW)
        onehot = torch.nn.functional.one_hot(target.reshape(n, h * w), c).transpose(1, 2) * valid.to(work.dtype)
    return probs, onehot, eps


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

    Two kinds of target:

    - binary masks: floating (in ``[0, 1]``) or bool targets, or any targets of
      0 and 1 when the logits have one channel, (N, 1, H, W) or (N, H, W), the
      shape of the logits (a channel axis of size 1 may be left out):
      ``p = sigmoid``, one class (the object); ``ignore_index`` unused;
    - integer labels (N, H, W) with logits (N, C, H, W), C > 1: ``p = softmax``
      over channels, ``t = onehot(y)``, mean over the C classes; pixels equal to
      ``ignore_index`` are left out of every sum.

    Args:
        eps: smoothing, ``> 0``: a class absent from both target and prediction
            scores ``D_c = eps / (sum p_c + eps)``, close to 1, rather than 0 / 0.
        reduction: ``"none"`` gives (N,), one loss per image; ``"mean"`` (0.0 over
            N = 0 images), ``"sum"`` over images.
    """
    probs, onehot, eps = _overlap_inputs(logits, targets, eps, ignore_index, reduction)  # (N, C, HW) each
    intersection = (probs * onehot).sum(dim=2)  # (N, C)
    dice = (2 * intersection + eps) / (probs.sum(dim=2) + onehot.sum(dim=2) + eps)  # (N, C)
    return _reduce_mean_zero(1 - dice.mean(dim=1), reduction).to(logits.dtype)  # (N,) before the reduction


def soft_iou_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    eps: float = 1.0,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Soft IoU (Jaccard) loss: ``1 - mean_c J_c`` per image, ``J_c = (I_c + eps) / (sum p_c + sum t_c - I_c + eps)``.

    ``I_c = sum p_c t_c`` is the soft intersection over the pixels of one image;
    the denominator is the soft union. Targets, shapes, ``eps``, ``ignore_index``
    and ``reduction`` as for :func:`soft_dice_loss`: binary masks (N, 1, H, W) or
    (N, H, W) with one-channel logits (``p = sigmoid``), or integer labels (N, H, W)
    with logits (N, C, H, W) (``p = softmax``, one-hot targets). With hard 0/1
    predictions and ``eps -> 0`` it is ``1 - IoU``.

    Returns:
        (N,) with ``reduction="none"``, else a 0-dim tensor, in the logits' dtype.
    """
    probs, onehot, eps = _overlap_inputs(logits, targets, eps, ignore_index, reduction)  # (N, C, HW) each
    intersection = (probs * onehot).sum(dim=2)  # (N, C)
    union = probs.sum(dim=2) + onehot.sum(dim=2) - intersection  # (N, C)
    jaccard = (intersection + eps) / (union + eps)  # (N, C)
    return _reduce_mean_zero(1 - jaccard.mean(dim=1), reduction).to(logits.dtype)  # (N,) before the reduction


# ----------------------------------------------------------------------------- class weights


def inverse_frequency_weights(
    labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Class weights ``w_c = n / (C n_c)`` from pixel counts, for ``weight=`` of :func:`pixel_cross_entropy`.

    ``n_c`` is the number of pixels of class ``c`` and ``n = sum_c n_c`` (ignored
    pixels left out); a class holding exactly ``n / C`` pixels gets weight 1, a
    rare class more. A class with no pixels gets weight ``0.0`` (it has nothing
    to weigh). Counted with one ``bincount``; the quotient is taken in float64
    (exact counts up to 2**53 pixels) and rounded once to ``dtype``.

    Args:
        labels: (N, H, W) or any shape, int64 in ``[0, C)`` or ``== ignore_index``.
        num_classes: C.
        dtype: the weights' floating dtype: the logits' dtype, to pass them to a loss as they are.
    Returns:
        (C,) ``dtype`` on the device of ``labels``.
    """
    require_tensor(labels, "labels")
    require_class_indices(labels, "labels")
    c = require_int(num_classes, "num_classes")
    ignore_index = require_int(ignore_index, "ignore_index", minimum=-(2**63), maximum=2**63 - 1)
    require_float_dtype(dtype)
    require_values(labels, "labels")  # the counts are the values
    require_in_range(labels, "labels", c, ignore_index)
    flat = labels.reshape(-1).long()  # compared in int64: a narrow dtype would wrap ignore_index
    counts = torch.bincount(flat[flat != ignore_index], minlength=c).to(torch.float64)  # (C,)
    # w_c = n / (C n_c), and 0 where n_c = 0 (the clamp only keeps 1 / 0 out of the unused branch)
    return torch.where(counts > 0, counts.sum() / (c * counts.clamp(min=1)), torch.zeros_like(counts)).to(dtype)
