"""Residual shortcuts and ResNets: against F.conv2d, brute-force loops and the published parameter counts."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.residual import (
    BasicBlock,
    Bottleneck,
    ZeroPadShortcut,
    make_shortcut,
    projection_shortcut_np,
    resnet,
    shortcut_parameters,
    zero_pad_matrix,
    zero_pad_shortcut,
    zero_pad_shortcut_np,
)
from companion.runtime import init_parameters, randn

# torchvision's documented parameter counts (weights ResNet18/34/50_Weights.IMAGENET1K_V1, 1000 classes)
PUBLISHED = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def zero_pad_loop(x: np.ndarray, out_channels: int, stride: int) -> np.ndarray:
    n, c, h, w = x.shape
    ho, wo = -(-h // stride), -(-w // stride)
    y = np.zeros((n, out_channels, ho, wo), dtype=x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    y[b, ch, i, j] = x[b, ch, i * stride, j * stride]
    return y


@pytest.mark.parametrize("shape, out_channels, stride", [((2, 3, 5, 6), 7, 2), ((1, 4, 4, 4), 4, 1), ((2, 2, 7, 7), 5, 3)])
def test_zero_pad_shortcut_matches_a_loop(device, generator, shape, out_channels, stride):
    x = randn(shape, generator=generator, dtype=torch.float64)
    expected = zero_pad_loop(x.numpy(), out_channels, stride)
    np.testing.assert_array_equal(zero_pad_shortcut_np(x.numpy(), out_channels, stride), expected)
    y = zero_pad_shortcut(x.to(device), out_channels, stride)
    assert y.device.type == device.type and y.dtype == torch.float64
    np.testing.assert_array_equal(y.cpu().numpy(), expected)


def test_zero_pad_is_the_projection_by_the_matrix_I_over_0(generator):
    x = randn((2, 3, 6, 6), generator=generator, dtype=torch.float64).numpy()
    matrix = zero_pad_matrix(3, 8).numpy()
    assert matrix.shape == (8, 3)
    np.testing.assert_array_equal(projection_shortcut_np(x, matrix, 2), zero_pad_shortcut_np(x, 8, 2))


@pytest.mark.parametrize("stride", [1, 2])
def test_projection_np_equals_a_strided_1x1_convolution(generator, stride):
    x = randn((2, 4, 7, 6), generator=generator, dtype=torch.float64)
    weight = randn((6, 4), generator=generator, dtype=torch.float64)
    expected = F.conv2d(x, weight[:, :, None, None], stride=stride)
    np.testing.assert_allclose(projection_shortcut_np(x.numpy(), weight.numpy(), stride), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_empty_batch(device):
    x = torch.zeros(0, 3, 4, 4, dtype=torch.float64, device=device)
    assert zero_pad_shortcut(x, 5, 2).shape == (0, 5, 2, 2)
    assert zero_pad_shortcut_np(x.cpu().numpy(), 5, 2).shape == (0, 5, 2, 2)


@pytest.mark.parametrize("option", ["A", "B", "C"])
@pytest.mark.parametrize("in_channels, out_channels, stride", [(16, 16, 1), (16, 32, 2), (16, 32, 1)])
def test_shortcut_kind_and_parameters(option, in_channels, out_channels, stride):
    shortcut = make_shortcut(in_channels, out_channels, stride, option)
    same = in_channels == out_channels and stride == 1
    projection = in_channels * out_channels + 2 * out_channels  # 1x1 weights, batch-norm scale and shift
    expected = {"A": 0, "B": 0 if same else projection, "C": projection}[option]
    assert count(shortcut) == expected
    if option == "A":
        assert isinstance(shortcut, nn.Identity if same else ZeroPadShortcut)


@pytest.mark.parametrize("block_type, expansion", [(BasicBlock, 1), (Bottleneck, 4)])
@pytest.mark.parametrize("option", ["A", "B", "C"])
def test_blocks_output_shape(device, generator, block_type, expansion, option):
    block = init_parameters(block_type(8, 16, stride=2, shortcut=option), generator).double().to(device)
    x = randn((2, 8, 9, 9), generator=generator, dtype=torch.float64).to(device)
    y = block(x)
    assert y.shape == (2, 16 * expansion, 5, 5) and y.device.type == device.type and (y >= 0).all()


def test_block_is_relu_of_residual_plus_shortcut(generator):
    block = init_parameters(BasicBlock(4, 8, stride=2, shortcut="A"), generator).double().eval()
    x = randn((2, 4, 6, 6), generator=generator, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(block.residual(x) + zero_pad_shortcut(x, 8, 2)))


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_resnet_with_option_B_has_the_published_parameter_count(depth):
    assert count(resnet(depth, "B").to("meta")) == PUBLISHED[depth]


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_shortcut_parameters_per_option(depth):
    models = {option: resnet(depth, option).to("meta") for option in "ABC"}
    counts = {option: shortcut_parameters(model) for option, model in models.items()}
    assert counts["A"] == 0 and 0 < counts["B"] < counts["C"]
    for option in "BC":  # the shortcuts are the only difference between the options
        assert count(models[option]) - count(models["A"]) == counts[option]
    brute = sum(p.numel() for name, p in models["B"].named_parameters() if ".shortcut." in name)
    assert counts["B"] == brute


def test_resnet18_runs(device, generator):
    model = init_parameters(resnet(18, "A", num_classes=5), generator).double().to(device).eval()
    x = randn((1, 3, 64, 64), generator=generator, dtype=torch.float64).to(device)
    with torch.no_grad():
        assert model(x).shape == (1, 5)


def test_bad_input():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        zero_pad_shortcut(np.zeros((1, 2, 3, 3)), 4)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\); got shape \(2, 3\)"):
        zero_pad_shortcut(torch.zeros(2, 3), 4)
    with pytest.raises(ValueError, match="out_channels must be >= the input channels C = 3"):
        zero_pad_shortcut(torch.zeros(1, 3, 4, 4), 2)
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        zero_pad_shortcut_np(np.zeros((1, 3, 4, 4), dtype=int), 4)
    with pytest.raises(ValueError, match=r"weight must have shape \(O, C\) with C = 3"):
        projection_shortcut_np(np.zeros((1, 3, 4, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="shortcut option must be one of"):
        make_shortcut(4, 8, 2, "D")
    with pytest.raises(ValueError, match=r"depth must be one of \(18, 34, 50\); got 101"):
        resnet(101)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        shortcut_parameters("resnet")
