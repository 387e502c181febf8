"""Coordinate networks: fitting an image as a function of pixel coordinates, and the input encodings that make it work.

A coordinate network maps a pixel's position ``x = (r, c)`` to its colour. An
MLP fed the raw coordinates learns smooth functions first (its "spectral
bias") and needs very long training to draw a sharp edge. Two encodings of
``x`` in front of the MLP fix that:

- random Fourier features (Rahimi and Recht, 2007; Tancik et al., 2020),
  with ``B: (d, m)`` drawn from ``N(0, scale**2)``::

      gamma(x) = [cos(2 pi x B), sin(2 pi x B)]                (N, 2m)

  ``scale`` sets the frequencies available: too small and edges blur, too
  large and the fit turns to noise between the pixels;
- radial basis functions (Gaussian bumps) on centres ``c_k`` with a width
  ``w``::

      phi_k(x) = exp(-|x - c_k|**2 / (2 w**2))                 (N, K)

  each feature sees only its neighbourhood, so a grid of ``K`` centres can
  draw detail down to about its spacing.

Also here: the asker's inputs (:func:`pixel_coordinates`, in ``(0, 1]``), a
two-colour test image with sharp edges and small details
(:func:`two_colour_image`, computed with exact comparisons so it is the same
on every machine), and :func:`coordinate_mlp`, the MLP with an optional
encoding in front. The functions take their device and dtype from ``x``; the
encodings' parameters (``projection``, ``centres``) are cast to ``x``'s dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from companion._checks import (
    _type_name,
    ieee,
    require_array,
    require_cpu_generator,
    require_floating,
    require_int,
    require_layout,
    require_positive,
    require_same_device,
    require_tensor,
    upcast,
)
from companion.runtime import randn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


# ----------------------------------------------------------------------------- inputs and the test image


def _require_dtype(dtype: object) -> None:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")


def pixel_coordinates(height: int, width: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The coordinates ``(r, c)`` of every pixel, scaled into ``(0, 1]`` as in the question: (H * W, 2).

    Row ``i`` (0-based) has ``r = (i + 1) / height``, column ``j`` has
    ``c = (j + 1) / width``; pixels are listed row by row, so
    ``image.reshape(-1)`` gives the matching targets. On the CPU.
    """
    height, width = require_int(height, "height"), require_int(width, "width")
    _require_dtype(dtype)
    r = torch.arange(1, height + 1, dtype=torch.float64) / height
    c = torch.arange(1, width + 1, dtype=torch.float64) / width
    rr, cc = torch.meshgrid(r, c, indexing="ij")  # (H, W) each
    return torch.stack([rr.reshape(-1), cc.reshape(-1)], dim=1).to(dtype)  # (H * W, 2)


def two_colour_image(height: int = 80, width: int = 80) -> torch.Tensor:
    """A two-colour test image with sharp edges and small details: (H, W) int64 labels in {0, 1}.

    Colour 1 (label 1) on a colour-0 background: a disc, a ring, a diagonal
    bar between them, a triangle, a patch of stripes two pixels wide and
    three small dots, drawn on the pixel centres of the unit square. Each
    shape is a comparison of sums and products of the coordinates (no
    fused or transcendental operations), so the image is the same on every
    machine. About 30% of the pixels have colour 1 at 80 x 80.
    """
    height, width = require_int(height, "height"), require_int(width, "width")
    y = ((torch.arange(height, dtype=torch.float64) + 0.5) / height)[:, None]  # (H, 1), down
    x = ((torch.arange(width, dtype=torch.float64) + 0.5) / width)[None, :]  # (1, W), right

    def disc(cy: float, cx: float, radius: float) -> torch.Tensor:
        return (y - cy) * (y - cy) + (x - cx) * (x - cx) < radius * radius

    shapes = [
        disc(0.27, 0.25, 0.17),
        disc(0.72, 0.73, 0.17) & ~disc(0.72, 0.73, 0.11),  # a ring
        (y - x + 0.05).abs() < 0.06,  # a diagonal bar...
        (y + x - 1.0).abs() < 0.25,  # ...cut to length by a band across it
        (x > 0.08) & (y > 0.6) & (y - 0.6 < (x - 0.08) * 1.2) & (x < 0.4),  # a triangle
        (x > 0.6) & (x < 0.92) & (y > 0.08) & (y < 0.36) & (((x * width).floor() % 4) < 2),  # stripes
        disc(0.13, 0.55, 0.035) | disc(0.13, 0.45, 0.035) | disc(0.45, 0.93, 0.035),  # small dots
    ]
    image = shapes[0] | shapes[1] | (shapes[2] & shapes[3]) | shapes[4] | shapes[5] | shapes[6]
    return image.to(torch.int64)  # (H, W)


