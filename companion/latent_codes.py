"""The linear algebra of latent codes: principal directions, ablation, and the rotation symmetry.

For codes ``Z`` (N, D) of an autoencoder, PCA finds the orthonormal directions
of largest variance: the eigenvectors of the covariance
``S = (Z - mean)^T (Z - mean) / (N - 1)``, or equally the right singular
vectors of the centred ``Z`` (eigenvalues = singular values squared / (N - 1)).
The eigenvalues say how many *directions* carry the variance; they do not
point at single units, and they cannot: if the encoder's last linear layer is
multiplied by an orthogonal ``Q`` and the decoder's first by ``Q^T``
(:func:`fold_rotation`), every unit changes and the model computes exactly
the same reconstructions. :func:`ablation_effect` measures what the decoder
loses when one unit (or one direction) is replaced by its mean or by zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from companion._checks import (
    require_array,
    require_cpu_generator,
    require_float_dtype,
    require_floating,
    require_int,
    require_layout,
    require_tensor,
)

PCA_METHODS = ("eigh", "svd")
ABLATION_MODES = ("mean", "zero")


class PCA(NamedTuple):
    """Principal directions of codes, largest variance first."""

    mean: torch.Tensor | np.ndarray  # (D,)
    components: torch.Tensor | np.ndarray  # (D, D): row i is direction i (unit length)
    variances: torch.Tensor | np.ndarray  # (D,): the covariance's eigenvalues, descending


def _check_codes(codes, is_numpy: bool) -> None:
    (require_array if is_numpy else require_tensor)(codes, "codes")
    require_layout(codes, "codes", "(N, D)")
    require_floating(codes, "codes")
    if codes.shape[0] < 2:
        raise ValueError(f"codes must have at least 2 rows for a covariance; got shape {tuple(codes.shape)}")


def _check_method(method: str) -> None:
    if method not in PCA_METHODS:
        raise ValueError(f"method must be one of {PCA_METHODS}; got {method!r}")


def pca_np(codes: np.ndarray, method: str = "eigh") -> PCA:
    """NumPy version of :func:`pca`."""
    _check_codes(codes, is_numpy=True)
    _check_method(method)
    n = codes.shape[0]
    mean = codes.mean(axis=0)
    centred = codes - mean  # (N, D)
    if method == "eigh":
        variances, vectors = np.linalg.eigh(centred.T @ centred / (n - 1))  # ascending, columns are vectors
        variances, components = variances[::-1], vectors[:, ::-1].T
    else:
        if n < codes.shape[1]:
            raise ValueError(f"method 'svd' needs at least D = {codes.shape[1]} rows; got codes of shape {codes.shape}")
        _, singular, components = np.linalg.svd(centred, full_matrices=False)  # descending
        variances = singular**2 / (n - 1)
    # one sign per direction: its largest entry (in absolute value) positive
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    return PCA(mean, components * signs[:, None], np.clip(variances, 0.0, None))


def pca(codes: torch.Tensor, method: str = "eigh") -> PCA:
    """Principal directions of codes (N, D), by the covariance's eigen-decomposition or by the SVD.

    Args:
        codes: (N, D) floating, N >= 2.
        method: ``"eigh"`` (symmetric eigen-decomposition of the covariance) or
            ``"svd"`` (singular value decomposition of the centred codes; requires N >= D).
    Returns:
        :class:`PCA`: mean (D,), components (D, D) with one unit direction per
        row, variances (D,) descending and clipped at 0 (rounding can make a
        zero eigenvalue slightly negative). Each direction's sign is fixed so
        that its largest entry is positive, so both methods give the same result.
    """
    _check_codes(codes, is_numpy=False)
    _check_method(method)
    n, d = codes.shape
    mean = codes.mean(dim=0)
    centred = codes - mean  # (N, D)
    if method == "eigh":
        variances, vectors = torch.linalg.eigh(centred.T @ centred / (n - 1))  # ascending
        variances, components = variances.flip(0), vectors.flip(1).T  # (D,), (D, D) rows
    else:
        if n < d:
            raise ValueError(f"method 'svd' needs at least D = {d} rows; got codes of shape {tuple(codes.shape)}")
        _, singular, components = torch.linalg.svd(centred, full_matrices=False)  # (D,), (D, D)
        variances = singular**2 / (n - 1)
    index = components.abs().argmax(dim=1, keepdim=True)  # (D, 1)
    signs = torch.sign(components.gather(1, index))
    return PCA(mean, components * signs, variances.clamp_min(0.0))


def explained_variance_ratio(variances: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Share of the total variance carried by each direction, ``variances / variances.sum()``. (D,) -> (D,)."""
    if not isinstance(variances, (torch.Tensor, np.ndarray)):
        raise TypeError(f"variances must be a torch.Tensor or numpy.ndarray; got {type(variances).__name__}")
    require_layout(variances, "variances", "(D,)")
    total = variances.sum()
    if not total > 0:
        raise ValueError(f"variances must have a positive sum; got {float(total)}")
    return variances / total


