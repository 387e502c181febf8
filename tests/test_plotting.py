"""companion.plotting: one symmetric colour scale shared by every panel, the right number of axes, clear errors."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from companion.plotting import filter_grid, segmentation_grid
from companion.segmentation_data import LABEL_COLOURS


def test_companion_imports_without_matplotlib_and_says_what_is_missing(monkeypatch):
    code = "import sys, companion, companion.plotting; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)  # importing does not pull matplotlib in
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # as if matplotlib were not installed
    with pytest.raises(ImportError, match="filter_grid needs matplotlib"):
        filter_grid(np.ones((1, 1, 3, 3)))


@pytest.fixture
def plt():
    """matplotlib's pyplot on the Agg backend (the tests that draw need matplotlib); figures closed after each test."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def images(fig):
    """The image of every panel, in reading order."""
    return [ax.images[0] for ax in fig.axes if ax.images]


def test_one_channel_filters_share_one_symmetric_scale(device, generator, plt):
    weights = torch.randn(10, 1, 3, 3, generator=generator, dtype=torch.float64).to(device)
    fig = filter_grid(weights, ncols=5)
    panels = images(fig)
    largest = weights.abs().max().item()
    assert len(panels) == 10 and len(fig.axes) == 11  # ten panels and the colorbar
    assert {im.get_clim() for im in panels} == {(-largest, largest)}
    for image, kernel in zip(panels, weights[:, 0].cpu().numpy()):
        np.testing.assert_array_equal(np.asarray(image.get_array()), kernel)
    colorbar_axes = [ax for ax in fig.axes if not ax.images]
    assert len(colorbar_axes) == 1 and colorbar_axes[0].get_ylabel() == "weight"
    assert [ax.get_title() for ax in fig.axes if ax.images] == [str(i) for i in range(10)]


def test_unused_grid_cells_are_removed_and_labels_apply(plt):
    weights = np.arange(7 * 4, dtype=np.float32).reshape(7, 1, 2, 2) - 10
    fig = filter_grid(weights, ncols=3, titles=list("abcdefg"), row_labels=["r0", "r1", "r2"], vmax=30, title="t")
    assert len(fig.axes) == 8  # 7 panels in a 3 x 3 grid, the 2 empty cells removed, and the colorbar
    assert {im.get_clim() for im in images(fig)} == {(-30.0, 30.0)}
    panel_axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panel_axes] == list("abcdefg")
    assert [panel_axes[i].get_ylabel() for i in (0, 3, 6)] == ["r0", "r1", "r2"]
    assert fig._suptitle.get_text() == "t"


def test_several_channels_one_row_per_filter(generator, plt):
    weights = torch.randn(4, 3, 5, 5, generator=generator)
    fig = filter_grid(weights)
    panels = images(fig)
    assert len(panels) == 12 and len(fig.axes) == 13
    largest = weights.abs().max().item()
    assert {im.get_clim() for im in panels} == {(-largest, largest)}
    np.testing.assert_array_equal(np.asarray(panels[5].get_array()), weights[1, 2].double().numpy())  # filter 1, channel 2
    panel_axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panel_axes[:3]] == ["channel 0", "channel 1", "channel 2"]
    assert panel_axes[3].get_ylabel() == "filter 1"


