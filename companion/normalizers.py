"""Scaling images before a network sees them, and back: min-max, z-score, robust quantiles; and PSNR.

A normalizer is fitted once, on the data you give it, and then applies the
same affine map to anything:

    transform(x)         = (x - offset) / scale
    inverse_transform(y) = y * scale + offset

The statistics are **global**: one ``offset`` and one ``scale`` over every
element of the tensor or array passed to ``fit`` (all images, channels and
pixels together), not one per pixel or per channel. For a denoiser, fit on the
noisy training inputs, the kind of data the network receives when it is used,
and map the inputs, the clean targets and (backwards) the predictions with the
same fitted normalizer.

============================  ==================  ===================
normalizer                    offset              scale
============================  ==================  ===================
:class:`MinMaxNormalizer`     min                 max - min
:class:`ZScoreNormalizer`     mean                standard deviation (``ddof = 0``)
:class:`QuantileNormalizer`   low percentile      high - low percentile (5th and 95th by default)
============================  ==================  ===================

Relation to scikit-learn, whose scalers work per column: on ``x.reshape(-1, 1)``,
``MinMaxScaler`` and ``StandardScaler`` compute the same map as the first two.
``RobustScaler(quantile_range=(5, 95))`` divides by the same scale but
subtracts the *median*, so its output is this quantile scaling minus the
constant ``(median - q5) / (q95 - q5)``; ``RobustScaler(quantile_range=(5, 95),
with_centering=False)`` is this one plus ``q5 / (q95 - q5)``. Percentiles are
interpolated linearly between the sorted values, as ``np.percentile`` does.

Nothing is clipped: after quantile scaling about ``low`` percent of the values
lie below 0 and ``100 - high`` percent above 1, and a transformed target can
lie anywhere, so a network predicting it needs an unbounded (linear) output.

PSNR, the usual score of a denoiser, in decibels (higher is better):

    psnr = 10 * log10(data_range ** 2 / mean((prediction - target) ** 2))

computed on the original scale, with ``data_range`` the span the data can take
(255 for 8-bit images, 4095 for a 12-bit sensor): a statement about the data,
not a statistic of one batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from companion._checks import (
    _type_name,
    ieee,
    require_floating,
    require_number,
    require_positive,
    require_same_shape,
    require_values,
    upcast,
)

Array = torch.Tensor | np.ndarray


def _require_data(x: object, name: str) -> None:
    """A floating torch.Tensor or numpy.ndarray."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {_type_name(x)}")
    require_floating(x, name)


def _percentiles(flat: Array, qs: tuple[float, ...]) -> list[float]:
    """Percentiles ``qs`` (in [0, 100]) of a 1-D tensor or array, linearly interpolated like ``np.percentile``."""
    if isinstance(flat, torch.Tensor) and flat.device.type == "cpu":
        flat = flat.detach().numpy()  # a view: NumPy selects all the order statistics in one partition
    if isinstance(flat, np.ndarray):
        return [float(v) for v in np.percentile(flat, qs)]
    return _percentiles_by_selection(flat, qs)


def _percentiles_by_selection(flat: torch.Tensor, qs: tuple[float, ...]) -> list[float]:
    """:func:`_percentiles` on any device: two order statistics per percentile, selected with ``kthvalue``."""
    # torch.quantile sorts, and refuses more than 2**24 elements: select the two neighbouring order statistics
    # of each percentile instead (kthvalue is a linear-time selection, 1-based)
    n = flat.numel()
    out = []
    for q in qs:
        position = q / 100 * (n - 1)  # fractional rank
        below = min(math.floor(position), n - 1)
        above = min(below + 1, n - 1)
        t = position - below
        lo = flat.kthvalue(below + 1).values
        hi = lo if above == below else flat.kthvalue(above + 1).values
        value = lo + (hi - lo) * t if t < 0.5 else hi - (hi - lo) * (1 - t)  # NumPy's lerp, exact at both ends
        out.append(float(value))
    return out


