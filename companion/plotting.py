"""Figures the chapters share: a grid of first-layer filters on one colour scale, and segmentation grids.

matplotlib is not a dependency of ``companion`` (the package needs only NumPy
and PyTorch): it is imported inside the functions, so ``import companion``
and ``import companion.plotting`` work without it, and a call raises
``ImportError`` when it is missing (``pip install matplotlib``).

Filters compared side by side must share one colour scale, symmetric about
zero so that white means 0, with a colorbar that says what a colour means:
with a scale per panel, a filter of tiny weights would look as strong as a
filter of large ones.

Label maps (Part 2) are drawn with one fixed colour per class,
``companion.segmentation_data.LABEL_COLOURS``, so that a class has the same
colour in every figure of every chapter, with a legend naming the classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from companion._checks import (
    _type_name,
    require_class_indices,
    require_floating,
    require_in_range,
    require_int,
    require_layout,
    require_positive,
)


def _as_numpy(weights: object, name: str) -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        if weights.device.type == "meta":
            raise ValueError(f"{name} must hold values to draw; got a 'meta' tensor")
        require_floating(weights, name)
        return weights.detach().cpu().double().numpy()
    if isinstance(weights, np.ndarray):
        require_floating(weights, name)
        return weights.astype(np.float64)
    raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {_type_name(weights)}")


def _labels(labels: Sequence[str] | None, count: int, name: str, what: str) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise TypeError(f"{name} must be a sequence of strings, one per {what}; got {_type_name(labels)}")
    if len(labels) != count:
        raise ValueError(f"{name} must have one entry per {what} ({count}); got {len(labels)}")
    return [str(label) for label in labels]


def filter_grid(
    weights,
    *,
    ncols: int | None = None,
    vmax: float | None = None,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    cmap: str = "RdBu_r",
    panel_size: float = 0.9,
    label: str = "weight",
    title: str | None = None,
):
    """Draw convolution filters, one panel per kernel, on one shared symmetric colour scale with a colorbar.

    Args:
        weights: ``(O, C, kH, kW)``, a conv layer's weight (PyTorch layout; a
            Keras kernel ``(kH, kW, C, O)`` converts with
            :func:`companion.conv.kernel_keras_to_torch`), tensor or array.
            ``C = 1``: the ``O`` filters fill rows of ``ncols`` panels.
            ``C > 1``: one row per filter, one panel per input channel.
        ncols: panels per row when ``C = 1`` (default ``min(O, 10)``); must be ``C`` or None when ``C > 1``.
        vmax: the colour scale is ``[-vmax, vmax]``; default the largest
            ``|weight|``. Give the same ``vmax`` to figures that are compared.
        titles: one title per filter (default its index); with ``C > 1`` they label the rows.
        row_labels: one label per row of panels, written left of the row.
        cmap: a diverging colormap, white at its centre.
        panel_size: inches per panel.
        label: the colorbar's label (what the numbers are, with units).
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure``: ``O * C`` image axes, then the colorbar's axes.
    """
    w = _as_numpy(weights, "weights")
    require_layout(w, "weights", "(O, C, kH, kW)")
    n_filters, channels, kh, kw = w.shape
    if min(w.shape) == 0:
        raise ValueError(f"weights must hold at least one filter of at least one pixel; got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weights must be finite to be drawn on one colour scale; got NaN or infinity")
    if channels == 1:
        ncols = min(n_filters, 10) if ncols is None else require_int(ncols, "ncols")
    elif ncols is not None and require_int(ncols, "ncols") != channels:
        raise ValueError(f"ncols must be None or C = {channels} when filters have several channels (one row per filter); got {ncols}")
    else:
        ncols = channels
    nrows = math.ceil(n_filters / ncols) if channels == 1 else n_filters
    titles = _labels(titles, n_filters, "titles", "filter")
    row_labels = _labels(row_labels, nrows, "row_labels", "row of panels")
    largest = float(np.abs(w).max())
    vmax = (largest if largest > 0 else 1.0) if vmax is None else require_positive(vmax, "vmax")
    if not isinstance(cmap, str):
        raise TypeError(f"cmap must be the name of a matplotlib colormap; got {_type_name(cmap)}")
    panel_size = require_positive(panel_size, "panel_size")
    if not isinstance(label, str):
        raise TypeError(f"label must be a string (the colorbar's label); got {_type_name(label)}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None; got {_type_name(title)}")

    try:
        import matplotlib.pyplot as plt  # here, not at the top: matplotlib is optional for companion
    except ImportError as error:
        raise ImportError("filter_grid needs matplotlib, which companion does not install: pip install matplotlib") from error

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols + 1.2, panel_size * nrows + (0.5 if title else 0.2)), squeeze=False
    )
    panels = w[:, 0] if channels == 1 else w.reshape(n_filters * channels, kh, kw)  # (P, kH, kW), in reading order
    image = None
    for index, ax in enumerate(axes.flat):  # a loop over the panels of a figure, not over data
        if index >= len(panels):
            fig.delaxes(ax)
            continue
        image = ax.imshow(panels[index], cmap=cmap, vmin=-vmax, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if channels == 1:
            ax.set_title(titles[index] if titles else str(index), fontsize=8)
        elif index < channels:
            ax.set_title(f"channel {index}", fontsize=8)
    if channels > 1 and row_labels is None:  # one row per filter: its title labels the row
        row_labels = titles if titles else [f"filter {o}" for o in range(n_filters)]
    for row, text in enumerate(row_labels or []):
        axes[row, 0].set_ylabel(text, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=list(fig.axes), fraction=0.04, pad=0.03, label=label)
    return fig


def _label_maps(x: object, name: str, shape: tuple[int, int, int], num_classes: int) -> np.ndarray:
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {_type_name(x)}")
    require_class_indices(x, name)
    if isinstance(x, torch.Tensor):
        if x.device.type == "meta":
            raise ValueError(f"{name} must hold values to draw; got a 'meta' tensor")
        x = x.detach().cpu().numpy()
    if tuple(x.shape) != shape:
        raise ValueError(f"{name} must have shape (N, H, W) = {shape}; got shape {tuple(x.shape)}")
    require_in_range(x, name, num_classes)
    return x


def segmentation_grid(
    images,
    labels,
    *predictions,
    class_names: Sequence[str],
    titles: Sequence[str] | None = None,
    panel_size: float = 1.3,
    title: str | None = None,
):
    """Draw one row per image: the image, its label map, then each prediction, with one fixed colour per class.

    Class ``k`` is drawn in ``companion.segmentation_data.LABEL_COLOURS[k]`` in
    every figure; a legend at the right names the classes.

    Args:
        images: ``(N, 3, H, W)`` floating RGB (values clipped to ``[0, 1]``), tensor or array.
        labels: ``(N, H, W)`` integer class indices in ``[0, K)``.
        *predictions: any number of ``(N, H, W)`` integer class maps (e.g. ``logits.argmax(dim=1)``).
        class_names: the ``K`` class names, ``1 <= K <= len(LABEL_COLOURS)``.
        titles: the column titles, ``2 + len(predictions)`` of them; default
            ``"image"``, ``"label"``, then ``"prediction"`` (or ``"prediction i"`` for several).
        panel_size: inches per panel.
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure``: ``N * (2 + len(predictions))`` axes, in reading order.
    """
    from companion.segmentation_data import LABEL_COLOURS

    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names must be a sequence of strings, one per class; got {_type_name(class_names)}")
    if not 1 <= len(class_names) <= len(LABEL_COLOURS):
        raise ValueError(f"class_names must name 1 to {len(LABEL_COLOURS)} classes; got {len(class_names)}")
    num_classes = len(class_names)
    x = _as_numpy(images, "images")
    require_layout(x, "images", "(N, 3, H, W)")
    if x.shape[1] != 3 or x.shape[0] == 0:
        raise ValueError(f"images must have shape (N, 3, H, W) with N >= 1; got shape {x.shape}")
    shape = (x.shape[0], x.shape[2], x.shape[3])
    maps = [_label_maps(labels, "labels", shape, num_classes)]
    maps += [_label_maps(p, f"predictions[{i}]", shape, num_classes) for i, p in enumerate(predictions)]
    default = ["prediction"] if len(predictions) == 1 else [f"prediction {i}" for i in range(len(predictions))]
    titles = _labels(titles, 1 + len(maps), "titles", "column (image, label, predictions)") or ["image", "label", *default]
    panel_size = require_positive(panel_size, "panel_size")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None; got {_type_name(title)}")

    try:
        import matplotlib.pyplot as plt  # here, not at the top: matplotlib is optional for companion
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
    except ImportError as error:
        raise ImportError("segmentation_grid needs matplotlib, which companion does not install: pip install matplotlib") from error

    colours = LABEL_COLOURS[:num_classes].tolist()
    cmap = ListedColormap(colours)
    rows, cols = shape[0], 1 + len(maps)
    fig, axes = plt.subplots(
        rows, cols, figsize=(panel_size * cols + 1.3, panel_size * rows + (0.5 if title else 0.25)), squeeze=False
    )
    for row in range(rows):  # a loop over the panels of a figure, not over data
        axes[row, 0].imshow(np.clip(x[row].transpose(1, 2, 0), 0, 1), interpolation="nearest")
        for col, m in enumerate(maps, start=1):
            axes[row, col].imshow(m[row], cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5, interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for col, text in enumerate(titles):
        axes[0, col].set_title(text, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    handles = [Patch(facecolor=c, edgecolor="0.5", label=name) for c, name in zip(colours, class_names)]
    fig.tight_layout(rect=(0, 0, panel_size * cols / (panel_size * cols + 1.3), 1))
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False, title="class", title_fontsize=8)
    return fig
