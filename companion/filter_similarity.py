"""Comparing sets of filters: cosine similarity, matching up to order and sign, and likeness to edge kernels.

Two trainings of one network from different initial weights end with
different first-layer filters, in a different order: nothing in the loss
prefers one order of the filters over another (chapter 4.1). To ask whether
they learned the same *kinds* of filters, compare them in a way that ignores
the order, and the sign too when a filter and its negative count as one kind
(an edge of either polarity):

- :func:`filter_cosine_similarity`: the cosine of every pair of filters,
  each flattened to a vector, so that a filter's scale does not count;
- :func:`match_filters`: the one-to-one pairing of two sets that maximises the
  summed ``|cosine|``, with the sign of each pair, found exactly by
  :func:`best_assignment_np`;
- :func:`oriented_edge_kernels` and :func:`edge_similarity`: how close each
  filter is to an oriented Sobel-like edge kernel, as the largest ``|cosine|``
  with a bank of them.

A random filter is not dissimilar to everything: ten random 3x3 filters,
optimally matched to ten others, reach a mean ``|cosine|`` well above 0. Read
every similarity against the same statistic for random filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import comb

import numpy as np
import torch

from companion._checks import (
    _type_name,
    require_array,
    require_floating,
    require_int,
    require_min_ndim,
    require_same_device,
    require_tensor,
    require_values,
)

# The assignment is solved exactly by dynamic programming over subsets of the
# second set: memory and time grow as 2**n, so n is capped here (16 filters: 65,536 subsets).
MAX_ASSIGNMENT_SIZE = 16


def _flat_unit(x: torch.Tensor) -> torch.Tensor:
    """(M, ...) -> (M, D): each filter flattened and scaled to unit length; a zero filter stays zero."""
    flat = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # (M, D), also for M = 0
    tiny = torch.finfo(flat.dtype).tiny  # a zero filter has norm 0: 0 / tiny = 0, so its cosine with anything is 0
    return flat / flat.norm(dim=1, keepdim=True).clamp_min(tiny)


def filter_cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every filter of ``a`` with every filter of ``b``.

    Args:
        a: ``(M, ...)``, M filters of any shape (``(M, C, kH, kW)`` for a conv layer's weight).
        b: ``(N, ...)``, with the same trailing shape as ``a``; cast to ``a``'s dtype.

    Returns:
        ``(M, N)``: ``cos[i, j] = <a_i, b_j> / (|a_i| |b_j|)``, in ``[-1, 1]``; 0 where a filter is all zeros.
    """
    require_tensor(a, "a")
    require_tensor(b, "b")
    require_min_ndim(a, "a", 1)
    require_min_ndim(b, "b", 1)
    require_floating(a, "a")
    require_floating(b, "b")
    require_same_device(a, "a", b, "b")
    if tuple(a.shape[1:]) != tuple(b.shape[1:]):
        raise ValueError(
            f"a and b must hold filters of the same shape, (M, ...) and (N, ...); got a {tuple(a.shape)} and b {tuple(b.shape)}"
        )
    wide = a.float() if a.dtype in (torch.float16, torch.bfloat16) else a  # low precision: computed in float32
    cos = _flat_unit(wide) @ _flat_unit(b.to(wide.dtype)).T  # (M, N)
    return cos.to(a.dtype)


