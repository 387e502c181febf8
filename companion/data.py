"""Small synthetic data sets, generated on the CPU from a seeded generator.

Every generator takes a ``torch.Generator`` (see
:func:`companion.runtime.seed_everything`) and returns CPU tensors; move them
to a device afterwards, so that the same seed gives the same data everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from companion._checks import (
    _type_name,
    require_bool,
    require_cpu_generator,
    require_float_dtype,
    require_int,
    require_number,
    require_positive,
)
from companion.runtime import randn, uniform


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
    num_samples = require_int(num_samples, "num_samples")
    num_classes = require_int(num_classes, "num_classes", minimum=2)
    num_features = require_int(num_features, "num_features", minimum=2)
    radius = require_positive(radius, "radius")
    spread = require_positive(spread, "spread")
    require_cpu_generator(generator)
    weights = torch.ones(num_classes) if class_weights is None else _class_weights(class_weights)
    if weights.shape != (num_classes,) or (weights < 0).any() or not weights.sum() > 0:
        raise ValueError(f"class_weights must be {num_classes} non-negative numbers, not all zero; got {class_weights!r}")
    if not bool(torch.isfinite(weights).all()):
        raise ValueError(f"class_weights must be finite; got {class_weights!r}")
    labels = torch.multinomial(weights, num_samples, replacement=True, generator=generator)  # (N,)
    angles = 2 * math.pi * torch.arange(num_classes) / num_classes
    centres = torch.zeros(num_classes, num_features)
    centres[:, 0], centres[:, 1] = radius * torch.cos(angles), radius * torch.sin(angles)
    noise = spread * randn((num_samples, num_features), generator=generator)
    return centres[labels] + noise, labels


def _class_weights(class_weights: object, name: str = "class_weights", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A sequence of numbers as a ``dtype`` tensor; TypeError for anything else (a string, a dict, a tensor of bools)."""
    if isinstance(class_weights, (str, bytes)) or isinstance(class_weights, torch.Tensor) and class_weights.dtype == torch.bool:
        raise TypeError(f"{name} must be a sequence of numbers; got {_type_name(class_weights)} {class_weights!r}")
    try:
        return torch.as_tensor(class_weights, dtype=dtype)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a sequence of numbers; got {_type_name(class_weights)} {class_weights!r}") from None


_VELOCITY_MAP_SEED = 20240515  # fixes the task's hidden map; the generator only draws samples


