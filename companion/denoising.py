"""Image denoising: noisy and clean image pairs on a sensor's scale, and a small convolutional autoencoder.

:func:`make_denoising_pairs` draws clean images (Gaussian spots on a
background, in the counts of a 12-bit sensor, 0 to 4095) and noisy copies:
Gaussian read noise plus a few "hot" pixels stuck at the sensor's maximum, the
outliers that make min-max scaling fragile (:mod:`companion.normalizers`).

:class:`DenoisingAutoencoder` is the classic convolutional denoiser of the
Keras tutorials, scaled down to one level: a 3x3 convolution with ReLU and
2x2 max pooling down, a 3x3 convolution with ReLU at half resolution (the
code), 2x nearest-neighbour upsampling, a last 3x3 convolution to the image's
channels, and an output activation chosen by the caller:

    (N, C, H, W) -> (N, w, H/2, W/2) -> (N, w, H/2, W/2) -> (N, w, H, W) -> (N, C, H, W)

``output="sigmoid"`` bounds every prediction to (0, 1): right for targets
min-max scaled into [0, 1], unable to reach z-scored targets, which have both
signs. ``output="linear"`` (the identity) predicts any real number.
"""

from __future__ import annotations

import torch
from torch import nn

from companion._checks import (
    require_cpu_generator,
    require_float_dtype,
    require_floating,
    require_int,
    require_layout,
    require_module_input,
    require_number,
    require_tensor,
)
from companion.runtime import randn, uniform

OUTPUTS = ("sigmoid", "linear")
SENSOR_MAX = 4095.0  # a 12-bit sensor's largest count: the data range of make_denoising_pairs


def make_denoising_pairs(
    num_images: int,
    *,
    generator: torch.Generator,
    size: int = 16,
    spots: int = 3,
    background: float = 200.0,
    brightness: tuple[float, float] = (400.0, 1200.0),
    noise: float = 100.0,
    hot_pixel_rate: float = 0.002,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean images and noisy copies, in sensor counts (0 to :data:`SENSOR_MAX`), drawn on the CPU.

    Each clean image is ``background`` plus ``spots`` Gaussian spots (random
    centres, widths uniform in [1.5, 3] pixels, peak brightness uniform in
    ``brightness``). The noisy copy adds Gaussian noise of standard deviation
    ``noise``, sets each pixel with probability ``hot_pixel_rate`` to
    :data:`SENSOR_MAX` (a hot pixel), and clips to [0, SENSOR_MAX] as a sensor does.

    Returns:
        clean, noisy: (N, 1, size, size) of ``dtype``.
    """
    n = require_int(num_images, "num_images", minimum=0)
    size = require_int(size, "size")
    k = require_int(spots, "spots", minimum=0)
    background = require_number(background, "background", minimum=0.0, maximum=SENSOR_MAX)
    if not (isinstance(brightness, (tuple, list)) and len(brightness) == 2):
        raise ValueError(f"brightness must be a pair (lowest, highest); got {brightness!r}")
    low = require_number(brightness[0], "brightness", minimum=0.0)
    high = require_number(brightness[1], "brightness", minimum=low)
    noise = require_number(noise, "noise", minimum=0.0)
    rate = require_number(hot_pixel_rate, "hot_pixel_rate", minimum=0.0, maximum=1.0)
    require_cpu_generator(generator)
    require_float_dtype(dtype)
    f64 = torch.float64
    centres = uniform((n, k, 2), 0.0, size - 1.0, generator=generator, dtype=f64)  # (N, K, 2): row, column
    widths = uniform((n, k), 1.5, 3.0, generator=generator, dtype=f64)  # (N, K)
    peaks = uniform((n, k), low, high, generator=generator, dtype=f64)  # (N, K)
    grid = torch.arange(size, dtype=f64)
    dist2 = (grid[:, None] - centres[..., 0, None, None]) ** 2 + (grid[None, :] - centres[..., 1, None, None]) ** 2  # (N, K, H, W)
    clean = background + (peaks[..., None, None] * torch.exp(-dist2 / (2 * widths[..., None, None] ** 2))).sum(dim=1)
    clean = clean[:, None]  # (N, 1, H, W)
    noisy = clean + noise * randn(clean.shape, generator=generator, dtype=f64)
    hot = torch.rand(clean.shape, generator=generator, dtype=f64) < rate
    noisy = torch.where(hot, SENSOR_MAX, noisy).clamp(0.0, SENSOR_MAX)
    return clean.to(dtype), noisy.to(dtype)


class DenoisingAutoencoder(nn.Module):
    """A small convolutional denoising autoencoder with a selectable output activation.

    Args:
        channels: C, the image's channels (input and output).
        width: w, the channels of every hidden layer.
        output: ``"sigmoid"`` (predictions in (0, 1)) or ``"linear"`` (any real number).

    Input (N, C, H, W) with H and W even; output of the same shape.
    ``encoder``, ``decoder`` and ``activation`` are ``nn.Sequential`` /
    modules in the order above, so the weights can be copied layer by layer.
    """

    def __init__(self, channels: int = 1, width: int = 8, output: str = "linear") -> None:
        super().__init__()
        self.channels = require_int(channels, "channels")
        width = require_int(width, "width")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
        self.output = output
        self.encoder = nn.Sequential(
            nn.Conv2d(self.channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, w, H/2, W/2)
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),  # (N, w, H/2, W/2): the code
        )
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, w, H, W)
            nn.Conv2d(width, self.channels, 3, padding=1),  # (N, C, H, W)
        )
        self.activation = nn.Sigmoid() if output == "sigmoid" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W), H and W even -> (N, C, H, W)."""
        require_tensor(x, "x")
        require_layout(x, "x", "(N, C, H, W)")
        require_floating(x, "x")
        require_module_input(x, "x", self)
        n, c, h, w = x.shape
        if c != self.channels or h % 2 or w % 2:
            raise ValueError(
                f"x must have shape (N, {self.channels}, H, W) with H and W even; got shape {tuple(x.shape)}"
            )
        return self.activation(self.decoder(self.encoder(x)))