def best_assignment_np(scores: np.ndarray) -> np.ndarray:
    """The permutation ``p`` of ``range(n)`` that maximises ``sum_i scores[i, p[i]]``, found exactly.

    Dynamic programming over subsets: ``best[S]`` is the largest total for
    assigning rows ``0 .. |S| - 1`` to the set ``S`` of columns, and
    ``best[S] = max_{j in S} best[S - {j}] + scores[|S| - 1, j]``.
    Each row is one vectorised step over all subsets of its size, so the cost
    is ``n * 2**n`` operations (``n <= MAX_ASSIGNMENT_SIZE``). When several
    permutations reach the best total, one of them is returned.

    Args:
        scores: ``(n, n)`` float array, finite.

    Returns:
        ``(n,)`` int64 array: row ``i`` is assigned column ``p[i]``.
    """
    require_array(scores, "scores")
    require_floating(scores, "scores")
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must have shape (n, n); got shape {scores.shape}")
    n = scores.shape[0]
    if n > MAX_ASSIGNMENT_SIZE:
        raise ValueError(f"scores must be at most {MAX_ASSIGNMENT_SIZE} x {MAX_ASSIGNMENT_SIZE} (the cost grows as 2**n); got n = {n}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite; got NaN or infinity")
    scores = scores.astype(np.float64)
    masks = np.arange(2**n)  # a subset of columns as a bit mask
    bits = 1 << np.arange(n)  # (n,)
    has = (masks[:, None] & bits) != 0  # (2**n, n): is column j in subset S
    size = has.sum(axis=1)  # (2**n,)
    best = np.full(2**n, -np.inf)
    best[0] = 0.0
    choice = np.zeros(2**n, dtype=np.int64)  # choice[S]: the column that row |S| - 1 takes on the best way to S
    for i in range(n):  # row i: every subset S of size i + 1 at once, best[S] = max_{j in S} best[S - {j}] + scores[i, j]
        subsets = masks[size == i + 1]  # (m,)
        totals = np.where(has[subsets], best[subsets[:, None] & ~bits] + scores[i], -np.inf)  # (m, n)
        choice[subsets] = totals.argmax(axis=1)
        best[subsets] = totals.max(axis=1)
    permutation = np.zeros(n, dtype=np.int64)
    subset = 2**n - 1
    for i in range(n - 1, -1, -1):  # walk back from the full set
        permutation[i] = choice[subset]
        subset ^= 1 << int(permutation[i])
    return permutation


@dataclass(frozen=True)
class FilterMatch:
    """The pairing of two sets of filters found by :func:`match_filters`.

    Attributes:
        order: ``(M,)`` int64, ``b[order[i]]`` is paired with ``a[i]``.
        sign: ``(M,)``, +1 or -1 in ``a``'s dtype: ``sign[i] * b[order[i]]`` points the way ``a[i]`` does.
        similarity: ``(M,)``, ``|cos(a[i], b[order[i]])|`` in ``[0, 1]``.
    """

    order: torch.Tensor
    sign: torch.Tensor
    similarity: torch.Tensor

    def aligned(self, b: torch.Tensor) -> torch.Tensor:
        """``b`` reordered and sign-flipped to line up with ``a``: ``(M, ...)``."""
        require_tensor(b, "b")
        if b.ndim < 1 or b.shape[0] != self.order.shape[0]:
            raise ValueError(f"b must hold the {self.order.shape[0]} filters that were matched; got shape {tuple(b.shape)}")
        sign = self.sign.to(b.device, b.dtype).reshape(-1, *([1] * (b.ndim - 1)))
        return b[self.order.to(b.device)] * sign


def match_filters(a: torch.Tensor, b: torch.Tensor) -> FilterMatch:
    """Pair each filter of ``a`` with one of ``b``, up to order and sign, maximising the summed ``|cosine|``.

    The pairing is exact (:func:`best_assignment_np` on the ``(M, M)`` matrix
    of ``|cosine|``, copied to the CPU). A filter and its negative count as
    the same kind, so each pair carries the sign that aligns it.

    Args:
        a: ``(M, ...)`` filters, ``M <= MAX_ASSIGNMENT_SIZE``.
        b: ``(M, ...)`` filters of the same shape as ``a``.

    Returns:
        A :class:`FilterMatch` on ``a``'s device.
    """
    require_tensor(a, "a")
    require_tensor(b, "b")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"a and b must have the same shape (M, ...); got a {tuple(a.shape)} and b {tuple(b.shape)}")
    if a.shape[0] > MAX_ASSIGNMENT_SIZE:
        raise ValueError(f"a must hold at most {MAX_ASSIGNMENT_SIZE} filters (the exact matching costs 2**M); got {a.shape[0]}")
    require_values(a, "a")
    require_values(b, "b")
    cos = filter_cosine_similarity(a, b)  # (M, M), signed
    if cos.isnan().any():
        raise ValueError("a and b must be finite: a NaN filter has no direction to match")
    order = torch.from_numpy(best_assignment_np(cos.abs().detach().cpu().double().numpy())).to(a.device)
    paired = cos[torch.arange(a.shape[0], device=a.device), order]  # (M,)
    sign = torch.where(paired < 0, -1.0, 1.0).to(a.dtype)
    return FilterMatch(order=order, sign=sign, similarity=paired.abs())