class _Normalizer:
    """Base class: fit ``offset`` and ``scale`` (Python floats) on data, then map with them."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self.scale: float | None = None

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has been called."""
        return self.scale is not None

    def _statistics(self, flat: Array) -> tuple[float, float]:  # offset, scale of a 1-D, finite, non-empty input
        raise NotImplementedError

    def fit(self, x: Array) -> _Normalizer:
        """Compute ``offset`` and ``scale`` over every element of ``x`` (any shape, tensor or array); return self.

        Raises ``ValueError`` when ``x`` is empty, holds NaN or infinity, or is
        too constant to give a positive scale.
        """
        _require_data(x, "x")
        if isinstance(x, torch.Tensor):
            require_values(x, "x")
        flat = upcast(x).reshape(-1)
        size = flat.numel() if isinstance(flat, torch.Tensor) else flat.size
        if size == 0:
            raise ValueError(f"x must hold at least one value to fit {type(self).__name__}; got shape {tuple(x.shape)}")
        # min and max propagate NaN and reach infinities: both finite means every value is (and is 10x cheaper than isfinite)
        lo, hi = torch.aminmax(flat) if isinstance(flat, torch.Tensor) else (flat.min(), flat.max())
        if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
            raise ValueError(f"x must be finite to fit {type(self).__name__}: NaN or infinity would make every statistic NaN")
        offset, scale = self._statistics(flat)
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"x must not be constant: {type(self).__name__} found a scale of {scale} (offset {offset})")
        self.offset, self.scale = offset, scale
        return self

    def _require_fitted(self, name: str) -> None:
        if not self.fitted:
            raise ValueError(
                f"{type(self).__name__} is not fitted: call fit() on the training inputs before mapping {name}"
            )

    def _apply(self, x: Array, name: str, forward: bool) -> Array:
        _require_data(x, name)
        self._require_fitted(name)
        wide = upcast(x)
        with ieee():  # one new array or tensor, then in place
            if forward:
                out = wide - self.offset
                out /= self.scale
            else:
                out = wide * self.scale
                out += self.offset
        if wide is x:
            return out
        return out.to(x.dtype) if isinstance(x, torch.Tensor) else out.astype(x.dtype)

    def transform(self, x: Array) -> Array:
        """``(x - offset) / scale``, elementwise; same shape, dtype and device as ``x``."""
        return self._apply(x, "x", forward=True)

    def inverse_transform(self, y: Array) -> Array:
        """``y * scale + offset``: back to the scale the normalizer was fitted on; same shape, dtype and device."""
        return self._apply(y, "y", forward=False)

    def fit_transform(self, x: Array) -> Array:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def __repr__(self) -> str:
        state = f"offset={self.offset:.6g}, scale={self.scale:.6g}" if self.fitted else "not fitted"
        return f"{type(self).__name__}({state})"


class MinMaxNormalizer(_Normalizer):
    """Map the smallest value of the fitting data to 0 and the largest to 1: ``(x - min) / (max - min)``.

    Global statistics over every element of the data given to :meth:`fit`.
    One extreme value moves ``min`` or ``max`` and so squeezes all the other
    values into a small part of [0, 1]: fragile on data with outliers.
    """

    def _statistics(self, flat: Array) -> tuple[float, float]:
        lo, hi = (float(v) for v in (torch.aminmax(flat) if isinstance(flat, torch.Tensor) else (flat.min(), flat.max())))
        return lo, hi - lo


class ZScoreNormalizer(_Normalizer):
    """Standardise: ``(x - mean) / std``, the standard deviation with ``ddof = 0`` (as scikit-learn's StandardScaler).

    Global statistics over every element of the data given to :meth:`fit`. The
    result has mean 0 and standard deviation 1 on that data, and so values of
    both signs: a sigmoid output cannot reach them. The standard deviation is
    not robust either: a few extreme values inflate it.
    """

    def _statistics(self, flat: Array) -> tuple[float, float]:
        if isinstance(flat, torch.Tensor):
            std, mean = torch.std_mean(flat, correction=0)
            return float(mean), float(std)
        return float(flat.mean()), float(flat.std())


