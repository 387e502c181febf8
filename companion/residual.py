"""Residual blocks and their shortcuts, as in *Deep Residual Learning* (He et al., 2015).

A residual block adds its input to what its layers compute, ``y = relu(F(x) + S(x))``.
When ``F`` changes the shape (more channels, or a stride that halves the
resolution), the shortcut ``S`` must change it too. The paper's three options:

- **A**: identity where the shape is kept; elsewhere subsample with the stride
  and append zero channels. No parameters. As a matrix on the channel vector of
  a pixel it is ``[I; 0]``: a fixed linear map.
- **B**: identity where the shape is kept; elsewhere a *projection*
  ``W_s x``, a 1x1 convolution with the block's stride (a learned
  ``(C_out, C_in)`` matrix applied to the channel vector of every kept pixel),
  followed by batch norm. This is what the reference PyTorch implementation does.
- **C**: a projection in every block, even where the shape is kept.

:func:`resnet` builds the ImageNet networks of 18, 34 (basic blocks) and 50
(bottleneck blocks) layers with any of the three; with option B its parameter
counts are the published ones (11,689,512, 21,797,672 and 25,557,032 with a
1000-class head). :func:`shortcut_parameters` counts the parameters held by the
shortcuts alone.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from companion._checks import (
    require_array,
    require_float_dtype,
    require_floating,
    require_int,
    require_layout,
    require_module_input,
    require_tensor,
)

SHORTCUT_OPTIONS = ("A", "B", "C")
# layers per stage for each depth, and the block type (basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1)
RESNET_STAGES = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}
STAGE_CHANNELS = (64, 128, 256, 512)


def _check_pad_args(x, out_channels: int, stride: int, is_numpy: bool) -> tuple[int, int]:
    (require_array if is_numpy else require_tensor)(x, "x")
    require_layout(x, "x", "(N, C, H, W)")
    require_floating(x, "x")
    out_channels = require_int(out_channels, "out_channels")
    stride = require_int(stride, "stride")
    if out_channels < x.shape[1]:
        raise ValueError(
            f"out_channels must be >= the input channels C = {x.shape[1]} (option A only adds zero channels); "
            f"got {out_channels}"
        )
    return out_channels, stride


def zero_pad_shortcut_np(x: np.ndarray, out_channels: int, stride: int = 1) -> np.ndarray:
    """Option A in NumPy: keep every ``stride``-th pixel, append ``out_channels - C`` zero channels.

    Args:
        x: (N, C, H, W) floating.
    Returns:
        (N, out_channels, ceil(H / stride), ceil(W / stride)); the first C channels are ``x`` subsampled.
    """
    out_channels, stride = _check_pad_args(x, out_channels, stride, is_numpy=True)
    kept = x[:, :, ::stride, ::stride]  # (N, C, Ho, Wo): the pixels a stride-s 1x1 conv reads
    pad = out_channels - x.shape[1]
    return np.pad(kept, ((0, 0), (0, pad), (0, 0), (0, 0)))  # zero channels after the C real ones


def zero_pad_shortcut(x: torch.Tensor, out_channels: int, stride: int = 1) -> torch.Tensor:
    """Option A in PyTorch: as :func:`zero_pad_shortcut_np`. x: (N, C, H, W) -> (N, out_channels, Ho, Wo)."""
    out_channels, stride = _check_pad_args(x, out_channels, stride, is_numpy=False)
    kept = x[:, :, ::stride, ::stride]  # (N, C, Ho, Wo)
    return F.pad(kept, (0, 0, 0, 0, 0, out_channels - x.shape[1]))  # pads (W, H, C) from the last axis back


def zero_pad_matrix(in_channels: int, out_channels: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The ``(out_channels, in_channels)`` matrix ``[I; 0]`` that option A applies to each pixel's channels."""
    in_channels = require_int(in_channels, "in_channels")
    out_channels = require_int(out_channels, "out_channels", minimum=in_channels)
    require_float_dtype(dtype)
    return torch.eye(out_channels, in_channels, dtype=dtype)


def projection_shortcut_np(x: np.ndarray, weight: np.ndarray, stride: int = 1) -> np.ndarray:
    """A linear projection ``W_s x`` at every kept pixel: a 1x1 convolution with stride, as one matrix product.

    Args:
        x: (N, C, H, W) floating.
        weight: (O, C) matrix (a 1x1 convolution's ``(O, C, 1, 1)`` weight, reshaped).
        stride: keep every ``stride``-th row and column, as the convolution does.
    Returns:
        (N, O, ceil(H / stride), ceil(W / stride)), ``y[n, :, i, j] = weight @ x[n, :, s*i, s*j]``.
    """
    require_array(x, "x")
    require_array(weight, "weight")
    require_layout(x, "x", "(N, C, H, W)")
    require_layout(weight, "weight", "(O, C)")
    require_floating(x, "x")
    stride = require_int(stride, "stride")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight must have shape (O, C) with C = {x.shape[1]} (x's channels); got shape {weight.shape}")
    kept = x[:, :, ::stride, ::stride]  # (N, C, Ho, Wo)
    return np.einsum("oc,nchw->nohw", weight, kept)  # one (O, C) @ (C,) product per kept pixel


class ZeroPadShortcut(nn.Module):
    """Option A as a module (no parameters): :func:`zero_pad_shortcut`."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels, self.stride = require_int(out_channels, "out_channels"), require_int(stride, "stride")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return zero_pad_shortcut(x, self.out_channels, self.stride)

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, stride={self.stride}"


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Options B and C: a 1x1 convolution with the block's stride and no bias, then batch norm."""
    in_channels, out_channels = require_int(in_channels, "in_channels"), require_int(out_channels, "out_channels")
    stride = require_int(stride, "stride")
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
    )


