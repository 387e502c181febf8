"""Coordinate networks: the encodings against brute-force formulas, the kernel they approximate, shapes, determinism, errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from companion import coordinate_networks as cn
from companion.runtime import randn


def loop_fourier(x: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """[cos(2 pi x.b_k)..., sin(2 pi x.b_k)...] one point and one frequency at a time, in float64."""
    n, m = x.shape[0], projection.shape[1]
    out = torch.zeros(n, 2 * m, dtype=torch.float64)
    for i in range(n):
        for k in range(m):
            angle = 2 * math.pi * sum(float(x[i, d]) * float(projection[d, k]) for d in range(x.shape[1]))
            out[i, k], out[i, m + k] = math.cos(angle), math.sin(angle)
    return out


def loop_rbf(x: torch.Tensor, centres: torch.Tensor, width: float) -> torch.Tensor:
    """exp(-|x_i - c_k|^2 / (2 w^2)) one point and one centre at a time, in float64."""
    out = torch.zeros(x.shape[0], centres.shape[0], dtype=torch.float64)
    for i in range(x.shape[0]):
        for k in range(centres.shape[0]):
            squared = sum((float(x[i, d]) - float(centres[k, d])) ** 2 for d in range(x.shape[1]))
            out[i, k] = math.exp(-squared / (2 * width**2))
    return out


# ----------------------------------------------------------------------------- inputs and the test image


def test_pixel_coordinates_are_the_askers_grid():
    coords = cn.pixel_coordinates(3, 4)
    assert coords.shape == (12, 2) and coords.dtype == torch.float64
    expected = [((i + 1) / 3, (j + 1) / 4) for i in range(3) for j in range(4)]  # row by row
    torch.testing.assert_close(coords, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=0)
    assert coords.min() > 0 and coords.max() == 1.0
    assert cn.pixel_coordinates(2, 2, dtype=torch.float32).dtype == torch.float32


def test_two_colour_image_is_fixed_two_coloured_and_has_detail():
    image = cn.two_colour_image()
    assert image.shape == (80, 80) and image.dtype == torch.int64
    assert set(image.unique().tolist()) == {0, 1}
    assert torch.equal(image, cn.two_colour_image(80, 80))
    assert 0.25 < image.double().mean() < 0.35  # colour 1 is the minority, about 30%
    # sharp detail: the stripes alternate every 2 columns, so some row changes colour at least 10 times
    changes = (image[:, 1:] != image[:, :-1]).sum(dim=1)
    assert changes.max() >= 10
    # the disc of radius 0.17 around (0.27, 0.25), checked pixel by pixel
    for i, j in [(21, 20), (8, 20), (21, 7), (35, 20), (21, 35)]:
        y, x = (i + 0.5) / 80, (j + 0.5) / 80
        inside = (y - 0.27) ** 2 + (x - 0.25) ** 2 < 0.17**2
        assert not inside or image[i, j] == 1
    assert cn.two_colour_image(40, 30).shape == (40, 30)


# ----------------------------------------------------------------------------- Fourier features


def test_gaussian_projection_is_scale_times_runtime_randn(generator):
    state = generator.get_state()
    projection = cn.gaussian_projection(2, 7, 3.5, generator=generator, dtype=torch.float64)
    generator.set_state(state)
    torch.testing.assert_close(projection, 3.5 * randn((2, 7), generator=generator, dtype=torch.float64), rtol=0, atol=0)
    assert cn.gaussian_projection(2, 7, 3.5, generator=torch.Generator().manual_seed(1)).dtype == torch.float32


def test_gaussian_projection_is_deterministic_given_the_generator():
    draw = lambda seed: cn.gaussian_projection(3, 5, 2.0, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(4), draw(4)) and not torch.equal(draw(4), draw(5))


def test_gaussian_projection_has_the_requested_spread():
    projection = cn.gaussian_projection(2, 20_000, 6.0, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # 40,000 draws: the standard deviation is within 2% of 6 (its standard error is 6 / sqrt(80,000) = 0.02)
    assert abs(projection.std().item() - 6.0) < 0.12 and abs(projection.mean().item()) < 0.12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fourier_features_match_the_loop(device, generator, dtype):
    x = torch.rand(9, 3, generator=generator, dtype=torch.float64)
    projection = randn((3, 4), generator=generator, dtype=torch.float64) * 2
    got = cn.fourier_features(x.to(device, dtype), projection.to(device))
    assert got.shape == (9, 8) and got.dtype == dtype and got.device.type == device.type
    tol = dict(rtol=0, atol=1e-12) if dtype == torch.float64 else dict(rtol=0, atol=2e-5)
    torch.testing.assert_close(got.cpu().double(), loop_fourier(x, projection), **tol)
    np.testing.assert_allclose(cn.fourier_features_np(x.numpy(), projection.numpy()), loop_fourier(x, projection).numpy(), atol=1e-12)


def test_fourier_features_approximate_the_gaussian_kernel():
    # E[cos(2 pi b.(x - y))] = exp(-2 pi^2 s^2 |x - y|^2) for b ~ N(0, s^2 I): random Fourier features (Rahimi and Recht)
    scale, m = 3.0, 40_000
    projection = cn.gaussian_projection(2, m, scale, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.tensor([[0.2, 0.3], [0.25, 0.3], [0.2, 0.4], [0.6, 0.9]], dtype=torch.float64)
    features = cn.fourier_features(x, projection)
    estimate = features @ features.T / m  # (4, 4): the mean of cos.cos + sin.sin = cos of the difference
    exact = torch.exp(-2 * math.pi**2 * scale**2 * torch.cdist(x, x) ** 2)
    assert (estimate - exact).abs().max() < 5 / math.sqrt(m)  # 5 standard errors at most
    assert exact[0, 1] > 0.5 and exact[0, 3] < 1e-6  # near points correlate, far ones do not


def test_fourier_features_of_nothing_and_of_low_precision(generator):
    projection = cn.gaussian_projection(2, 3, 1.0, generator=generator)
    assert cn.fourier_features(torch.zeros(0, 2), projection).shape == (0, 6)
    x = torch.rand(5, 2, generator=generator)
    half = cn.fourier_features(x.half(), projection)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), cn.fourier_features(x.half().float(), projection), rtol=0, atol=1e-3)


# ----------------------------------------------------------------------------- radial basis functions


def test_grid_centres_match_the_loop():
    centres = cn.grid_centres(3)
    expected = torch.tensor([[(i + 0.5) / 3, (j + 0.5) / 3] for i in range(3) for j in range(3)], dtype=torch.float64)
    torch.testing.assert_close(centres, expected, rtol=0, atol=0)
    assert cn.grid_centres(2, 3).shape == (8, 3) and cn.grid_centres(4, 1).shape == (4, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rbf_features_match_the_loop(device, generator, dtype):
    x = torch.rand(7, 2, generator=generator, dtype=torch.float64)
    centres = cn.grid_centres(4)
    got = cn.rbf_features(x.to(device, dtype), centres.to(device), 0.2)
    assert got.shape == (7, 16) and got.dtype == dtype and got.device.type == device.type
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got.cpu().double(), loop_rbf(x, centres, 0.2), **tol)
    np.testing.assert_allclose(cn.rbf_features_np(x.numpy(), centres.numpy(), 0.2), loop_rbf(x, centres, 0.2).numpy(), rtol=1e-12)


def test_rbf_feature_is_one_at_its_centre_and_falls_with_the_width():
    centres = cn.grid_centres(5)
    at_centres = cn.rbf_features(centres, centres, 0.05)
    torch.testing.assert_close(at_centres.diagonal(), torch.ones(25, dtype=torch.float64), rtol=0, atol=0)
    # one grid spacing (0.2) away: exp(-0.04 / (2 w^2))
    torch.testing.assert_close(at_centres[0, 1], torch.tensor(math.exp(-0.04 / 0.005), dtype=torch.float64))
    assert cn.rbf_features(torch.zeros(0, 2), centres, 0.1).shape == (0, 25)


# ----------------------------------------------------------------------------- layers and the MLP


def test_layers_equal_the_functions_and_follow_to(device, generator):
    x = torch.rand(6, 2, generator=generator, dtype=torch.float64)
    fourier = cn.FourierFeatures(2, 5, 4.0, generator=torch.Generator().manual_seed(3))
    assert fourier.projection.dtype == torch.float32 and list(fourier.parameters()) == []
    same = cn.gaussian_projection(2, 5, 4.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fourier.projection, same)
    fourier = fourier.to(device, torch.float64)
    torch.testing.assert_close(fourier(x.to(device)).cpu(), cn.fourier_features(x, same.double()), rtol=0, atol=1e-12)
    rbf = cn.RBFFeatures(cn.grid_centres(3), 0.1).to(device)
    assert list(rbf.parameters()) == [] and (rbf.in_features, rbf.out_features) == (2, 9)
    torch.testing.assert_close(rbf(x.to(device)).cpu(), cn.rbf_features(x, cn.grid_centres(3), 0.1))
    assert "scale=4.0" in repr(fourier) and "width=0.1" in repr(rbf)


def test_rbf_layer_keeps_its_own_copy_of_the_centres():
    centres = cn.grid_centres(2)
    layer = cn.RBFFeatures(centres, 0.3)
    centres += 1
    torch.testing.assert_close(layer.centres, cn.grid_centres(2))


def test_coordinate_mlp_layers_and_shapes(generator):
    plain = cn.coordinate_mlp([100], activation="sigmoid")
    assert [type(m) for m in plain] == [nn.Linear, nn.Sigmoid, nn.Linear]
    assert sum(p.numel() for p in plain.parameters()) == 2 * 100 + 100 + 100 * 2 + 2  # the thread's "about 500 weights"
    deep = cn.coordinate_mlp([8, 8, 8], out_features=3)
    assert [m.out_features for m in deep if isinstance(m, nn.Linear)] == [8, 8, 8, 3]
    encoded = cn.coordinate_mlp([4], encoding=cn.FourierFeatures(2, 6, 1.0, generator=generator))
    assert encoded[1].in_features == 12 and encoded(torch.rand(5, 2)).shape == (5, 2)
    linear = cn.coordinate_mlp([], in_features=25, encoding=None)
    assert len(linear) == 1 and linear[0].in_features == 25


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_the_argument_named(generator):
    x, projection = torch.rand(4, 2), torch.rand(2, 3)
    with pytest.raises(ValueError, match=r"projection must have shape \(d, m\) with d = 2.*\(3, 3\)"):
        cn.fourier_features(x, torch.rand(3, 3))
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        cn.fourier_features(x.long(), projection)
    with pytest.raises(ValueError, match=r"x must have shape \(N, d\); got shape \(4,\)"):
        cn.fourier_features(x[:, 0], projection)
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        cn.fourier_features_np(x, projection.numpy())
    with pytest.raises(ValueError, match=r"centres must have shape \(K, d\) with d = 2.*\(5, 3\)"):
        cn.rbf_features(x, torch.rand(5, 3), 0.1)
    with pytest.raises(ValueError, match="width must be positive"):
        cn.rbf_features(x, torch.rand(5, 2), 0.0)
    with pytest.raises(ValueError, match="scale must be positive"):
        cn.gaussian_projection(2, 3, -1.0, generator=generator)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        cn.FourierFeatures(2, 3, 1.0, generator=0)
    with pytest.raises(ValueError, match="activation must be one of"):
        cn.coordinate_mlp([3], activation="gelu")
    with pytest.raises(ValueError, match="encoding must have in_features = 3"):
        cn.coordinate_mlp([3], in_features=3, encoding=cn.RBFFeatures(cn.grid_centres(2), 0.1))
    with pytest.raises(TypeError, match="hidden must be a sequence of ints"):
        cn.coordinate_mlp(100)
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        cn.coordinate_mlp([100, 0])


def test_encodings_pass_gradients_to_the_coordinates(generator):
    # the RBF features are computed partly in place: autograd must still see the right derivatives
    x = torch.rand(5, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    centres, projection = cn.grid_centres(3), randn((2, 3), generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: cn.rbf_features(p, centres, 0.3), (x,))
    assert torch.autograd.gradcheck(lambda p: cn.fourier_features(p, projection), (x,))
