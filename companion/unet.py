"""A small U-Net (Ronneberger et al., 2015): an encoder, a decoder and skip connections.

The encoder halves the resolution ``depth`` times and doubles the channels;
the decoder doubles the resolution back and concatenates, at each scale, the
encoder's feature map of the same size (the skip connection), so the output
has both context and fine detail. The last layer is a 1x1 convolution to one
logit per class at every pixel:

    (N, in, H, W) -> ... -> (N, num_classes, H, W)

Sized to train on small images in seconds on a CPU; the same code runs on CUDA.
"""

from __future__ import annotations

import torch
from torch import nn

from companion._checks import require_floating, require_int, require_layout, require_module_input, require_tensor


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with padding 1 (size kept), each followed by a ReLU."""
    in_channels, out_channels = require_int(in_channels, "in_channels"), require_int(out_channels, "out_channels")
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with ``depth`` down- and up-sampling steps and ``width`` channels at the top.

    Args:
        in_channels: channels of the input image.
        num_classes: C, the logits per pixel.
        width: channels of the first level; level ``l`` has ``width * 2**l``.
        depth: number of 2x downsamplings; H and W must be divisible by ``2**depth``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 4, width: int = 16, depth: int = 2) -> None:
        super().__init__()
        self.in_channels = require_int(in_channels, "in_channels")
        self.num_classes = require_int(num_classes, "num_classes")
        width = require_int(width, "width")
        self.depth = depth = require_int(depth, "depth")
        channels = [width * 2**level for level in range(depth + 1)]  # e.g. [16, 32, 64]
        self.down = nn.ModuleList([double_conv(in_channels, channels[0])])
        self.down.extend(double_conv(channels[l], channels[l + 1]) for l in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(channels[l + 1], channels[l], 2, stride=2) for l in range(depth))
        self.up = nn.ModuleList(double_conv(2 * channels[l], channels[l]) for l in range(depth))  # after concatenation
        self.head = nn.Conv2d(channels[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""
        require_tensor(x, "x")
        require_layout(x, "x", "(N, C, H, W)")
        require_floating(x, "x")
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels in dim 1 (N, C, H, W); got shape {tuple(x.shape)}")
        if h % 2**self.depth or w % 2**self.depth:
            raise ValueError(f"H and W must be divisible by 2**depth = {2**self.depth}; got H={h}, W={w} (x of shape {tuple(x.shape)})")
        require_module_input(x, "x", self)
        skips = []
        x = self.down[0](x)  # (N, width, H, W)
        for level in range(self.depth):
            skips.append(x)
            x = self.down[level + 1](self.pool(x))  # half the size, twice the channels
        for level in reversed(range(self.depth)):
            x = self.upsample[level](x)  # twice the size, half the channels
            x = self.up[level](torch.cat([skips[level], x], dim=1))  # skip connection
        return self.head(x)  # (N, num_classes, H, W)