def make_shortcut(in_channels: int, out_channels: int, stride: int, option: str) -> nn.Module:
    """The shortcut of a block from ``in_channels`` to ``out_channels`` with ``stride``, for option A, B or C."""
    if option not in SHORTCUT_OPTIONS:
        raise ValueError(f"shortcut option must be one of {SHORTCUT_OPTIONS}; got {option!r}")
    in_channels, out_channels = require_int(in_channels, "in_channels"), require_int(out_channels, "out_channels")
    stride = require_int(stride, "stride")
    same_shape = stride == 1 and in_channels == out_channels
    if option == "C" or (option == "B" and not same_shape):
        return projection(in_channels, out_channels, stride)
    if same_shape:
        return nn.Identity()
    return ZeroPadShortcut(out_channels, stride)


def _block_args(in_channels: int, channels: int, stride: int) -> tuple[int, int, int]:
    return require_int(in_channels, "in_channels"), require_int(channels, "channels"), require_int(stride, "stride")


def _check_block_input(x: torch.Tensor, block: nn.Module) -> None:
    """``x``: (N, C_in, H, W) with the dtype and device of the block's parameters."""
    require_tensor(x, "x")
    require_layout(x, "x", "(N, C, H, W)")
    require_floating(x, "x")
    c_in = block.residual[0].in_channels
    if x.shape[1] != c_in:
        raise ValueError(f"x must have C = {c_in} channels; got shape {tuple(x.shape)}")
    require_module_input(x, "x", block)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm: ``relu(F(x) + shortcut(x))``, (N, C_in, H, W) -> (N, channels, H/s, W/s)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        in_channels, channels, stride = _block_args(in_channels, channels, stride)
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        self.shortcut = make_shortcut(in_channels, channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_block_input(x, self)
        return torch.relu(self.residual(x) + self.shortcut(x))  # y = F(x) + W_s x, then the ReLU


class Bottleneck(nn.Module):
    """1x1 (reduce), 3x3 (with the stride), 1x1 (expand to ``4 * channels``), each with batch norm, plus the shortcut.

    (N, C_in, H, W) -> (N, 4 * channels, H/s, W/s).
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        in_channels, channels, stride = _block_args(in_channels, channels, stride)
        out = channels * self.expansion
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, out, 1, bias=False), nn.BatchNorm2d(out),
        )
        self.shortcut = make_shortcut(in_channels, out, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_block_input(x, self)
        return torch.relu(self.residual(x) + self.shortcut(x))


def resnet(depth: int, shortcut: str = "B", num_classes: int = 1000, in_channels: int = 3) -> nn.Sequential:
    """The ImageNet ResNet of ``depth`` 18, 34 or 50 layers, with shortcut option A, B or C.

    Stem (7x7 convolution with stride 2, batch norm, ReLU, 3x3 max pooling with
    stride 2), four stages of 64, 128, 256 and 512 channels (times 4 for the
    bottleneck), the first block of stages 2-4 with stride 2, then global
    average pooling and a linear layer. (N, in_channels, H, W) -> (N, num_classes).
    """
    depth = require_int(depth, "depth")
    if depth not in RESNET_STAGES:
        raise ValueError(f"depth must be one of {tuple(RESNET_STAGES)}; got {depth}")
    if shortcut not in SHORTCUT_OPTIONS:
        raise ValueError(f"shortcut must be one of {SHORTCUT_OPTIONS}; got {shortcut!r}")
    kind, blocks_per_stage = RESNET_STAGES[depth]
    block = BasicBlock if kind == "basic" else Bottleneck
    layers: list[nn.Module] = [
        nn.Conv2d(require_int(in_channels, "in_channels"), 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1),
    ]
    width = 64
    for stage, (channels, blocks) in enumerate(zip(STAGE_CHANNELS, blocks_per_stage)):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(block(width, channels, stride, shortcut))
            width = channels * block.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, require_int(num_classes, "num_classes"))]
    return nn.Sequential(*layers)


def shortcut_parameters(model: nn.Module) -> int:
    """Number of parameters held by the shortcuts of every residual block in ``model`` (0 for option A)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    return sum(p.numel() for b in blocks for p in b.shortcut.parameters())
