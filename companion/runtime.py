"""Device choice, seeding and portable random draws: the only place the package picks a device.

Library code takes its device from its inputs; notebooks and scripts call
:func:`default_device` once and move data and models there. Random data and
initial weights are drawn on the CPU from a seeded generator and then moved,
because the same seed drives different generators on the CPU and on CUDA.

Seeding is not enough for the same numbers on every machine. PyTorch's CPU
kernels for ``torch.randn`` in float32, for ``uniform_`` and ``normal_`` (so
for every default layer initialisation) and for ``kaiming_uniform_`` even in
float64 use the processor's vector instructions, and a fused multiply-add
rounds differently from a multiply then an add: one seed gives different bits
on an AVX-512, an AVX2 and an older CPU. :func:`randn`, :func:`uniform` and
:func:`init_parameters` draw through the kernels that do not depend on the CPU
(``torch.rand`` and float64 ``torch.randn``) and transform the draws with
separate, correctly rounded operations, so the bits are the same everywhere.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from companion._checks import require_cpu_generator, require_float_dtype, require_int, require_number

Size = int | Sequence[int]


def default_device() -> torch.device:
    """CUDA when a GPU is available, the CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and return a seeded CPU generator.

    Pass the returned generator to the data and initialisation helpers so that
    a notebook draws the same numbers on a laptop, in CI and next to a GPU.
    ``seed`` is an int in ``[0, 2**32 - 1]``, the range NumPy accepts, checked
    before anything is seeded.
    """
    seed = require_int(seed, "seed", minimum=0, maximum=2**32 - 1)  # NumPy's range; a Python int for random.seed
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def _size(size: Size) -> tuple[int, ...]:
    if isinstance(size, (int, np.integer)):
        size = (size,)
    elif isinstance(size, (str, bytes)) or not isinstance(size, Sequence):
        raise TypeError(f"size must be an int or a sequence of ints; got {type(size).__name__} {size!r}")
    return tuple(require_int(d, "size", minimum=0) for d in size)


def randn(size: Size, *, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal samples of shape ``size``, with the same bits on every CPU.

    Drawn in float64 (whose kernel does not depend on the CPU's vector
    instructions), then rounded to ``dtype``. On the CPU; move the result.
    """
    require_cpu_generator(generator)
    require_float_dtype(dtype)
    return torch.randn(_size(size), generator=generator, dtype=torch.float64).to(dtype)


def uniform(
    size: Size, low: float, high: float, *, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Samples uniform on ``[low, high)`` of shape ``size``, with the same bits on every CPU.

    ``low + (high - low) * u`` with ``u = torch.rand(...)`` in float64, as two
    separate operations (``Tensor.uniform_`` fuses them differently on
    different CPUs), then rounded to ``dtype``.
    """
    require_cpu_generator(generator)
    require_float_dtype(dtype)
    low = require_number(low, "low")
    high = require_number(high, "high")
    if not low <= high:
        raise ValueError(f"low must be <= high; got low={low}, high={high}")
    largest = torch.finfo(dtype).max
    if not (math.isfinite(high - low) and -largest <= low and high <= largest):
        raise ValueError(f"low and high must lie within {dtype}'s range, and high - low be finite; got low={low}, high={high}")
    u = torch.rand(_size(size), generator=generator, dtype=torch.float64)
    return (low + (high - low) * u).to(dtype)


# Layers whose default initialisation is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
# weight and the bias: kaiming_uniform_(a=sqrt(5)) gives exactly that bound.
_FAN_IN_UNIFORM = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)


def init_parameters(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw ``module``'s random initial weights from ``generator``, with the same bits on every CPU.

    Every ``nn.Linear`` and convolution (transposed included) gets PyTorch's
    own default distribution, weight and bias uniform on
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, drawn with :func:`uniform`;
    ``nn.Embedding`` gets N(0, 1) from :func:`randn`; normalisation layers
    are reset to their constant initial values. Any other layer that holds
    parameters raises ``TypeError``: it is not known how PyTorch draws it.
    Parameters registered directly on a custom module are left as they are
    (initialise them from constants or from ``generator``). A module that
    starts some of its layers at constants (the zero last layer of
    :class:`companion.mixing.GatedMix`) defines ``reset_constant_parameters()``;
    it is called after the draws, so that those constants survive.

    Returns ``module``, so that ``init_parameters(Net(), gen).to(device)`` reads as one step.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    require_cpu_generator(generator)
    for layer in module.modules():
        own = dict(layer.named_parameters(recurse=False))
        if not own:
            continue
        with torch.no_grad():
            if isinstance(layer, _FAN_IN_UNIFORM):
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                for p in own.values():
                    p.copy_(uniform(p.shape, -bound, bound, generator=generator, dtype=p.dtype))
            elif isinstance(layer, nn.Embedding):
                layer.weight.copy_(randn(layer.weight.shape, generator=generator, dtype=layer.weight.dtype))
                if layer.padding_idx is not None:
                    layer.weight[layer.padding_idx].zero_()
            elif isinstance(layer, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
                layer.reset_parameters()  # ones and zeros: the same everywhere
            elif type(layer).__module__.startswith("torch.nn"):
                raise TypeError(
                    f"init_parameters does not know how PyTorch initialises {type(layer).__name__}; "
                    "initialise it by hand from the generator"
                )
    for layer in module.modules():
        reset = getattr(layer, "reset_constant_parameters", None)
        if callable(reset):
            with torch.no_grad():
                reset()
    return module


def spawn(generator: torch.Generator) -> torch.Generator:
    """A new CPU generator seeded from one draw of ``generator``.

    For a second stream of random numbers (the order of mini-batches, say)
    that still follows the one seed a notebook sets, and that the first stream
    does not disturb: drawing more data later does not change the batches.
    """
    require_cpu_generator(generator)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator().manual_seed(seed)


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A NumPy generator seeded from one draw of the CPU ``generator``: NumPy code under the same seed."""
    require_cpu_generator(generator)
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