class QuantileNormalizer(_Normalizer):
    """Map the ``low`` percentile of the fitting data to 0 and the ``high`` percentile to 1.

    ``(x - q_low) / (q_high - q_low)``, with ``q`` the percentiles of every
    element of the data given to :meth:`fit` (global statistics), linearly
    interpolated as ``np.percentile``. A few extreme values barely move the
    5th and 95th percentiles, so the scaling of the bulk survives outliers.
    No clipping: about ``low`` percent of the fitted data maps below 0 and
    ``100 - high`` percent above 1. ``low=0, high=100`` is min-max scaling.

    Args:
        low, high: percentiles, ``0 <= low < high <= 100``.
    """

    def __init__(self, low: float = 5.0, high: float = 95.0) -> None:
        super().__init__()
        self.low = require_number(low, "low", minimum=0.0, maximum=100.0)
        self.high = require_number(high, "high", minimum=0.0, maximum=100.0)
        if not self.low < self.high:
            raise ValueError(f"low must be smaller than high; got low={low}, high={high}")

    def _statistics(self, flat: Array) -> tuple[float, float]:
        q_low, q_high = _percentiles(flat, (self.low, self.high))
        return q_low, q_high - q_low


# ----------------------------------------------------------------------------- PSNR


def _check_psnr(prediction, target, data_range, per_image: bool, is_numpy: bool) -> float:
    kind = np.ndarray if is_numpy else torch.Tensor
    for name, value in (("prediction", prediction), ("target", target)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a {kind.__module__.split('.')[0]}.{kind.__name__}; got {_type_name(value)}")
        require_floating(value, name)
    require_same_shape(prediction, "prediction", target, "target")
    if not is_numpy and prediction.device != target.device:
        raise ValueError(f"prediction and target must be on the same device; got {prediction.device} and {target.device}")
    if not isinstance(per_image, (bool, np.bool_)):
        raise TypeError(f"per_image must be a bool; got {_type_name(per_image)} {per_image!r}")
    if per_image and prediction.ndim < 1:
        raise ValueError(f"prediction must have shape (N, ...) for per_image=True; got shape {tuple(prediction.shape)}")
    return require_positive(data_range, "data_range")


def psnr_np(prediction: np.ndarray, target: np.ndarray, data_range: float, per_image: bool = False) -> np.ndarray:
    """NumPy version of :func:`psnr`."""
    data_range = _check_psnr(prediction, target, data_range, per_image, is_numpy=True)
    dtype = prediction.dtype
    error = upcast(prediction) - upcast(target)
    axes = tuple(range(1, error.ndim)) if per_image else None
    with ieee():
        mse = np.mean(error * error, axis=axes) if error.size else np.full(error.shape[:1] if per_image else (), np.nan)
        out = 10 * np.log10(data_range**2 / mse)
    return np.asarray(out).astype(dtype, copy=False)


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float, per_image: bool = False) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``.

    Args:
        prediction, target: tensors of the same shape, on the scale of the data
            (after ``inverse_transform``), e.g. (N, C, H, W).
        data_range: the span the data can take (255 for 8-bit images); a
            positive number.
        per_image: False: one PSNR from the MSE over every element (a 0-dim
            tensor). True: one per entry of the first axis, (N,), each from
            the MSE over that image's elements.
    Returns:
        The PSNR in the dtype of ``prediction``: ``inf`` for a perfect
        prediction, NaN for no elements.
    """
    data_range = _check_psnr(prediction, target, data_range, per_image, is_numpy=False)
    squared = (upcast(prediction) - upcast(target)).square_()  # one new tensor, squared in place
    dims = tuple(range(1, squared.ndim)) if per_image else tuple(range(squared.ndim))
    mse = squared.mean(dim=dims) if dims else squared  # a 0-dim input is its own MSE
    return (10 * torch.log10(data_range**2 / mse)).to(prediction.dtype)
