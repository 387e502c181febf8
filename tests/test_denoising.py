"""The denoising data and autoencoder: shapes, ranges, determinism, the layers it promises, bad input."""

import pytest
import torch
from torch import nn

from companion.denoising import SENSOR_MAX, DenoisingAutoencoder, make_denoising_pairs
from companion.runtime import init_parameters


def test_pairs_shapes_ranges_and_determinism():
    clean, noisy = make_denoising_pairs(20, generator=torch.Generator().manual_seed(0), size=12, spots=2)
    again = make_denoising_pairs(20, generator=torch.Generator().manual_seed(0), size=12, spots=2)
    assert clean.shape == noisy.shape == (20, 1, 12, 12) and clean.dtype == torch.float64
    assert torch.equal(clean, again[0]) and torch.equal(noisy, again[1])
    assert clean.min() >= 200.0 and clean.max() < SENSOR_MAX
    assert noisy.min() >= 0 and noisy.max() == SENSOR_MAX


def test_noise_and_hot_pixels():
    gen = torch.Generator().manual_seed(1)
    clean, noisy = make_denoising_pairs(400, generator=gen, noise=50.0, hot_pixel_rate=0.01)
    hot = noisy == SENSOR_MAX
    assert abs(hot.double().mean().item() - 0.01) < 0.002
    residual = (noisy - clean)[~hot]
    assert abs(residual.std().item() - 50.0) < 1.0 and abs(residual.mean().item()) < 1.0
    quiet, _ = make_denoising_pairs(5, generator=gen, noise=0.0, hot_pixel_rate=0.0)
    c, n = make_denoising_pairs(5, generator=torch.Generator().manual_seed(2), noise=0.0, hot_pixel_rate=0.0)
    assert torch.equal(c, n) and quiet.shape == (5, 1, 16, 16)
    assert make_denoising_pairs(0, generator=gen)[0].shape == (0, 1, 16, 16)


def test_pairs_bad_input():
    gen = torch.Generator().manual_seed(0)
    for kwargs, name in (({"size": 0}, "size"), ({"noise": -1.0}, "noise"), ({"hot_pixel_rate": 2.0}, "hot_pixel_rate"),
                         ({"brightness": (5.0,)}, "brightness"), ({"brightness": (9.0, 1.0)}, "brightness")):
        with pytest.raises(ValueError, match=name):
            make_denoising_pairs(3, generator=gen, **kwargs)
    with pytest.raises(TypeError, match="generator"):
        make_denoising_pairs(3, generator=None)


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_autoencoder_layers_and_range(device, output):
    model = init_parameters(DenoisingAutoencoder(channels=2, width=4, output=output), torch.Generator().manual_seed(0))
    model = model.to(device, torch.float64)
    x = 10 * torch.randn(3, 2, 8, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(device)
    y = model(x)
    assert y.shape == x.shape and y.device == x.device
    # the layers it promises, by hand: conv, ReLU, pool, conv, ReLU, upsample, conv, activation
    c1, c2, c3 = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    h = torch.relu(c2(torch.max_pool2d(torch.relu(c1(x)), 2)))
    h = c3(h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
    torch.testing.assert_close(y, torch.sigmoid(h) if output == "sigmoid" else h)
    if output == "sigmoid":
        assert 0 < y.min() and y.max() < 1
    else:
        assert y.min() < 0 < y.max()
    assert model(x[:0]).shape == (0, 2, 8, 12)


def test_autoencoder_gradients(device):
    model = init_parameters(DenoisingAutoencoder(width=3), torch.Generator().manual_seed(0)).to(device, torch.float64)
    x = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(device)
    weight = next(model.parameters())
    assert torch.autograd.gradcheck(lambda w: torch.func.functional_call(model, {"encoder.0.weight": w}, (x,)), (weight.detach().requires_grad_(),))


def test_autoencoder_bad_input():
    with pytest.raises(ValueError, match="output"):
        DenoisingAutoencoder(output="relu")
    with pytest.raises(ValueError, match="width"):
        DenoisingAutoencoder(width=0)
    model = DenoisingAutoencoder()
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(1, 3, 4, 4))
    with pytest.raises(TypeError, match="x"):
        model(torch.zeros(1, 1, 4, 4, dtype=torch.float64))
