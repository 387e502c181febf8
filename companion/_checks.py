"""Input checks shared by the package, and the numerics every function shares.

Every check raises with the argument's name, what was expected and what was
given, so that bad input fails loudly instead of broadcasting into a wrong
answer. They accept NumPy arrays and PyTorch tensors alike, and Python and
NumPy scalars alike (``3`` and ``np.int64(3)``, ``0.5`` and ``np.float32(0.5)``).

Two conventions live here because every module relies on them (the package
docstring states the whole contract):

- float16 and bfloat16 input is computed in float32 (:func:`upcast`) and the
  result rounded back to the input's dtype, as PyTorch's CUDA kernels
  accumulate: a sum over 65,536 pixels passes float16's maximum of 65,504.
- a ``meta`` tensor has a shape and a dtype but no values: value checks (labels
  in range, targets in [0, 1]) are skipped for it, and a function that must
  read values refuses it with :func:`require_values`.
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


def _is_meta(x: Array) -> bool:
    return isinstance(x, torch.Tensor) and x.device.type == "meta"


def _is_real_scalar(value: object) -> bool:
    """A Python or NumPy int or float (bool excluded)."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


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


def require_float_dtype(dtype: object, name: str = "dtype") -> None:
    """Raise TypeError unless ``dtype`` is a floating-point ``torch.dtype``."""
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"{name} must be a floating-point torch.dtype; got {dtype!r}")


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
    if _size(x) == 0 or _is_meta(x):
        return
    lo, hi = min_max(x)
    if 0 <= lo and hi < top:
        return
    # in int64: PyTorch compares a narrow dtype with a Python int it cannot hold by wrapping
    # the int (uint8 50 >= 300 is True, as 300 becomes 44)
    x = x.long() if isinstance(x, torch.Tensor) else x.astype(np.int64, copy=False)
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
    """Check floating targets with every value in ``[0, 1]`` (NaN is not: a target must say what is right)."""
    require_floating(targets, name)
    if _size(targets) and not _is_meta(targets):
        lo, hi = float(targets.min()), float(targets.max())  # NaN if any value is NaN
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"{name} must lie in [0, 1]; got NaN")
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


def require_positive(value: float, name: str) -> float:
    """Return ``value`` as a float; TypeError unless it is a real number, ValueError unless finite and > 0."""
    if not _is_real_scalar(value):
        raise TypeError(f"{name} must be a number; got {_type_name(value)}")
    if not (0.0 < float(value) < float("inf")):
        raise ValueError(f"{name} must be positive and finite; got {value}")
    return float(value)


def require_int(value: object, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int; TypeError unless it is an integer, ValueError outside ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return int(value)


def require_bool(value: object, name: str) -> bool:
    """Return ``value`` as a bool; TypeError unless it is a Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {_type_name(value)} {value!r}")
    return bool(value)


def require_number(value: object, name: str, minimum: float = -math.inf, maximum: float = math.inf) -> float:
    """Return ``value`` as a float; TypeError unless it is a real number, ValueError unless finite and in range."""
    if not _is_real_scalar(value):
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


def require_dim(dim: object, x: Array, name: str = "dim") -> int:
    """Return ``dim`` as an index in ``[0, x.ndim)``; TypeError unless an int, ValueError unless one of ``x``'s axes."""
    dim = require_int(dim, name, minimum=-x.ndim)
    if dim >= x.ndim:
        raise ValueError(f"{name} must be in [-{x.ndim}, {x.ndim}) for an input of shape {tuple(x.shape)}; got {dim}")
    return dim % x.ndim


def require_same_device(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Raise ValueError unless two tensors are on the same device."""
    if a.device != b.device:
        raise ValueError(f"{a_name} and {b_name} must be on the same device; got {a.device} and {b.device}")


def require_values(x: torch.Tensor, name: str) -> None:
    """Raise ValueError for a ``meta`` tensor where the result depends on the values, which it does not have."""
    if _is_meta(x):
        raise ValueError(f"{name} must hold values: the result depends on them, and a 'meta' tensor has none")


def require_no_nan(x: Array, name: str, why: str = "") -> None:
    """Raise ValueError if ``x`` holds a NaN (``why`` ends the message)."""
    if _is_meta(x) or not _size(x):
        return
    has_nan = bool(torch.isnan(x).any()) if isinstance(x, torch.Tensor) else bool(np.isnan(x).any())
    if has_nan:
        raise ValueError(f"{name} must not contain NaN{why}")


def require_module_input(x: torch.Tensor, name: str, module: torch.nn.Module) -> None:
    """Raise unless ``x`` has the floating dtype and the device of ``module``'s parameters."""
    param = next(module.parameters(), None)
    if param is None:
        return
    if x.dtype != param.dtype:
        raise TypeError(f"{name} must have the dtype of the module's parameters, {param.dtype}; got {x.dtype}")
    if x.device != param.device:
        raise ValueError(f"{name} must be on the device of the module's parameters, {param.device}; got {x.device}")


# ----------------------------------------------------------------------------- low-precision input

def upcast(x: Array) -> Array:
    """``x`` in float32 if it is float16 or bfloat16 (tensor or array), else ``x`` itself.

    Sums, means and exponentials of low-precision input are computed in float32
    and the result is rounded back (``.to(x.dtype)``): a float16 sum of 65,536
    ones is ``inf``, and a bfloat16 sum of them stops growing at 256.
    """
    if isinstance(x, torch.Tensor):
        return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return x.astype(np.float32) if x.dtype == np.float16 else x


def ieee() -> np.errstate:
    """NumPy's error state for arithmetic that may meet NaN or infinity: IEEE results, no warnings.

    PyTorch computes ``inf - inf = nan`` silently; the NumPy twins do the same
    inside ``with ieee():``, so that NaN and infinite input give the same result
    in both, and no warning about it.
    """
    return np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore")


def reduce(values: Array, reduction: str) -> Array:
    """Apply ``reduction`` (``none``, ``mean`` or ``sum``) to per-sample values.

    float16 and bfloat16 values are summed in float32 and the result rounded
    back. A mean over zero values is NaN, as in PyTorch.
    """
    if reduction == "none":
        return values
    wide = upcast(values)
    if reduction == "mean" and isinstance(wide, np.ndarray) and wide.size == 0:
        return np.full((), np.nan, dtype=values.dtype)  # what NumPy's mean gives, without its warning
    out = wide.mean() if reduction == "mean" else wide.sum()
    if wide is values:
        return out
    return out.to(values.dtype) if isinstance(values, torch.Tensor) else out.astype(values.dtype)