def ablation_effect(
    decode: Callable[[torch.Tensor], torch.Tensor],
    codes: torch.Tensor,
    directions: torch.Tensor | None = None,
    mode: str = "mean",
) -> torch.Tensor:
    """Mean squared change of the decoder's output when one unit, or one direction, of the code is ablated.

    Ablating direction ``v`` (unit length) replaces the code's coordinate along
    ``v`` by its mean over the codes (``mode="mean"``) or by 0 (``"zero"``):
    ``z' = z - ((z - r) . v) v`` with ``r`` the mean code or 0. With the
    default ``directions`` (the identity) this sets one unit to its mean or to zero.
    All ablations are decoded in one batch.

    Args:
        decode: maps codes (M, D) to outputs (M, ...).
        codes: (N, D).
        directions: (K, D) unit rows (e.g. ``pca(codes).components``); default the D units.
        mode: ``"mean"`` or ``"zero"``.
    Returns:
        (K,) ``mean over examples and output entries of (decode(z') - decode(z))^2`` for each direction.
    """
    if not callable(decode):
        raise TypeError(f"decode must be callable; got {type(decode).__name__}")
    require_tensor(codes, "codes")
    require_layout(codes, "codes", "(N, D)")
    require_floating(codes, "codes")
    if mode not in ABLATION_MODES:
        raise ValueError(f"mode must be one of {ABLATION_MODES}; got {mode!r}")
    n, d = codes.shape
    if directions is None:
        directions = torch.eye(d, dtype=codes.dtype, device=codes.device)
    require_tensor(directions, "directions")
    require_layout(directions, "directions", "(K, D)")
    require_floating(directions, "directions")
    if directions.shape[1] != d:
        raise ValueError(f"directions must have shape (K, D) with D = {d}; got shape {tuple(directions.shape)}")
    reference = codes.mean(dim=0) if mode == "mean" else torch.zeros_like(codes[0])  # (D,)
    along = (codes - reference) @ directions.T  # (N, K): each code's coordinate along each direction
    ablated = codes[None] - along.T[:, :, None] * directions[:, None, :]  # (K, N, D)
    k = directions.shape[0]
    with torch.no_grad():
        base = decode(codes)  # (N, ...)
        changed = decode(ablated.reshape(k * n, d)).reshape(k, *base.shape)  # (K, N, ...)
    return (changed - base).pow(2).flatten(1).mean(dim=1)


