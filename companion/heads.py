"""Output heads for a bounded 2-D target: a grid of classes, two 1-D grids, or a regression.

The target is a velocity ``v = (v_x, v_y)`` with each component in
``[low, high]``. From the same trunk features ``h: (N, H)`` it can be predicted by

- :class:`JointGridHead`: ``bins**2`` outputs, one class per cell of the 2-D
  grid, softmax cross-entropy over all cells;
- :class:`FactorizedGridHead`: ``2 * bins`` outputs, one ``bins``-way
  classifier per component; its model of the joint cell is the product of the
  two marginals;
- :class:`BoundedRegressionHead`: 2 outputs squashed into ``(low, high)``,
  mean squared error;
- :class:`MixtureDensityHead`: ``K`` Gaussian bumps with weights, the
  continuous version of the grid heads (it can represent several answers).

Every head has the same small interface: ``forward(h)`` gives the raw output,
``loss(output, v)`` a scalar to minimise, ``predict(output)`` a velocity (N, 2).
The grid heads also give ``cell_probabilities(output)``: (N, bins, bins), the
probability of each cell, indexed ``[n, ix, iy]``.

A NaN in a head's output gives a NaN loss and a NaN prediction for that row
(never the centre of some cell); a NaN target velocity raises ``ValueError``,
as it is in no cell and has no likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from companion._checks import (
    _type_name,
    is_integer,
    require_float_dtype,
    require_floating,
    require_in_range,
    require_int,
    require_layout,
    require_module_input,
    require_no_nan,
    require_number,
    require_positive,
    require_same_device,
    require_tensor,
    upcast,
)
from companion.activations import log_softmax, logsumexp, softmax
from companion.losses import cross_entropy


def _require_velocities(v: torch.Tensor, name: str = "v") -> None:
    require_tensor(v, name)
    require_layout(v, name, "(N, 2)")
    require_floating(v, name)
    if v.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2); got shape {tuple(v.shape)}")


_NAN_TARGET = ": a NaN velocity is in no cell and has no likelihood"


def _require_output(output: torch.Tensor, name: str, width: int, v: torch.Tensor | None = None) -> None:
    require_tensor(output, name)
    require_layout(output, name, f"(N, {width})")
    require_floating(output, name)
    if output.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}); got shape {tuple(output.shape)}")
    if v is not None:
        _require_velocities(v)
        if v.shape[0] != output.shape[0]:
            raise ValueError(f"{name} and v must have the same N; got {output.shape[0]} and {v.shape[0]}")
        require_same_device(output, name, v, "v")
        require_no_nan(v, "v", _NAN_TARGET)


def _require_range(low: float, high: float) -> tuple[float, float]:
    low = require_number(low, "low")
    high = require_number(high, "high")
    if not low < high:
        raise ValueError(f"low must be < high; got low={low}, high={high}")
    if not math.isfinite(high - low):
        raise ValueError(f"high - low must be finite; got low={low}, high={high}")
    return low, high


def _nan_rows_to_nan(pred: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``pred`` (N, 2) with NaN in every row where ``output`` (N, K) holds a NaN."""
    return torch.where(output.isnan().any(dim=1, keepdim=True), torch.nan, pred)


