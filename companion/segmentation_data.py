"""A synthetic segmentation data set: coloured shapes of several classes on a noisy background.

Each image holds a few objects; each object is a square, a disc, a triangle
or a cross (classes 1 to 4; 0 is the background), and the label map says
which class every pixel belongs to. ``object_size`` sets the objects'
half-extent in pixels, so the same generator makes objects that fill a good
part of the image or cover well under 1% of it.

Colour: by default (``colours="random"``) every object is painted in a colour
drawn from ``OBJECT_COLOURS``, a set shared by all classes and independent of
the object's class, so the class can only be told from the shape: a rule
that labels a pixel by its nearest palette colour does no better than chance
on object pixels. ``colours="by_class"`` paints every object in its class's
colour ``PALETTE[k]`` (colour alone then labels most pixels), for a
demonstration that is about colour. Either way the background is mid-grey.

``LABEL_COLOURS[k]`` is the colour of class ``k`` in the label maps that
:func:`companion.plotting.segmentation_grid` draws, in every chapter: the
class's ``by_class`` colour, on a dark background.

Generated on the CPU from a seeded ``torch.Generator``; move the tensors to a
device afterwards.
"""

from __future__ import annotations

import numpy as np
import torch

from companion._checks import (
    is_integer,
    require_cpu_generator,
    min_max,
    require_int,
    require_layout,
    require_positive,
    require_same_device,
    require_tensor,
)
from companion.runtime import randn

SHAPE_CLASSES = ("background", "square", "disc", "triangle", "cross")  # label k is SHAPE_CLASSES[k]

# one colour per class (RGB in [0, 1]); the background is mid-grey
PALETTE = torch.tensor(
    [
        [0.5, 0.5, 0.5],  # background
        [0.9, 0.2, 0.2],  # square
        [0.2, 0.8, 0.3],  # disc
        [0.2, 0.4, 0.9],  # triangle
        [0.9, 0.8, 0.2],  # cross
    ]
)

# the colours an object may get with colours="random", whatever its class
OBJECT_COLOURS = PALETTE[1:]

# the colour of class k in every label map of the book (companion.plotting.segmentation_grid):
# the classes keep their by_class colours, the background is dark so that it stands apart
LABEL_COLOURS = torch.cat([torch.tensor([[0.15, 0.15, 0.15]]), PALETTE[1:]])

COLOUR_MODES = ("random", "by_class")


def _require_range_pair(value: tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    if not (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value)
    ):
        raise TypeError(f"{name} must be a pair of ints (low, high); got {value!r}")
    low, high = int(value[0]), int(value[1])
    if not minimum <= low <= high:
        raise ValueError(f"{name} must satisfy {minimum} <= low <= high; got {value}")
    return low, high