def random_rotation(dim: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A random orthogonal (dim, dim) matrix (uniform over the orthogonal group), drawn on the CPU.

    QR decomposition of a float64 Gaussian matrix, with the signs of R's diagonal moved into Q.
    """
    dim = require_int(dim, "dim")
    require_cpu_generator(generator)
    require_float_dtype(dtype)
    gaussian = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return (q * torch.sign(torch.diagonal(r))).to(dtype)


def _check_rotation(rotation, dim: int) -> None:
    if tuple(rotation.shape) != (dim, dim):
        raise ValueError(f"rotation must have shape (D, D) = ({dim}, {dim}); got shape {tuple(rotation.shape)}")


def fold_rotation_np(
    encoder_weight: np.ndarray, encoder_bias: np.ndarray, decoder_weight: np.ndarray, rotation: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy version of :func:`fold_rotation` on weight matrices in PyTorch's layout.

    Args:
        encoder_weight: (D, H) of the layer that outputs the code ``z = W h + b``; encoder_bias: (D,).
        decoder_weight: (O, D) of the layer that reads the code.
        rotation: (D, D) orthogonal.
    Returns:
        ``(Q W, Q b, W_dec Q^T)``: the code becomes ``Q z``, and the decoder reads ``W_dec Q^T Q z = W_dec z``.
    """
    for name, value in (("encoder_weight", encoder_weight), ("encoder_bias", encoder_bias),
                        ("decoder_weight", decoder_weight), ("rotation", rotation)):
        require_array(value, name)
    require_layout(encoder_weight, "encoder_weight", "(D, H)")
    d = encoder_weight.shape[0]
    if tuple(encoder_bias.shape) != (d,) or decoder_weight.ndim != 2 or decoder_weight.shape[1] != d:
        raise ValueError(f"encoder_bias must be (D,) and decoder_weight (O, D) with D = {d}; "
                         f"got {encoder_bias.shape} and {decoder_weight.shape}")
    _check_rotation(rotation, d)
    return rotation @ encoder_weight, rotation @ encoder_bias, decoder_weight @ rotation.T


def fold_rotation(encoder_out: nn.Linear, decoder_in: nn.Linear, rotation: torch.Tensor) -> tuple[nn.Linear, nn.Linear]:
    """Rotate the code space of an autoencoder without changing what it computes.

    Returns new layers: ``encoder_out`` with weight ``Q W`` and bias ``Q b``
    (so the code becomes ``Q z``) and ``decoder_in`` with weight ``W_dec Q^T``
    (so it reads ``W_dec Q^T Q z = W_dec z``). Every unit of the new code is a
    mixture of the old units, yet the reconstructions are identical.

    Args:
        encoder_out: the ``nn.Linear`` whose output is the (D-unit) code, with a bias.
        decoder_in: the ``nn.Linear`` that reads the code.
        rotation: (D, D) orthogonal, e.g. :func:`random_rotation`.
    """
    if not isinstance(encoder_out, nn.Linear) or not isinstance(decoder_in, nn.Linear):
        raise TypeError(f"encoder_out and decoder_in must be nn.Linear; got "
                        f"{type(encoder_out).__name__} and {type(decoder_in).__name__}")
    require_tensor(rotation, "rotation")
    require_floating(rotation, "rotation")
    d = encoder_out.out_features
    if decoder_in.in_features != d or encoder_out.bias is None:
        raise ValueError(f"decoder_in must read the D = {d} code units and encoder_out must have a bias; "
                         f"got decoder_in.in_features = {decoder_in.in_features}")
    _check_rotation(rotation, d)
    q = rotation.to(encoder_out.weight)
    new_encoder = nn.Linear(encoder_out.in_features, d).to(encoder_out.weight)
    new_decoder = nn.Linear(d, decoder_in.out_features, bias=decoder_in.bias is not None).to(decoder_in.weight)
    with torch.no_grad():
        new_encoder.weight.copy_(q @ encoder_out.weight)  # (D, H)
        new_encoder.bias.copy_(q @ encoder_out.bias)
        new_decoder.weight.copy_(decoder_in.weight @ q.T)  # (O, D)
        if decoder_in.bias is not None:
            new_decoder.bias.copy_(decoder_in.bias)
    return new_encoder, new_decoder