def squash(z: torch.Tensor, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """Map any real ``z`` into ``(low, high)``: ``low + (high - low) * sigmoid(z)``.

    Written as ``mid + half * tanh(z / 2)`` (``mid``, ``half``: the centre and
    half-width of the range), the same function because
    ``2 * sigmoid(z) - 1 = tanh(z / 2)``. For ``(-1, 1)`` it is
    ``2 * (sigmoid(z) - 0.5)``.
    """
    require_tensor(z, "z")
    require_floating(z, "z")
    low, high = _require_range(low, high)
    mid, half = (high + low) / 2, (high - low) / 2
    return mid + half * torch.tanh(z / 2)


# ----------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class VelocityGrid:
    """``bins`` equal bins per axis on ``[low, high]``; cell ``(ix, iy)`` is joint class ``ix * bins + iy``.

    Bin ``i`` covers ``[low + i w, low + (i + 1) w)`` with ``w = (high - low) / bins``
    and stands for its centre ``low + (i + 0.5) w``.
    """

    low: float = -1.0
    high: float = 1.0
    bins: int = 20

    def __post_init__(self) -> None:
        low, high = _require_range(self.low, self.high)
        bins = require_int(self.bins, "bins")
        # stored as Python numbers (a NumPy scalar would leak into every result)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "bins", bins)

    @property
    def width(self) -> float:
        """The width of one bin, ``(high - low) / bins``."""
        return (self.high - self.low) / self.bins

    @property
    def num_cells(self) -> int:
        """The number of joint classes, ``bins ** 2``."""
        return self.bins**2

    def centres(self, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
        """The bin centres along one axis: (bins,)."""
        require_float_dtype(dtype)
        return self.low + (torch.arange(self.bins, dtype=dtype, device=device) + 0.5) * self.width

    def _bins(self, v: torch.Tensor) -> torch.Tensor:
        """``floor((v - low) / w)`` clamped to ``[0, bins - 1]``, still floating: a NaN stays NaN."""
        # i = floor((v - low) / w), written with bins / (high - low) to avoid dividing by a rounded w;
        # clamped before the conversion to int64, which would wrap a value beyond 2**63 (inf, 1e19)
        scaled = (upcast(v) - self.low) * (self.bins / (self.high - self.low))
        return torch.floor(scaled).clamp(0, self.bins - 1)

    def encode(self, v: torch.Tensor) -> torch.Tensor:
        """Bin index of each component: v (N, 2) -> (N, 2) int64 in ``[0, bins)``.

        Values outside ``[low, high]`` go to the first or last bin (clamped), ``-inf``
        and ``+inf`` included. A NaN is in no bin: ``ValueError``.
        """
        _require_velocities(v)
        require_no_nan(v, "v", ": a NaN velocity is in no bin")
        return self._bins(v).long()

    def decode(self, index: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Bin centres of bin indices: index (N, 2) int -> (N, 2) of ``dtype``."""
        self._require_index(index, "index", "(N, 2)")
        require_float_dtype(dtype)
        return self.low + (index.to(dtype) + 0.5) * self.width

    def joint_index(self, index: torch.Tensor) -> torch.Tensor:
        """Joint class of a cell: index (N, 2) -> (N,) int64 ``ix * bins + iy``."""
        self._require_index(index, "index", "(N, 2)")
        index = index.long()  # ix * bins would wrap in a narrow dtype (uint8: 19 * 20 = 380)
        return index[:, 0] * self.bins + index[:, 1]

    def split_index(self, joint: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`joint_index`: joint (N,) -> (N, 2) int64 ``(joint // bins, joint % bins)``."""
        self._require_index(joint, "joint", "(N,)")
        joint = joint.long()
        return torch.stack((joint // self.bins, joint % self.bins), dim=1)

    def _require_index(self, index: torch.Tensor, name: str, layout: str) -> None:
        require_tensor(index, name)
        require_layout(index, name, layout)
        if not is_integer(index):
            raise TypeError(f"{name} must hold integer indices; got dtype {index.dtype}")
        if layout == "(N, 2)" and index.shape[1] != 2:
            raise ValueError(f"{name} must have shape (N, 2); got shape {tuple(index.shape)}")
        require_in_range(index, name, self.bins if layout == "(N, 2)" else self.num_cells, classes=False)


def cell_accuracy(pred: torch.Tensor, v: torch.Tensor, grid: VelocityGrid) -> torch.Tensor:
    """Fraction of rows whose predicted velocity falls in the same grid cell as the true one.

    Args:
        pred: (N, 2) predicted velocities (from any head); a row holding a NaN is a miss.
        v: (N, 2) true velocities, no NaN.
    Returns:
        0-dim float tensor on the device of ``v``; NaN for N = 0.
    """
    _require_velocities(pred, "pred")
    _require_velocities(v, "v")
    if pred.shape != v.shape:
        raise ValueError(f"pred and v must have the same shape; got {tuple(pred.shape)} and {tuple(v.shape)}")
    require_same_device(pred, "pred", v, "v")
    if not isinstance(grid, VelocityGrid):
        raise TypeError(f"grid must be a VelocityGrid; got {_type_name(grid)}")
    require_no_nan(v, "v", ": a NaN velocity is in no bin")
    # a NaN prediction is in no bin: NaN == anything is false, so the row is a miss
    return (grid._bins(pred) == grid._bins(v)).all(dim=1).float().mean()


# ----------------------------------------------------------------------------- heads


def _require_grid(grid: object) -> None:
    if not isinstance(grid, VelocityGrid):
        raise TypeError(f"grid must be a VelocityGrid; got {_type_name(grid)}")


class _LinearHead(nn.Module):
    """A single linear layer from the trunk's features; subclasses read its output."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (N, in_features) -> raw output (N, out_features); ``h`` has the head's dtype and device."""
        _require_output(h, "h", self.linear.in_features)
        require_module_input(h, "h", self)
        return self.linear(h)


class JointGridHead(_LinearHead):
    """One class per grid cell: ``bins ** 2`` logits, softmax cross-entropy over the cells."""

    def __init__(self, in_features: int, grid: VelocityGrid = VelocityGrid()) -> None:
        _require_grid(grid)
        super().__init__(require_int(in_features, "in_features"), grid.num_cells)
        self.grid = grid

    def loss(self, logits: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the cell holding ``v``. logits: (N, bins**2), v: (N, 2)."""
        _require_output(logits, "logits", self.grid.num_cells, v)
        return cross_entropy(logits, self.grid.joint_index(self.grid.encode(v)))

    def cell_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (N, bins**2) -> (N, bins, bins), ``[n, ix, iy]``, each slice summing to 1."""
        _require_output(logits, "logits", self.grid.num_cells)
        n, b = logits.shape[0], self.grid.bins
        return softmax(logits, dim=1).view(n, b, b)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """The centre of the most probable cell: (N, bins**2) -> (N, 2); NaN for a row of logits holding a NaN."""
        _require_output(logits, "logits", self.grid.num_cells)
        pred = self.grid.decode(self.grid.split_index(logits.argmax(dim=1)), dtype=logits.dtype)
        return _nan_rows_to_nan(pred, logits)


class FactorizedGridHead(_LinearHead):
    """Two independent ``bins``-way classifiers, one per component: ``2 * bins`` logits.

    The output is laid out ``[x logits | y logits]``. The loss is the sum of the
    two cross-entropies, which is the negative log-probability of the cell
    under the product of the marginals, ``p(ix, iy) = p_x(ix) p_y(iy)``.
    """

    def __init__(self, in_features: int, grid: VelocityGrid = VelocityGrid()) -> None:
        _require_grid(grid)
        super().__init__(require_int(in_features, "in_features"), 2 * grid.bins)
        self.grid = grid

    def _per_axis(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.reshape(logits.shape[0], 2, self.grid.bins)  # (N, 2, bins)

    def loss(self, logits: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``CE_x + CE_y`` per sample, averaged over N. logits: (N, 2 * bins), v: (N, 2)."""
        _require_output(logits, "logits", 2 * self.grid.bins, v)
        n, b = logits.shape[0], self.grid.bins
        labels = self.grid.encode(v)  # (N, 2)
        per_axis = cross_entropy(logits.reshape(2 * n, b), labels.reshape(2 * n), reduction="none")  # (2N,)
        return per_axis.view(n, 2).sum(dim=1).mean()

    def cell_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The product of the marginals: (N, 2 * bins) -> (N, bins, bins), ``[n, ix, iy]``."""
        _require_output(logits, "logits", 2 * self.grid.bins)
        p = softmax(self._per_axis(logits), dim=2)  # (N, 2, bins)
        return p[:, 0, :, None] * p[:, 1, None, :]  # (N, bins, 1) * (N, 1, bins)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """The centre of the most probable bin on each axis: (N, 2 * bins) -> (N, 2); NaN for a row holding a NaN."""
        _require_output(logits, "logits", 2 * self.grid.bins)
        pred = self.grid.decode(self._per_axis(logits).argmax(dim=2), dtype=logits.dtype)
        return _nan_rows_to_nan(pred, logits)


class BoundedRegressionHead(_LinearHead):
    """Two outputs squashed into ``(low, high)`` by :func:`squash`; mean squared error."""

    def __init__(self, in_features: int, low: float = -1.0, high: float = 1.0) -> None:
        low, high = _require_range(low, high)
        super().__init__(require_int(in_features, "in_features"), 2)
        self.low, self.high = low, high

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """(N, 2) raw outputs -> (N, 2) velocities in ``(low, high)``."""
        _require_output(z, "z", 2)
        return squash(z, self.low, self.high)

    def loss(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Mean over N and both components of ``(predict(z) - v) ** 2``."""
        _require_output(z, "z", 2, v)
        return ((self.predict(z) - v) ** 2).mean()


class MixtureDensityHead(_LinearHead):
    """A mixture of ``K`` round Gaussians over the velocity: ``4 K`` outputs.

    ``p(v | h) = sum_k pi_k N(v; mu_k, sigma_k^2 I)``, with per component one
    weight logit, a mean ``mu_k`` squashed into ``(low, high)``, and a scale
    ``sigma_k = min_scale + softplus(raw)``. ``min_scale`` keeps the
    likelihood bounded: on noise-free targets it would otherwise grow without
    limit as a scale shrinks to 0. The loss is the negative log-likelihood.
    """

    def __init__(
        self, in_features: int, components: int = 2, low: float = -1.0, high: float = 1.0, min_scale: float = 0.01
    ) -> None:
        low, high = _require_range(low, high)
        components = require_int(components, "components")
        min_scale = require_positive(min_scale, "min_scale")
        super().__init__(require_int(in_features, "in_features"), 4 * components)
        self.components, self.low, self.high, self.min_scale = components, low, high, min_scale

    def mixture(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 4K) -> log-weights (N, K), means (N, K, 2), scales (N, K)."""
        _require_output(out, "out", 4 * self.components)
        per_component = out.reshape(out.shape[0], self.components, 4)  # (N, K, [logit, mu_x, mu_y, scale])
        log_weights = log_softmax(per_component[..., 0], dim=1)
        means = squash(per_component[..., 1:3], self.low, self.high)
        scales = self.min_scale + F.softplus(per_component[..., 3])
        return log_weights, means, scales

    def log_density(self, out: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``log p(v | h) = log sum_k pi_k N(v; mu_k, sigma_k^2 I)``: out (N, 4K), v (N, 2) -> (N,).

        ``-inf`` for a ``v`` so far from every component that its density underflows;
        float16 and bfloat16 are computed in float32.
        """
        _require_output(out, "out", 4 * self.components, v)
        log_weights, means, scales = self.mixture(upcast(out))
        squared = ((upcast(v)[:, None, :] - means) ** 2).sum(dim=2)  # (N, K)
        # log N(v; mu, s^2 I) in 2-D = -|v - mu|^2 / (2 s^2) - 2 log s - log(2 pi)
        log_normal = -squared / (2 * scales**2) - 2 * torch.log(scales) - math.log(2 * math.pi)
        density = logsumexp(log_weights + log_normal, dim=1)
        return density.to(torch.promote_types(out.dtype, v.dtype))

    def loss(self, out: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The mean negative log-likelihood, ``-mean(log_density(out, v))``."""
        return -self.log_density(out, v).mean()

    def predict(self, out: torch.Tensor) -> torch.Tensor:
        """The mean of the heaviest component: (N, 4K) -> (N, 2); NaN for a row holding a NaN."""
        log_weights, means, _ = self.mixture(out)
        best = log_weights.argmax(dim=1)  # (N,)
        pred = means[torch.arange(out.shape[0], device=out.device), best]
        return _nan_rows_to_nan(pred, out)