# ----------------------------------------------------------------------------- random Fourier features


def gaussian_projection(
    in_features: int, num_frequencies: int, scale: float, *, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Random frequencies ``B ~ N(0, scale**2)``: (in_features, num_frequencies), on the CPU.

    Drawn through :func:`companion.runtime.randn`, so the same generator
    gives the same bits on every machine. ``scale`` is in cycles per unit of
    the coordinates (the image side is 1).
    """
    in_features = require_int(in_features, "in_features")
    num_frequencies = require_int(num_frequencies, "num_frequencies")
    scale = require_positive(scale, "scale")
    require_cpu_generator(generator)
    _require_dtype(dtype)
    return (scale * randn((in_features, num_frequencies), generator=generator, dtype=torch.float64)).to(dtype)


def _require_points(x, name: str, is_numpy: bool) -> None:
    (require_array if is_numpy else require_tensor)(x, name)
    require_layout(x, name, "(N, d)")
    require_floating(x, name)


def _require_matching(x, x_name: str, p, p_name: str, layout: str, axis: int, is_numpy: bool) -> None:
    _require_points(p, p_name, is_numpy)  # the same checks: a floating 2-D array
    if p.shape[axis] != x.shape[1]:
        raise ValueError(
            f"{p_name} must have shape {layout} with d = {x.shape[1]}, the columns of {x_name}; got shape {tuple(p.shape)}"
        )


def fourier_features(x: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """``[cos(2 pi x B), sin(2 pi x B)]``: (N, d) points and (d, m) frequencies give (N, 2m) features.

    The first ``m`` columns are the cosines, the last ``m`` the sines.
    ``projection`` is cast to ``x``'s dtype and must be on its device.
    """
    _require_points(x, "x", is_numpy=False)
    _require_matching(x, "x", projection, "projection", "(d, m)", 0, is_numpy=False)
    require_same_device(x, "x", projection, "projection")
    wide = upcast(x)
    angles = (2 * math.pi) * (wide @ projection.to(wide.dtype))  # (N, m)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(x.dtype)  # (N, 2m)


def fourier_features_np(x: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`fourier_features`: (N, d) and (d, m) give (N, 2m)."""
    _require_points(x, "x", is_numpy=True)
    _require_matching(x, "x", projection, "projection", "(d, m)", 0, is_numpy=True)
    wide = upcast(x)
    with ieee():  # cos(inf) is NaN, as in PyTorch, without a warning
        angles = (2 * np.pi) * (wide @ projection.astype(wide.dtype))  # (N, m)
        return np.concatenate([np.cos(angles), np.sin(angles)], axis=1).astype(x.dtype)  # (N, 2m)


# ----------------------------------------------------------------------------- radial basis functions


def grid_centres(per_side: int, dims: int = 2, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A regular grid of centres in the unit cube: (per_side**dims, dims), on the CPU.

    Along each axis the centres sit at ``(k + 0.5) / per_side``, ``k = 0 ..
    per_side - 1`` (spacing ``1 / per_side``); the last axis varies fastest.
    """
    per_side, dims = require_int(per_side, "per_side"), require_int(dims, "dims")
    _require_dtype(dtype)
    axis = (torch.arange(per_side, dtype=torch.float64) + 0.5) / per_side
    mesh = torch.meshgrid(*([axis] * dims), indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1).to(dtype)  # (per_side**dims, dims)


def rbf_features(x: torch.Tensor, centres: torch.Tensor, width: float) -> torch.Tensor:
    """Gaussian bumps ``exp(-|x - c_k|**2 / (2 width**2))``: (N, d) points and (K, d) centres give (N, K).

    The squared distances are summed from the coordinate differences, one
    coordinate axis at a time (``d`` is small: 2 for pixels), not expanded as
    ``|x|^2 + |c|^2 - 2 x.c``, which can go negative by cancellation.
    ``centres`` is cast to ``x``'s dtype and must be on its device.
    """
    _require_points(x, "x", is_numpy=False)
    _require_matching(x, "x", centres, "centres", "(K, d)", 1, is_numpy=False)
    require_same_device(x, "x", centres, "centres")
    width = require_positive(width, "width")
    wide, c = upcast(x), centres.to(upcast(x).dtype)
    squared = wide.new_zeros(wide.shape[0], c.shape[0])  # (N, K)
    for axis in range(wide.shape[1]):  # over the d coordinate axes, not over points
        diff = wide[:, axis, None] - c[None, :, axis]  # (N, K)
        squared.add_(diff * diff)
    return squared.mul_(-0.5 / (width * width)).exp_().to(x.dtype)  # (N, K); in place, autograd-safe


def rbf_features_np(x: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    """NumPy twin of :func:`rbf_features`: (N, d) and (K, d) give (N, K)."""
    _require_points(x, "x", is_numpy=True)
    _require_matching(x, "x", centres, "centres", "(K, d)", 1, is_numpy=True)
    width = require_positive(width, "width")
    wide = upcast(x)
    c = centres.astype(wide.dtype)
    with ieee():  # infinite coordinates give 0 (or NaN for inf - inf), as in PyTorch, without a warning
        squared = np.zeros((wide.shape[0], c.shape[0]), dtype=wide.dtype)  # (N, K)
        for axis in range(wide.shape[1]):  # over the d coordinate axes, not over points
            diff = wide[:, axis, None] - c[None, :, axis]  # (N, K)
            squared += diff * diff
        squared *= -0.5 / (width * width)
        return np.exp(squared, out=squared).astype(x.dtype, copy=False)  # (N, K)


# ----------------------------------------------------------------------------- as layers, and the MLP


class FourierFeatures(nn.Module):
    """Random Fourier features as a layer: (N, in_features) to (N, 2 * num_frequencies).

    The frequencies are a buffer (fixed, not trained), drawn from
    ``generator`` by :func:`gaussian_projection`; they follow the module's
    ``.to(device, dtype)``.
    """

    def __init__(
        self, in_features: int, num_frequencies: int, scale: float, *, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> None:
        super().__init__()
        projection = gaussian_projection(in_features, num_frequencies, scale, generator=generator, dtype=dtype)
        self.register_buffer("projection", projection)  # (d, m)
        self.in_features, self.out_features, self.scale = int(in_features), 2 * int(num_frequencies), float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fourier_features(x, self.projection)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale}"


class RBFFeatures(nn.Module):
    """Gaussian bumps on fixed centres as a layer: (N, d) to (N, K), with ``centres: (K, d)``.

    The centres are a buffer (fixed, not trained); they follow the module's
    ``.to(device, dtype)``.
    """

    def __init__(self, centres: torch.Tensor, width: float) -> None:
        super().__init__()
        _require_points(centres, "centres", is_numpy=False)
        self.width = require_positive(width, "width")
        self.register_buffer("centres", centres.detach().clone())  # (K, d)
        self.in_features, self.out_features = centres.shape[1], centres.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rbf_features(x, self.centres, self.width)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, width={self.width}"


def coordinate_mlp(
    hidden: Sequence[int],
    *,
    in_features: int = 2,
    out_features: int = 2,
    encoding: nn.Module | None = None,
    activation: str = "relu",
) -> nn.Sequential:
    """An MLP from coordinates to class scores, with an optional encoding in front.

    ``encoding`` (a :class:`FourierFeatures`, an :class:`RBFFeatures` or any
    module with ``in_features`` and ``out_features``) maps the (N,
    in_features) coordinates first; then one ``nn.Linear`` and ``activation``
    per entry of ``hidden``, and a last ``nn.Linear`` to ``out_features``
    scores. ``hidden=[]`` gives a linear model (logistic regression on the
    features). Initialise it with :func:`companion.runtime.init_parameters`.
    """
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of ints (the hidden widths); got {_type_name(hidden)}")
    widths = [require_int(w, "hidden") for w in hidden]
    in_features = require_int(in_features, "in_features")
    out_features = require_int(out_features, "out_features")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}; got {activation!r}")
    layers: list[nn.Module] = []
    width = in_features
    if encoding is not None:
        if not isinstance(encoding, nn.Module):
            raise TypeError(f"encoding must be a torch.nn.Module or None; got {_type_name(encoding)}")
        if getattr(encoding, "in_features", None) != in_features or not isinstance(getattr(encoding, "out_features", None), int):
            raise ValueError(
                f"encoding must have in_features = {in_features} and an int out_features; "
                f"got in_features={getattr(encoding, 'in_features', None)!r}, out_features={getattr(encoding, 'out_features', None)!r}"
            )
        layers.append(encoding)
        width = encoding.out_features
    for w in widths:
        layers += [nn.Linear(width, w), ACTIVATIONS[activation]()]
        width = w
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)