def oriented_edge_kernels(
    size: int = 3, orientations: int = 8, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """A bank of Sobel-like edge kernels at evenly spaced orientations.

    The Sobel pair for an odd ``size = k``: ``gx = outer(s, d)`` with the
    binomial smoothing ``s = [C(k-1, i)]`` and the derivative ``d``, the
    binomial of length ``k - 1`` convolved with ``[-1, 1]`` (``k = 3``:
    ``s = [1, 2, 1]``, ``d = [-1, 0, 1]``, the Sobel operator); ``gy = gx.T``.
    Kernel ``m`` is the derivative along the direction
    ``theta_m = m * pi / orientations``, ``cos(theta_m) gx + sin(theta_m) gy``: a
    half turn is enough, since ``theta + pi`` gives the negative kernel, the
    same edge of the other polarity. Kernel 0 is ``gx`` (it responds to vertical
    edges), kernel ``orientations / 2`` is ``gy`` (rows: top to bottom).

    Returns:
        ``(orientations, size, size)`` in ``dtype`` on ``device``.
    """
    size = require_int(size, "size", minimum=3)
    if size % 2 == 0:
        raise ValueError(f"size must be odd (a kernel with a centre); got {size}")
    orientations = require_int(orientations, "orientations", minimum=1)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")
    if device is not None and not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a torch.device, a string such as 'cpu', or None; got {_type_name(device)}")
    try:
        device = None if device is None else torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must name a device, such as 'cpu' or 'cuda'; got {device!r}") from None
    smoothing = np.array([comb(size - 1, i) for i in range(size)], dtype=np.float64)  # (k,)
    derivative = np.convolve([comb(size - 2, i) for i in range(size - 1)], [-1.0, 1.0])  # (k,), antisymmetric
    gx = torch.from_numpy(np.outer(smoothing, derivative))  # (k, k): changes along the columns
    theta = torch.arange(orientations, dtype=torch.float64) * torch.pi / orientations  # (K,)
    bank = theta.cos()[:, None, None] * gx + theta.sin()[:, None, None] * gx.T  # (K, k, k)
    return bank.to(device=device, dtype=dtype)


def edge_similarity(kernels: torch.Tensor, bank: torch.Tensor | None = None) -> torch.Tensor:
    """How much each kernel looks like an oriented edge detector: the largest ``|cosine|`` with a bank of edge kernels.

    1 for a kernel that is one of the bank's (either polarity, any scale);
    near 0 for a kernel orthogonal to every edge kernel (a constant one, say:
    edge kernels sum to zero).

    Args:
        kernels: ``(..., kH, kW)``, e.g. a conv weight ``(O, C, kH, kW)``.
        bank: ``(K, kH, kW)`` reference kernels; by default
            ``oriented_edge_kernels(kH, 8)`` (needs ``kH == kW``, odd), in ``kernels``' dtype and device.

    Returns:
        ``(...)``: one value in ``[0, 1]`` per kernel (per filter and channel for a conv weight).
    """
    require_tensor(kernels, "kernels")
    require_min_ndim(kernels, "kernels", 2)
    require_floating(kernels, "kernels")
    kh, kw = kernels.shape[-2:]
    if bank is None:
        if kh != kw or kh % 2 == 0 or kh < 3:
            raise ValueError(f"kernels must be square and odd, at least 3x3, for the default bank; got kH, kW = {kh}, {kw}")
        bank = oriented_edge_kernels(kh, 8, dtype=kernels.dtype, device=kernels.device)
    require_tensor(bank, "bank")
    require_floating(bank, "bank")
    if bank.ndim != 3 or tuple(bank.shape[1:]) != (kh, kw) or bank.shape[0] == 0:
        raise ValueError(f"bank must have shape (K, kH, kW) = (K >= 1, {kh}, {kw}); got shape {tuple(bank.shape)}")
    require_same_device(kernels, "kernels", bank, "bank")
    batch = kernels.shape[:-2]
    flat = kernels.reshape(-1, kh, kw)  # (P, kH, kW)
    cos = filter_cosine_similarity(flat, bank)  # (P, K)
    if cos.shape[0] == 0:
        return cos.new_zeros(batch)
    return cos.abs().amax(dim=1).reshape(batch)