def shape_masks(kind: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Pixels covered by each object, by broadcasting.

    Args:
        kind: (N,) shape class in 1..4. dy, dx: (N, H, 1) and (N, 1, W) signed
            offsets of every row and column from the object's centre.
        radius: (N,) half-extent in pixels.
    Returns:
        (N, H, W) bool.
    """
    _check_shape_arguments(kind, dy, dx, radius)
    r = radius[:, None, None]
    square = (dy.abs() <= r) & (dx.abs() <= r)
    disc = dy**2 + dx**2 <= r**2
    triangle = (dy <= r) & (dy >= -r) & (2 * dx.abs() <= dy + r)  # apex up, base at the bottom
    arm = torch.clamp(r // 3, min=0)
    cross = ((dy.abs() <= arm) & (dx.abs() <= r)) | ((dx.abs() <= arm) & (dy.abs() <= r))
    stacked = torch.stack([square, disc, triangle, cross], dim=1)  # (N, 4, H, W)
    return stacked[torch.arange(kind.shape[0]), kind - 1]


def _check_shape_arguments(kind: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, radius: torch.Tensor) -> None:
    for x, name in ((kind, "kind"), (dy, "dy"), (dx, "dx"), (radius, "radius")):
        require_tensor(x, name)
        if x.dtype == torch.bool or x.is_complex():
            raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
        require_same_device(kind, "kind", x, name)
    require_layout(kind, "kind", "(N,)")
    if not is_integer(kind):
        raise TypeError(f"kind must hold integer shape classes; got dtype {kind.dtype}")
    n = kind.shape[0]
    if n and kind.device.type != "meta":
        lo, hi = min_max(kind)
        if lo < 1 or hi >= len(SHAPE_CLASSES):
            raise ValueError(f"kind must lie in [1, {len(SHAPE_CLASSES) - 1}] (a shape class); got values in [{lo}, {hi}]")
    require_layout(dy, "dy", "(N, H, 1)")
    require_layout(dx, "dx", "(N, 1, W)")
    if dy.shape[0] != n or dy.shape[2] != 1:
        raise ValueError(f"dy must have shape (N, H, 1) with N = {n}; got shape {tuple(dy.shape)}")
    if dx.shape[0] != n or dx.shape[1] != 1:
        raise ValueError(f"dx must have shape (N, 1, W) with N = {n}; got shape {tuple(dx.shape)}")
    if tuple(radius.shape) != (n,):
        raise ValueError(f"radius must have shape (N,) = ({n},); got shape {tuple(radius.shape)}")


def make_segmentation_data(
    num_samples: int,
    *,
    generator: torch.Generator,
    size: int = 32,
    num_classes: int = 4,
    object_size: tuple[int, int] = (4, 8),
    objects_per_image: tuple[int, int] = (1, 3),
    noise: float = 0.15,
    colours: str = "random",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images with labelled objects, for per-pixel classification.

    Args:
        num_samples: N. size: the images are size x size.
        num_classes: C, the background plus C - 1 shape classes (2 to 5).
        object_size: (low, high) half-extent of an object in pixels, drawn
            uniformly; a half-extent r gives a square of side 2r + 1.
        objects_per_image: (low, high) number of objects per image, drawn
            uniformly; later objects are drawn over earlier ones.
        noise: standard deviation of the Gaussian noise added to every pixel.
        colours: ``"random"`` (default): each object's colour is drawn
            uniformly from ``OBJECT_COLOURS``, independently of its class, so
            only the shape tells the class. ``"by_class"``: each object has
            its class's colour ``PALETTE[k]``, so colour alone labels most
            pixels. "random" draws one more number per object, so the same
            generator state gives other shapes in the two modes.
    Returns:
        images: (N, 3, size, size) float32. labels: (N, size, size) int64 in [0, C).
    """
    num_samples = require_int(num_samples, "num_samples")
    size = require_int(size, "size", minimum=4)
    num_classes = require_int(num_classes, "num_classes", minimum=2)
    if num_classes > len(SHAPE_CLASSES):
        raise ValueError(f"num_classes must be at most {len(SHAPE_CLASSES)}; got {num_classes}")
    low_r, high_r = _require_range_pair(object_size, "object_size", minimum=0)
    low_k, high_k = _require_range_pair(objects_per_image, "objects_per_image", minimum=0)
    if 2 * high_r + 1 > size:
        raise ValueError(f"object_size's high end {high_r} is too large for size={size} (needs 2 * {high_r} + 1 <= {size})")
    noise = require_positive(noise, "noise")
    require_cpu_generator(generator)
    if not isinstance(colours, str):
        raise TypeError(f"colours must be a str, one of {COLOUR_MODES}; got {type(colours).__name__}")
    if colours not in COLOUR_MODES:
        raise ValueError(f"colours must be one of {COLOUR_MODES}; got {colours!r}")

    n = num_samples
    labels = torch.zeros(n, size, size, dtype=torch.int64)
    paint = torch.zeros(n, size, size, dtype=torch.int64)  # index into PALETTE of every pixel's colour
    counts = torch.randint(low_k, high_k + 1, (n,), generator=generator)  # (N,)
    positions = torch.arange(size)
    for slot in range(high_k):  # a loop over object slots, not pixels
        kind = torch.randint(1, num_classes, (n,), generator=generator)  # (N,)
        radius = torch.randint(low_r, high_r + 1, (n,), generator=generator)  # (N,)
        centre = torch.stack(
            [torch.randint(0, size, (n,), generator=generator), torch.randint(0, size, (n,), generator=generator)], dim=1
        )
        centre = torch.minimum(torch.maximum(centre, radius[:, None]), size - 1 - radius[:, None])  # inside the image
        dy = (positions[None, :, None] - centre[:, 0, None, None])  # (N, size, 1)
        dx = (positions[None, None, :] - centre[:, 1, None, None])  # (N, 1, size)
        if colours == "random":  # drawn after the shape, so "by_class" keeps its old draws
            colour = torch.randint(1, len(PALETTE), (n,), generator=generator)  # (N,) index into PALETTE
        else:
            colour = kind
        drawn = shape_masks(kind, dy, dx, radius) & (slot < counts)[:, None, None]  # (N, size, size)
        labels = torch.where(drawn, kind[:, None, None], labels)
        paint = torch.where(drawn, colour[:, None, None], paint)
    images = PALETTE[paint].permute(0, 3, 1, 2)  # (N, 3, size, size)
    images = images + noise * randn(images.shape, generator=generator)  # the same bits on every CPU
    return images.contiguous(), labels
