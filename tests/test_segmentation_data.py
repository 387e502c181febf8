"""The synthetic segmentation set and the U-Net."""

import hashlib

import pytest
import torch

from companion.segmentation_data import OBJECT_COLOURS, PALETTE, SHAPE_CLASSES, make_segmentation_data
from companion.unet import UNet


def test_data_is_deterministic_and_shaped(generator):
    images, labels = make_segmentation_data(20, generator=generator, num_classes=5)
    again = make_segmentation_data(20, generator=torch.Generator().manual_seed(0), num_classes=5)
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (20, 32, 32) and labels.dtype == torch.int64
    assert torch.equal(images, again[0]) and torch.equal(labels, again[1])
    assert set(labels.unique().tolist()) == set(range(5))
    assert len(SHAPE_CLASSES) == 5


def _nearest_palette_class(images):
    """The class whose PALETTE colour is nearest to each pixel: (N, 3, H, W) -> (N, H, W)."""
    distances = ((images.permute(0, 2, 3, 1)[..., None, :] - PALETTE) ** 2).sum(dim=-1)  # (N, H, W, 5)
    return distances.argmin(dim=-1)


def test_by_class_gives_each_class_its_colour_under_the_noise(generator):
    images, labels = make_segmentation_data(200, generator=generator, num_classes=4, colours="by_class")
    for k in range(4):
        mean_colour = images.permute(0, 2, 3, 1)[labels == k].mean(dim=0)
        torch.testing.assert_close(mean_colour, PALETTE[k], atol=0.02, rtol=0)
    objects = labels > 0
    assert (_nearest_palette_class(images)[objects] == labels[objects]).float().mean() > 0.9


def test_by_class_keeps_the_draws_of_the_colour_per_class_data():
    # SHA-1 of (images, labels) that make_segmentation_data(8, seed 0, num_classes=5) gave before the
    # colours= option existed, when every object had its class's colour
    images, labels = make_segmentation_data(
        8, generator=torch.Generator().manual_seed(0), num_classes=5, colours="by_class"
    )
    h = hashlib.sha1()
    for t in (images, labels):
        h.update(t.contiguous().numpy().tobytes())
    assert h.hexdigest() == "a1fec70c8dba479520d1d609f9fc256c29103c84"


def test_random_colours_make_colour_useless_for_the_class(generator):
    images, labels = make_segmentation_data(400, generator=generator, num_classes=5)
    objects = labels > 0
    hit = (_nearest_palette_class(images)[objects] == labels[objects]).float().mean().item()
    assert abs(hit - 1 / 4) < 0.03  # chance among four classes; 0.9+ with colours="by_class"
    # the background stays grey, every object colour is one of OBJECT_COLOURS, and each class gets them all
    pixels = images.permute(0, 2, 3, 1)
    torch.testing.assert_close(pixels[~objects].mean(dim=0), PALETTE[0], atol=0.02, rtol=0)
    nearest = _nearest_palette_class(images)
    for k in range(1, 5):
        shares = torch.bincount(nearest[labels == k], minlength=5)[1:].double()
        shares = shares / shares.sum()
        assert shares.min() > 0.1, (k, shares)  # every colour, in pixel shares clustered by object


def test_object_size_controls_the_object_share(generator):
    _, big = make_segmentation_data(50, generator=generator, object_size=(8, 10), objects_per_image=(1, 1))
    _, tiny = make_segmentation_data(50, generator=generator, size=128, object_size=(1, 2), objects_per_image=(1, 1))
    assert (big > 0).float().mean() > 0.1
    share = (tiny > 0).float().mean().item()
    assert 0 < share < 0.01  # objects well under 1% of the pixels
    assert ((tiny > 0).flatten(1).sum(dim=1) > 0).all()  # every image has its object


def test_data_rejects_bad_arguments(generator):
    with pytest.raises(ValueError, match="num_classes must be at most 5; got 6"):
        make_segmentation_data(2, generator=generator, num_classes=6)
    with pytest.raises(ValueError, match="object_size's high end 20 is too large for size=32"):
        make_segmentation_data(2, generator=generator, object_size=(2, 20))
    with pytest.raises(TypeError, match=r"object_size must be a pair of ints \(low, high\); got 3"):
        make_segmentation_data(2, generator=generator, object_size=3)
    with pytest.raises(ValueError, match=r"objects_per_image must satisfy 0 <= low <= high; got \(3, 1\)"):
        make_segmentation_data(2, generator=generator, objects_per_image=(3, 1))
    with pytest.raises(ValueError, match=r"colours must be one of \('random', 'by_class'\); got 'class'"):
        make_segmentation_data(2, generator=generator, colours="class")
    with pytest.raises(TypeError, match="colours must be a str, one of .*; got NoneType"):
        make_segmentation_data(2, generator=generator, colours=None)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unet_keeps_the_resolution_and_gives_one_logit_per_class(device, depth):
    torch.manual_seed(0)
    model = UNet(3, 5, width=4, depth=depth).to(device)
    out = model(torch.zeros(2, 3, 16, 24, device=device))
    assert out.shape == (2, 5, 16, 24) and out.device.type == device.type


def test_unet_rejects_bad_input():
    model = UNet(3, 4, width=4, depth=2)
    with pytest.raises(ValueError, match=r"x must have 3 channels in dim 1 \(N, C, H, W\); got shape \(1, 16, 16, 3\)"):
        model(torch.zeros(1, 16, 16, 3))
    with pytest.raises(ValueError, match="H and W must be divisible by 2\\*\\*depth = 4; got H=10, W=16"):
        model(torch.zeros(1, 3, 10, 16))
