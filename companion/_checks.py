"""Input checks shared by the package.

Every check raises with the argument's name, what was expected and what was
given, so that bad input fails loudly instead of broadcasting into a wrong
answer. They accept NumPy arrays and PyTorch tensors alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

Array = Any  # np.ndarray | torch.Tensor

REDUCTIONS = ("none", "mean", "sum")


def _type_name(x: object) -> str:
    cls = type(x)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def _size(x: Array) -> int:
    return x.numel() if isinstance(x, torch.Tensor) else x.size


def _dims(layout: str) -> int:
    """Number of axes in a layout string such as ``"(N, C)"``."""
    inner = layout.strip("() ")
    return len([part for part in inner.split(",") if part.strip()])


def require_tensor(x: object, name: str) -> None:
    """Raise TypeError unless ``x`` is a ``torch.Tensor``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {_type_name(x)}")


def require_array(x: object, name: str) -> None:
    """Raise TypeError unless ``x`` is a ``numpy.ndarray``."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {_type_name(x)}")


def require_layout(x: Array, name: str, layout: str) -> None:
    """Raise ValueError unless ``x`` has as many axes as ``layout`` names.

    ``layout`` reads like a docstring contract: ``"(N, C)"``, ``"(N,)"``.
    """
    if x.ndim != _dims(layout):
        raise ValueError(f"{name} must have shape {layout}; got shape {tuple(x.shape)}")


def require_min_ndim(x: Array, name: str, ndim: int) -> None:
    """Raise ValueError unless ``x`` has at least ``ndim`` axes."""
    if x.ndim < ndim:
        raise ValueError(f"{name} must have at least {ndim} axis(es); got shape {tuple(x.shape)}")


def require_floating(x: Array, name: str) -> None:
    """Raise TypeError unless ``x`` holds floating-point numbers."""
    floating = x.is_floating_point() if isinstance(x, torch.Tensor) else np.issubdtype(x.dtype, np.floating)
    if not floating:
        raise TypeError(f"{name} must have a floating-point dtype; got {x.dtype}")


def require_same_shape(a: Array, a_name: str, b: Array, b_name: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` have exactly the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape; "
            f"got {a_name} {tuple(a.shape)} and {b_name} {tuple(b.shape)}"
        )


def is_integer(x: Array) -> bool:
    """Whether a tensor or array holds integers (bool does not count)."""
    if isinstance(x, torch.Tensor):
        return not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool
    return np.issubdtype(x.dtype, np.integer)


def require_class_indices(labels: Array, name: str) -> None:
    """Raise TypeError unless ``labels`` holds integer class indices."""
    if not is_integer(labels):
        raise TypeError(f"{name} must hold integer class indices; got dtype {labels.dtype}")


def min_max(x: Array) -> tuple[int, int]:
    """Smallest and largest value of a non-empty integer tensor or array (one pass for a tensor)."""
    if isinstance(x, torch.Tensor):
        lo, hi = torch.aminmax(x)
        return int(lo), int(hi)
    return int(x.min()), int(x.max())


def require_in_range(x: Array, name: str, top: int, ignore_index: int | None = None, classes: bool = True) -> None:
    """Raise ValueError unless every value of the integer ``x`` lies in ``[0, top)`` or equals ``ignore_index``.

    One min/max pass when every value is in range; otherwise the message says
    how many values lie outside and their range (ignored values left out).
    ``classes``: the values are class indices, and the message says ``C = top``.
    """
    if _size(x) == 0:
        return
    lo, hi = min_max(x)
    if 0 <= lo and hi < top:
        return
    outside = (x < 0) | (x >= top)
    if ignore_index is not None:
        outside &= x != ignore_index
    count = int(outside.sum())
    if count:
        lo, hi = min_max(x[outside])
        meaning = f" for C = {top} classes" if classes else ""
        also = "" if ignore_index is None else f" or equal ignore_index = {ignore_index}"
        raise ValueError(f"{name} must lie in [0, {top}){meaning}{also}; got {count} value(s) outside, in [{lo}, {hi}]")


def require_class_labels(labels: Array, name: str, num_samples: int, num_classes: int) -> None:
    """Check integer class labels of shape ``(N,)`` with values in ``[0, C)``."""
    require_class_indices(labels, name)
    if tuple(labels.shape) != (num_samples,):
        raise ValueError(f"{name} must have shape (N,) = ({num_samples},); got shape {tuple(labels.shape)}")
    require_in_range(labels, name, num_classes)


def require_binary_targets(targets: Array, name: str) -> None:
    """Check floating targets with every value in ``[0, 1]``."""
    require_floating(targets, name)
    if _size(targets):
        lo, hi = float(targets.min()), float(targets.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name} must lie in [0, 1]; got values in [{lo}, {hi}]")


def require_reduction(reduction: str) -> None:
    """Raise ValueError unless ``reduction`` is one of ``none``, ``mean``, ``sum``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")


def require_scalar_reduction(reduction: str) -> None:
    """Like :func:`require_reduction`, but ``"none"`` is refused too: a gradient needs a scalar loss."""
    require_reduction(reduction)
    if reduction == "none":
        raise ValueError("reduction must be 'mean' or 'sum' for a gradient of a scalar loss; got 'none'")


def require_positive(value: float, name: str) -> None:
    """Raise ValueError unless ``value`` is a finite number greater than zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number; got {_type_name(value)}")
    if not (0.0 < float(value) < float("inf")):
        raise ValueError(f"{name} must be positive and finite; got {value}")


def require_int(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int; TypeError unless it is an integer, ValueError if below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def require_number(value: object, name: str, minimum: float = -math.inf, maximum: float = math.inf) -> float:
    """Return ``value`` as a float; TypeError unless it is a real number, ValueError unless finite and in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {_type_name(value)} {value!r}")
    if not (math.isfinite(value) and minimum <= value <= maximum):
        if math.isfinite(minimum) and math.isfinite(maximum):
            expected = f"a number in [{minimum}, {maximum}]"
        elif math.isfinite(minimum):
            expected = f"a finite number >= {minimum}"
        else:
            expected = f"a finite number <= {maximum}" if math.isfinite(maximum) else "a finite number"
        raise ValueError(f"{name} must be {expected}; got {value}")
    return float(value)


def require_int_pair(value: object, name: str, minimum: int = 1) -> tuple[int, int]:
    """An int, or a pair of ints, as a (height, width) pair, each checked by :func:`require_int`."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints; got {value!r}")
        return require_int(value[0], name, minimum), require_int(value[1], name, minimum)
    v = require_int(value, name, minimum)
    return v, v


def require_cpu_generator(generator: object) -> None:
    """Raise unless ``generator`` is a ``torch.Generator`` on the CPU (data is drawn on the CPU, then moved)."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator; got {_type_name(generator)}")
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU generator (data is drawn on the CPU); got one on {generator.device}")


def reduce(values: Array, reduction: str) -> Array:
    """Apply ``reduction`` (``none``, ``mean`` or ``sum``) to per-sample values."""
    if reduction == "none":
        return values
    return values.mean() if reduction == "mean" else values.sum()