def make_velocity_task(
    num_samples: int,
    *,
    generator: torch.Generator,
    num_features: int = 8,
    bimodal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``x ~ N(0, I)`` and a 2-D velocity in ``(-1, 1)^2`` that depends smoothly on them.

    ``v = tanh(x A + sin(x B))`` with fixed random maps ``A, B: (F, 2)``
    (entries ``N(0, 1 / F)``). The maps are the same in every call (drawn from
    a fixed seed), so a training set and a test set drawn by two calls
    describe the same task; ``generator`` draws only the samples.

    With ``bimodal=True`` a hidden fair coin flips the sign of both components:
    the same input then has two equally likely answers, ``+v`` and ``-v``.

    Returns:
        inputs: (N, F) float32. velocities: (N, 2) float32, each component in (-1, 1).
    """
    num_samples = require_int(num_samples, "num_samples")
    num_features = require_int(num_features, "num_features")
    require_cpu_generator(generator)
    bimodal = require_bool(bimodal, "bimodal")
    task = torch.Generator().manual_seed(_VELOCITY_MAP_SEED)
    maps = randn((2, num_features, 2), generator=task) / math.sqrt(num_features)  # A, B: (F, 2)
    inputs = randn((num_samples, num_features), generator=generator)  # (N, F)
    velocities = torch.tanh(inputs @ maps[0] + torch.sin(inputs @ maps[1]))  # (N, 2)
    if bimodal:
        sign = 2.0 * torch.randint(0, 2, (num_samples, 1), generator=generator) - 1.0  # (N, 1), +1 or -1
        velocities = sign * velocities
    return inputs, velocities


# ----------------------------------------------------------------------------- token task (chapter 1.6)

SUMMARY_TOKEN = 0  # position of the summary token (like BERT's [CLS]) that carries the question kind
TYPE_FEATURE = 0  # raised on a token that looks like an answer (a date, a name...)
CUE_FEATURE = 1  # raised on a cue token (such as "born in") just before the token it points at
KIND_FEATURE = 2  # on the summary token: +kind_signal for a type question, -kind_signal for a cue question
TYPE_QUESTION, CUE_QUESTION = 0, 1  # the kinds of question


def make_token_task(
    num_samples: int,
    num_tokens: int,
    *,
    generator: torch.Generator,
    num_features: int = 8,
    strong: float = 4.0,
    weak: float = 1.5,
    decoy: float = 4.0,
    type_share: float = 0.3,
    kind_signal: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A span-pointing task where two kinds of evidence locate the answer token.

    Every token's encoding is Gaussian noise; then, for each example:

    - a *type question* (drawn with probability ``type_share``) raises
      ``TYPE_FEATURE`` of the answer token by ``strong`` and ``CUE_FEATURE`` of the
      token before it by ``weak``; a *decoy* token elsewhere gets a cue of ``decoy``;
    - a *cue question* does the opposite: a ``strong`` cue before the answer, a
      ``weak`` type mark on it, and a decoy token with a type mark of ``decoy``;
    - the summary token (position 0) gets ``+kind_signal`` (type question) or
      ``-kind_signal`` (cue question) on ``KIND_FEATURE``.

    So a head that reads each token finds type questions' answers, a head that
    reads the token to the left finds cue questions' answers, each is fooled by
    the other kind's decoy, and only the summary token says which one to trust.
    Answers and decoys are distinct positions in ``[2, num_tokens)``.

    Returns:
        encodings: (N, T, D) float32. answers: (N,) int64 in ``[2, T)``.
        kinds: (N,) int64, ``TYPE_QUESTION`` (0) or ``CUE_QUESTION`` (1).
    """
    num_samples = require_int(num_samples, "num_samples")
    num_tokens = require_int(num_tokens, "num_tokens", minimum=4)
    num_features = require_int(num_features, "num_features", minimum=3)
    strong, weak = require_positive(strong, "strong"), require_positive(weak, "weak")
    decoy, kind_signal = require_positive(decoy, "decoy"), require_positive(kind_signal, "kind_signal")
    type_share = require_number(type_share, "type_share", 0, 1)
    require_cpu_generator(generator)
    n, t = num_samples, num_tokens
    encodings = randn((n, t, num_features), generator=generator)  # (N, T, D)
    kinds = (torch.rand(n, generator=generator) >= type_share).long()  # (N,) 0 = type, 1 = cue
    answers = torch.randint(2, t, (n,), generator=generator)  # (N,)
    # a decoy at a different position in [2, T): shift the answer by 1..T-3, cyclically
    decoys = (answers - 2 + torch.randint(1, t - 2, (n,), generator=generator)) % (t - 2) + 2  # (N,)
    rows = torch.arange(n)
    is_type = kinds == TYPE_QUESTION
    strong_, weak_ = torch.tensor(strong), torch.tensor(weak)
    encodings[rows, answers, TYPE_FEATURE] += torch.where(is_type, strong_, weak_)
    encodings[rows, answers - 1, CUE_FEATURE] += torch.where(is_type, weak_, strong_)
    encodings[rows[is_type], decoys[is_type] - 1, CUE_FEATURE] += decoy  # a cue pointing at the decoy
    encodings[rows[~is_type], decoys[~is_type], TYPE_FEATURE] += decoy  # a decoy that looks like an answer
    encodings[:, SUMMARY_TOKEN, KIND_FEATURE] += torch.where(is_type, kind_signal, -kind_signal)
    return encodings, answers, kinds


# ----------------------------------------------------------------------------- shape images

SHAPE_NAMES = ("square", "ring", "cross")  # label k is SHAPE_NAMES[k]


def make_shape_images(
    num_samples: int, *, generator: torch.Generator, size: int = 24, noise: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noisy images with one bright object each: a filled square, a ring or a cross.

    The three objects have about the same area (49, 44 and 45 pixels), so the
    total brightness does not tell them apart; each is centred at a random
    position at least 5 pixels from the border. Pixel values are 1 on the
    object, 0 elsewhere, plus Gaussian noise of standard deviation ``noise``.

    Returns:
        images: (N, 1, size, size) float32. labels: (N,) int64, indices into
        ``SHAPE_NAMES``. masks: (N, size, size) bool, the object's pixels.
    """
    num_samples = require_int(num_samples, "num_samples")
    size = require_int(size, "size", minimum=11)
    noise = require_positive(noise, "noise")
    require_cpu_generator(generator)
    n = num_samples
    labels = torch.randint(0, len(SHAPE_NAMES), (n,), generator=generator)  # (N,)
    centre = torch.randint(5, size - 5, (n, 2), generator=generator)  # (N, 2): row, column
    positions = torch.arange(size)
    dy = (positions[None, :, None] - centre[:, 0, None, None]).abs()  # (N, size, 1)
    dx = (positions[None, None, :] - centre[:, 1, None, None]).abs()  # (N, 1, size)
    square = (dy <= 3) & (dx <= 3)  # 7 x 7
    ring = (dy**2 + dx**2 <= 17) & (dy**2 + dx**2 >= 5)
    cross = ((dy <= 1) & (dx <= 4)) | ((dx <= 1) & (dy <= 4))  # two 3 x 9 bars
    masks = torch.stack([square, ring, cross], dim=1)[torch.arange(n), labels]  # (N, size, size)
    images = masks.float() + noise * randn((n, size, size), generator=generator)
    return images[:, None], labels, masks


# ----------------------------------------------------------------------------- images with known factors


def make_factor_images(
    num_samples: int,
    num_factors: int,
    *,
    generator: torch.Generator,
    size: int = 8,
    width: float = 2.0,
    contrast: float = 4.0,
    noise: float = 0.02,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB images made by ``num_factors`` independent "lamps": a data set whose number of factors is known.

    Lamp ``k`` is a coloured Gaussian spot (standard deviation ``width``
    pixels, random centre, random colour of unit length); factor ``f_k``, uniform on [-1, 1],
    sets its brightness. Each image is ``sigmoid(2 * sum_k f_k * spot_k)``
    plus Gaussian noise of standard deviation ``noise``: ``num_factors``
    numbers generate every image, through a mild non-linearity.

    Returns:
        images: (N, 3, size, size) of ``dtype``. factors: (N, num_factors) of ``dtype``.
    """
    n = require_int(num_samples, "num_samples")
    k = require_int(num_factors, "num_factors")
    size = require_int(size, "size", minimum=2)
    require_positive(width, "width")
    require_positive(contrast, "contrast")
    require_number(noise, "noise", minimum=0.0)
    require_cpu_generator(generator)
    require_float_dtype(dtype)
    centres = uniform((k, 2), 0.0, size - 1.0, generator=generator, dtype=torch.float64)  # (K, 2) row, column
    colours = uniform((k, 3), -1.0, 1.0, generator=generator, dtype=torch.float64)  # (K, 3)
    colours = colours / colours.norm(dim=1, keepdim=True)  # every lamp equally bright, in its own colour
    grid = torch.arange(size, dtype=torch.float64)
    dist2 = (grid[None, :, None] - centres[:, 0, None, None]) ** 2 + (grid[None, None, :] - centres[:, 1, None, None]) ** 2
    spots = colours[:, :, None, None] * torch.exp(-dist2 / (2 * width**2))[:, None]  # (K, 3, size, size)
    factors = uniform((n, k), -1.0, 1.0, generator=generator, dtype=torch.float64)  # (N, K)
    mixed = (factors[:, :, None, None, None] * spots[None]).sum(dim=1)  # (N, 3, size, size)
    images = torch.sigmoid(contrast * mixed) + noise * randn((n, 3, size, size), generator=generator, dtype=torch.float64)
    return images.to(dtype), factors.to(dtype)


# ----------------------------------------------------------------------------- multi-label task


def make_multilabel_task(
    num_samples: int,
    num_labels: int,
    *,
    generator: torch.Generator,
    count_probs: Sequence[float] = (0.4, 0.3, 0.2, 0.1),
    num_features: int = 32,
    separation: float = 2.0,
    noise: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples with 1 to ``len(count_probs)`` labels each, the count drawn from ``count_probs``.

    Each label has a random prototype of length ``separation`` in
    ``num_features`` dimensions; an example is the sum of its labels'
    prototypes plus Gaussian noise of standard deviation ``noise`` per feature.
    The labels of an example are distinct and chosen uniformly.

    Returns:
        inputs: (N, num_features) of ``dtype``. targets: (N, num_labels) of ``dtype``, 1.0 for each label.
    """
    n = require_int(num_samples, "num_samples", minimum=0)
    c = require_int(num_labels, "num_labels")
    f = require_int(num_features, "num_features")
    require_positive(separation, "separation")
    require_positive(noise, "noise")
    require_cpu_generator(generator)
    require_float_dtype(dtype)
    probs = _class_weights(count_probs, "count_probs", torch.float64)
    if probs.ndim != 1 or not 1 <= len(probs) <= c or (probs < 0).any() or not probs.sum() > 0:
        raise ValueError(f"count_probs must be at most num_labels = {c} non-negative numbers (at least one), not all zero; "
                         f"got {count_probs!r}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(f"count_probs must be finite; got {count_probs!r}")
    prototypes = randn((c, f), generator=generator, dtype=torch.float64)
    prototypes = separation * prototypes / prototypes.norm(dim=1, keepdim=True)  # (C, F)
    counts = torch.multinomial(probs, n, replacement=True, generator=generator) + 1 if n else torch.zeros(0, dtype=torch.long)
    order = torch.rand(n, c, generator=generator, dtype=torch.float64).argsort(dim=1)  # (N, C) a random permutation per row
    rank = order.argsort(dim=1)  # (N, C) position of each label in its row's permutation
    targets = (rank < counts[:, None]).to(torch.float64)  # (N, C) the first `count` labels of the permutation
    inputs = (targets[:, :, None] * prototypes[None]).sum(dim=1) + noise * randn((n, f), generator=generator, dtype=torch.float64)
    return inputs.to(dtype), targets.to(dtype)
