"""Small synthetic data sets, generated on the CPU from a seeded generator.

Every generator takes a ``torch.Generator`` (see
:func:`companion.runtime.seed_everything`) and returns CPU tensors; move them
to a device afterwards, so that the same seed gives the same data everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from companion._checks import require_positive


def _require_count(value: int, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")


def _require_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator; got {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU generator (data is drawn on the CPU); got one on {generator.device}")


def make_blobs(
    num_samples: int,
    num_classes: int,
    *,
    generator: torch.Generator,
    num_features: int = 2,
    radius: float = 3.0,
    spread: float = 1.0,
    class_weights: Sequence[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs, one per class, with centres evenly spaced on a circle.

    The centres lie on a circle of ``radius`` in the first two features (the
    other features are pure noise); each point is its centre plus Gaussian
    noise of standard deviation ``spread``. Classes are drawn with
    probabilities proportional to ``class_weights`` (uniform by default), so
    an imbalanced binary set is ``num_classes=2, class_weights=(9, 1)``.

    Returns:
        inputs: (N, F) float32. labels: (N,) int64 in ``[0, num_classes)``.
    """
    _require_count(num_samples, "num_samples")
    _require_count(num_classes, "num_classes", minimum=2)
    _require_count(num_features, "num_features", minimum=2)
    require_positive(radius, "radius")
    require_positive(spread, "spread")
    _require_generator(generator)
    weights = torch.ones(num_classes) if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
    if weights.shape != (num_classes,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"class_weights must be {num_classes} non-negative numbers, not all zero; got {list(class_weights)}"
        )
    labels = torch.multinomial(weights, num_samples, replacement=True, generator=generator)  # (N,)
    angles = 2 * math.pi * torch.arange(num_classes) / num_classes
    centres = torch.zeros(num_classes, num_features)
    centres[:, 0], centres[:, 1] = radius * torch.cos(angles), radius * torch.sin(angles)
    noise = spread * torch.randn(num_samples, num_features, generator=generator)
    return centres[labels] + noise, labels