def test_all_zero_filters_still_get_a_scale(plt):
    fig = filter_grid(np.zeros((2, 1, 3, 3)))
    assert {im.get_clim() for im in images(fig)} == {(-1.0, 1.0)}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"weights": [[1.0]]}, TypeError, "weights must be a torch.Tensor or a numpy.ndarray"),
        ({"weights": np.zeros((2, 3, 3))}, ValueError, r"weights must have shape \(O, C, kH, kW\)"),
        ({"weights": np.zeros((2, 1, 3, 3), dtype=np.int64)}, TypeError, "weights must have a floating-point dtype"),
        ({"weights": np.zeros((0, 1, 3, 3))}, ValueError, "at least one filter"),
        ({"weights": np.full((1, 1, 3, 3), np.nan)}, ValueError, "weights must be finite"),
        ({"weights": torch.zeros(1, 1, 3, 3, device="meta")}, ValueError, "weights must hold values"),
        ({"weights": np.zeros((2, 1, 3, 3)), "ncols": 0}, ValueError, "ncols must be >= 1"),
        ({"weights": np.zeros((2, 3, 3, 3)), "ncols": 2}, ValueError, "ncols must be None or C = 3"),
        ({"weights": np.zeros((2, 1, 3, 3)), "vmax": -1.0}, ValueError, "vmax must be positive"),
        ({"weights": np.zeros((2, 1, 3, 3)), "titles": ["a"]}, ValueError, "titles must have one entry per filter"),
        ({"weights": np.zeros((2, 1, 3, 3)), "titles": "ab"}, TypeError, "titles must be a sequence of strings"),
        ({"weights": np.zeros((4, 1, 3, 3)), "ncols": 2, "row_labels": ["a"]}, ValueError, r"row_labels must have one entry per row of panels \(2\)"),
        ({"weights": np.zeros((2, 1, 3, 3)), "cmap": 3}, TypeError, "cmap must be the name"),
    ],
)
def test_bad_input(kwargs, error, message, plt):
    with pytest.raises(error, match=message):
        filter_grid(**kwargs)
    assert not plt.get_fignums()  # checked before any figure is made


def test_segmentation_grid_draws_one_row_per_image_with_fixed_class_colours(plt):
    images = np.random.default_rng(0).random((3, 3, 8, 8))
    labels = torch.arange(3 * 64).reshape(3, 8, 8) % 3
    prediction = torch.zeros(3, 8, 8, dtype=torch.int64)
    fig = segmentation_grid(images, labels, prediction, labels, class_names=["background", "square", "disc"])
    assert len(fig.axes) == 3 * 4  # image, label and two predictions per row
    assert [ax.get_title() for ax in fig.axes[:4]] == ["image", "label", "prediction 0", "prediction 1"]
    label_panel = fig.axes[1].images[0]
    np.testing.assert_array_equal(np.asarray(label_panel.get_array()), labels[0].numpy())
    # class k is drawn in LABEL_COLOURS[k], whatever the figure
    rgba = label_panel.to_rgba(np.arange(3))[:, :3]
    np.testing.assert_allclose(rgba, LABEL_COLOURS[:3].numpy(), atol=1e-6)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["background", "square", "disc"]


def test_segmentation_grid_rejects_bad_input(plt):
    images = np.zeros((2, 3, 8, 8))
    labels = torch.zeros(2, 8, 8, dtype=torch.int64)
    names = ["background", "square"]
    with pytest.raises(ValueError, match=r"images must have shape \(N, 3, H, W\) with N >= 1; got shape \(2, 8, 8, 3\)"):
        segmentation_grid(images.transpose(0, 2, 3, 1), labels, class_names=names)
    with pytest.raises(ValueError, match=r"predictions\[0\] must have shape \(N, H, W\) = \(2, 8, 8\); got shape \(2, 2, 8, 8\)"):
        segmentation_grid(images, labels, torch.zeros(2, 2, 8, 8, dtype=torch.int64), class_names=names)
    with pytest.raises(TypeError, match="labels must hold integer class indices; got dtype torch.float32"):
        segmentation_grid(images, labels.float(), class_names=names)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\) for C = 2 classes"):
        segmentation_grid(images, labels + 2, class_names=names)
    with pytest.raises(ValueError, match="class_names must name 1 to 5 classes; got 6"):
        segmentation_grid(images, labels, class_names=list("abcdef"))
    with pytest.raises(ValueError, match=r"titles must have one entry per column \(image, label, predictions\) \(2\); got 3"):
        segmentation_grid(images, labels, class_names=names, titles=["a", "b", "c"])
