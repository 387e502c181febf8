"""Synthetic data sets: deterministic, CPU-generated, shaped as documented."""

import pytest
import torch

from companion.data import SHAPE_NAMES, make_blobs, make_shape_images


def test_make_blobs_is_deterministic_and_shaped(generator):
    x, y = make_blobs(100, 3, generator=generator, num_features=4)
    x2, y2 = make_blobs(100, 3, generator=torch.Generator().manual_seed(0), num_features=4)
    assert x.shape == (100, 4) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert y.shape == (100,) and y.dtype == torch.int64 and set(y.tolist()) == {0, 1, 2}
    torch.testing.assert_close(x, x2)
    assert torch.equal(y, y2)


def test_make_blobs_class_weights_control_the_class_shares(generator):
    _, y = make_blobs(20_000, 2, generator=generator, class_weights=(9, 1))
    assert y.float().mean().item() == pytest.approx(0.1, abs=0.01)


def test_make_blobs_rejects_bad_arguments(generator):
    with pytest.raises(ValueError, match="class_weights must be 3 non-negative numbers"):
        make_blobs(10, 3, generator=generator, class_weights=(1, 1))
    with pytest.raises(ValueError, match="num_classes must be >= 2; got 1"):
        make_blobs(10, 1, generator=generator)
    with pytest.raises(TypeError, match="generator must be a torch.Generator; got int"):
        make_blobs(10, 2, generator=0)
    with pytest.raises(ValueError, match="spread must be positive and finite; got 0"):
        make_blobs(10, 2, generator=generator, spread=0)


def test_make_shape_images_draws_one_object_per_image(generator):
    images, labels, masks = make_shape_images(300, generator=generator)
    assert images.shape == (300, 1, 24, 24) and images.dtype == torch.float32
    assert labels.shape == (300,) and set(labels.tolist()) == {0, 1, 2}
    areas = {SHAPE_NAMES[k]: int(masks[labels == k][0].sum()) for k in range(3)}
    assert areas == {"square": 49, "ring": 44, "cross": 45}
    assert all(int(m.sum()) == areas[SHAPE_NAMES[k]] for m, k in zip(masks, labels.tolist()))  # never clipped
    inside = images[:, 0][masks].mean() - images[:, 0][~masks].mean()
    assert inside.item() == pytest.approx(1.0, abs=0.05)  # the object is 1 brighter than the background
    again = make_shape_images(300, generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, again[0]) and torch.equal(labels, again[1])


def test_make_shape_images_rejects_bad_arguments(generator):
    with pytest.raises(ValueError, match="size must be >= 11; got 8"):
        make_shape_images(10, generator=generator, size=8)
    with pytest.raises(ValueError, match="noise must be positive and finite; got 0"):
        make_shape_images(10, generator=generator, noise=0)
