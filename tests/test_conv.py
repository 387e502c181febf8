"""Convolution and pooling, NumPy and PyTorch, against torch.nn.functional.

Tolerances: float64 to 1e-10 relative (the same sums in another order);
float32 to 1e-4 relative and 1e-4 absolute on outputs of order 1 (a few
hundred products summed in a different order by BLAS and by PyTorch).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from companion import conv

TOLERANCE = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-4)}


@st.composite
def conv2d_cases(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 3))
    o = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # the input must hold the dilated kernel after padding
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 12))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 12))
    return dict(n=draw(st.integers(1, 3)), c=c, o=o, h=h, w=w, kernel=(kh, kw), stride=stride,
                padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()))


def make_case(case, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(case["n"], case["c"], case["h"], case["w"], generator=g, dtype=dtype)
    weight = torch.randn(case["o"], case["c"] // case["groups"], *case["kernel"], generator=g, dtype=dtype)
    bias = torch.randn(case["o"], generator=g, dtype=dtype) if case["bias"] else None
    return x, weight, bias


@settings(max_examples=60, deadline=None)
@given(conv2d_cases(), st.sampled_from([torch.float64, torch.float32]))
def test_conv2d_matches_torch_on_random_shapes(case, dtype):
    x, weight, bias = make_case(case, dtype)
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    expected = F.conv2d(x, weight, bias, *args)
    torch.testing.assert_close(conv.conv2d(x, weight, bias, *args), expected, **TOLERANCE[dtype])
    ours_np = conv.conv2d_np(x.numpy(), weight.numpy(), None if bias is None else bias.numpy(), *args)
    assert ours_np.dtype == x.numpy().dtype
    torch.testing.assert_close(torch.from_numpy(np.ascontiguousarray(ours_np)), expected, **TOLERANCE[dtype])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
    st.sampled_from([torch.float64, torch.float32]),
)
def test_conv1d_matches_torch(groups_factor, k, stride, dilation, padding, groups, dtype):
    c, o = groups * groups_factor, groups * 2
    length = dilation * (k - 1) + 1 + 5
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, c, length, generator=g, dtype=dtype)
    weight = torch.randn(o, c // groups, k, generator=g, dtype=dtype)
    bias = torch.randn(o, generator=g, dtype=dtype)
    expected = F.conv1d(x, weight, bias, stride, padding, dilation, groups)
    torch.testing.assert_close(conv.conv1d(x, weight, bias, stride, padding, dilation, groups), expected, **TOLERANCE[dtype])
    ours_np = conv.conv1d_np(x.numpy(), weight.numpy(), bias.numpy(), stride, padding, dilation, groups)
    torch.testing.assert_close(torch.from_numpy(np.ascontiguousarray(ours_np)), expected, **TOLERANCE[dtype])


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 4), st.integers(1, 4), st.one_of(st.none(), st.integers(1, 3)), st.data(),
    st.sampled_from([torch.float64, torch.float32]),
)
def test_pooling_2d_matches_torch(kh, kw, stride, data, dtype):
    padding = (data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2)))
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(2), dtype=dtype)
    for ours, ours_np, theirs in [
        (conv.max_pool2d, conv.max_pool2d_np, F.max_pool2d),
        (conv.avg_pool2d, conv.avg_pool2d_np, F.avg_pool2d),
    ]:
        expected = theirs(x, (kh, kw), stride, padding)
        torch.testing.assert_close(ours(x, (kh, kw), stride, padding), expected, **TOLERANCE[dtype])
        got_np = ours_np(x.numpy(), (kh, kw), stride, padding)
        torch.testing.assert_close(torch.from_numpy(np.ascontiguousarray(got_np)), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("k, stride, padding", [(6, 2, 0), (3, None, 1), (2, 1, 1)])
def test_pooling_1d_matches_torch(k, stride, padding):
    x = torch.randn(2, 4, 33, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for ours, ours_np, theirs in [
        (conv.max_pool1d, conv.max_pool1d_np, F.max_pool1d),
        (conv.avg_pool1d, conv.avg_pool1d_np, F.avg_pool1d),
    ]:
        expected = theirs(x, k, stride, padding)
        torch.testing.assert_close(ours(x, k, stride, padding), expected)
        torch.testing.assert_close(torch.from_numpy(np.ascontiguousarray(ours_np(x.numpy(), k, stride, padding))), expected)


def test_pooling_1d_refuses_a_zero_stride():
    # stride=None means "the kernel size"; 0 is an error, not a synonym for None
    x = torch.randn(1, 2, 8, dtype=torch.float64)
    for pool, data in [(conv.max_pool1d, x), (conv.avg_pool1d_np, x.numpy())]:
        with pytest.raises(ValueError, match="stride must be >= 1; got 0"):
            pool(data, 2, 0)


def test_torch_versions_run_on_the_device_and_keep_dtype(device):
    x, weight, bias = make_case(dict(n=2, c=4, o=6, h=7, w=7, kernel=(3, 3), groups=2, bias=True), torch.float32)
    x, weight, bias = x.to(device), weight.to(device), bias.to(device)
    out = conv.conv2d(x, weight, bias, 1, 1, 1, 2)
    assert out.device == x.device and out.dtype == x.dtype
    torch.testing.assert_close(out, F.conv2d(x, weight, bias, 1, 1, 1, 2), **TOLERANCE[torch.float32])
    torch.testing.assert_close(conv.max_pool2d(x, 2), F.max_pool2d(x, 2))


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 2, 2), (1, 2, 1, 4)])
def test_conv2d_gradients(stride, padding, dilation, groups):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 7, 6, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 4 // groups, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    fn = lambda a, w, b: conv.conv2d(a, w, b, stride, padding, dilation, groups)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, weight, bias))
    upstream = torch.randn(fn(x, weight, bias).shape, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad((fn(x, weight, bias) * upstream).sum(), (x, weight, bias))
    theirs = torch.autograd.grad((F.conv2d(x, weight, bias, stride, padding, dilation, groups) * upstream).sum(), (x, weight, bias))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_pooling_gradients_match_torch():
    x = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64, requires_grad=True)
    for ours, theirs in [(conv.max_pool2d, F.max_pool2d), (conv.avg_pool2d, F.avg_pool2d)]:
        (a,) = torch.autograd.grad(ours(x, 3, 2, 1).sum(), x)
        (b,) = torch.autograd.grad(theirs(x, 3, 2, 1).sum(), x)
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- output size


@pytest.mark.parametrize("size", [5, 8, 13, 32])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
def test_output_size_formula_matches_real_layers(size, kernel, stride, padding, dilation):
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding:
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv.conv_output_size(size, kernel, stride, padding, dilation)
        return
    layer = nn.Conv2d(1, 1, kernel, stride, padding, dilation)
    real = layer(torch.zeros(1, 1, size, size)).shape[-1]
    assert conv.conv_output_size(size, kernel, stride, padding, dilation) == real
    if dilation == 1 and 2 * padding <= kernel:
        assert conv.conv_output_size(size, kernel, stride, padding) == nn.MaxPool2d(kernel, stride, padding)(torch.zeros(1, 1, size, size)).shape[-1]


def test_the_thread_lengths():
    assert conv.conv_output_size(40, 8) == 33  # a 40-frame input through a width-8 filter
    assert conv.conv_output_size(33, 6, stride=2) == 14  # then pooling 6 with shift 2


# ----------------------------------------------------------------------------- layouts


def test_kernel_layout_round_trips_and_gives_identical_outputs(generator):
    keras_kernel = torch.randn(7, 7, 8, 16, generator=generator, dtype=torch.float64)  # (kh, kw, in, out)
    torch_weight = conv.kernel_keras_to_torch(keras_kernel)
    assert torch_weight.shape == (16, 8, 7, 7)
    assert torch.equal(conv.kernel_torch_to_keras(torch_weight), keras_kernel)
    images = torch.randn(2, 20, 20, 8, generator=generator, dtype=torch.float64)  # (N, H, W, C), Keras layout
    nchw = conv.channels_last_to_first(images)
    assert torch.equal(conv.channels_first_to_last(nchw), images)
    out = conv.conv2d_np(np.ascontiguousarray(nchw.numpy()), np.ascontiguousarray(torch_weight.numpy()))
    torch.testing.assert_close(torch.from_numpy(out), F.conv2d(nchw, torch_weight))
    np_kernel = keras_kernel.numpy()
    assert np.array_equal(conv.kernel_torch_to_keras(conv.kernel_keras_to_torch(np_kernel)), np_kernel)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    x, w = torch.zeros(1, 3, 5, 5), torch.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"weight expects 2 input channels per group \(2 with groups=1\); x has C=3"):
        conv.conv2d(x, torch.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"larger than the padded input \(5 \+ 2 \* 0 = 5\)"):
        conv.conv2d(x, torch.zeros(4, 3, 7, 7))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv.conv2d_np(x.numpy(), w.numpy(), dilation=3)
    with pytest.raises(TypeError, match="stride must be an int; got float 1.5"):
        conv.conv2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match="stride must be >= 1; got 0"):
        conv.conv2d_np(x.numpy(), w.numpy(), stride=0)
    with pytest.raises(ValueError, match="groups=2 must divide the input channels C=3"):
        conv.conv2d(x, w, groups=2)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\); got shape \(3, 5, 5\)"):
        conv.conv2d(x[0], w)
    with pytest.raises(ValueError, match=r"bias must have shape \(O,\) = \(4,\); got shape \(3,\)"):
        conv.conv2d(x, w, torch.zeros(3))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray; got torch.Tensor"):
        conv.conv2d_np(x, w.numpy())
    with pytest.raises(TypeError, match="x must have a floating-point dtype; got int64"):
        conv.conv2d_np(np.zeros((1, 3, 5, 5), dtype=np.int64), w.numpy())
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, L\); got shape \(1, 3, 5, 5\)"):
        conv.conv1d(x, w)
    with pytest.raises(ValueError, match="padding must be at most half the kernel size"):
        conv.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"kernel \(extent 6 .*\) is larger than the padded input"):
        conv.avg_pool2d_np(x.numpy(), 6)
    with pytest.raises(ValueError, match=r"kernel must have shape \(kh, kw, in, out\); got shape \(3, 3, 3\)"):
        conv.kernel_keras_to_torch(torch.zeros(3, 3, 3))
