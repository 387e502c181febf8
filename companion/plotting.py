"""Figures the chapters share: a grid of first-layer filters on one colour scale.

matplotlib is not a dependency of ``companion`` (the package needs only NumPy
and PyTorch): it is imported inside the functions, so ``import companion``
and ``import companion.plotting`` work without it, and a call raises
``ImportError`` when it is missing (``pip install matplotlib``).

Filters compared side by side must share one colour scale, symmetric about
zero so that white means 0, with a colorbar that says what a colour means:
with a scale per panel, a filter of tiny weights would look as strong as a
filter of large ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from companion._checks import _type_name, require_floating, require_int, require_layout, require_positive


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
