"""Backward passes of convolution and pooling (NumPy) against PyTorch's autograd.

Every gradient is compared with ``torch.autograd.grad`` through ``F.conv2d``,
``F.max_pool2d`` and ``F.avg_pool2d`` in float64, on random shapes, strides,
paddings and channel counts; the reference runs on each device of the
``device`` fixture. ``gradcheck`` checks the hand-written backward passes,
wrapped in an ``autograd.Function``, against finite differences of the forward.
Tolerance: 1e-10 relative and 1e-12 absolute in float64 (the same sums in
another order).
"""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from companion import conv, conv_backward as cb

EXACT = dict(rtol=1e-10, atol=1e-12)


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def draw(shape, seed, integers=None):
    g = torch.Generator().manual_seed(seed)
    if integers is not None:  # small integers: many ties for max pooling
        return torch.randint(0, integers, shape, generator=g).double()
    return torch.randn(shape, generator=g, dtype=torch.float64)


def autograd_conv(x, weight, bias, grad_y, stride, padding, device):
    """dL/dx, dL/dw, dL/db by autograd through F.conv2d, on ``device``, returned as NumPy arrays."""
    x, weight, bias = (t.detach().clone().to(device).requires_grad_() for t in (x, weight, bias))
    y = F.conv2d(x, weight, bias, stride, padding)
    return [t.cpu().numpy() for t in torch.autograd.grad(y, (x, weight, bias), grad_y.to(device))]


@st.composite
def conv_cases(draw_):
    kh, kw = draw_(st.integers(1, 4)), draw_(st.integers(1, 4))
    stride = (draw_(st.integers(1, 3)), draw_(st.integers(1, 3)))
    padding = (draw_(st.integers(0, 3)), draw_(st.integers(0, 3)))
    h = draw_(st.integers(max(1, kh - 2 * padding[0]), 11))
    w = draw_(st.integers(max(1, kw - 2 * padding[1]), 11))
    return dict(n=draw_(st.integers(1, 3)), c=draw_(st.integers(1, 4)), o=draw_(st.integers(1, 4)), h=h, w=w,
                kernel=(kh, kw), stride=stride, padding=padding, seed=draw_(st.integers(0, 1000)))


def make_conv(case):
    x = draw((case["n"], case["c"], case["h"], case["w"]), case["seed"])
    weight = draw((case["o"], case["c"], *case["kernel"]), case["seed"] + 1)
    bias = draw((case["o"],), case["seed"] + 2)
    ho, wo = (conv.conv_output_size(s, k, st_, p) for s, k, st_, p in
              zip((case["h"], case["w"]), case["kernel"], case["stride"], case["padding"]))
    grad_y = draw((case["n"], case["o"], ho, wo), case["seed"] + 3)
    return x, weight, bias, grad_y


# ----------------------------------------------------------------------------- convolution


@settings(max_examples=40, deadline=None)
@given(conv_cases())
def test_conv_gradients_match_autograd_on_random_shapes(case):
    x, weight, bias, grad_y = make_conv(case)
    expected = autograd_conv(x, weight, bias, grad_y, case["stride"], case["padding"], "cpu")
    args = (x.numpy(), weight.numpy(), grad_y.numpy(), case["stride"], case["padding"])
    for backward in (cb.conv2d_backward_np, cb.conv2d_backward_im2col_np):
        for ours, theirs in zip(backward(*args), expected):
            np.testing.assert_allclose(ours, theirs, **EXACT)


CASES = [  # (N, C, O, H, W, kernel, stride, padding): odd sizes, strides that leave rows unread, large padding
    (2, 3, 4, 7, 6, (3, 2), (2, 1), (1, 0)),
    (1, 1, 1, 4, 4, (2, 2), 1, 0),
    (3, 2, 5, 9, 8, (3, 3), (2, 3), (1, 1)),
    (2, 2, 2, 5, 5, (1, 1), 2, 0),
    (1, 4, 3, 6, 7, (2, 3), 3, 3),
    (2, 1, 2, 10, 3, (4, 1), (3, 2), (2, 0)),
]


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CASES)
def test_each_gradient_function_matches_autograd(device, n, c, o, h, w, kernel, stride, padding):
    case = dict(n=n, c=c, o=o, h=h, w=w, kernel=kernel, stride=pair(stride),
                padding=pair(padding), seed=n * 100 + h)
    x, weight, bias, grad_y = make_conv(case)
    grad_x, grad_w, grad_b = autograd_conv(x, weight, bias, grad_y, stride, padding, device)
    np.testing.assert_allclose(cb.conv2d_weight_grad_np(x.numpy(), grad_y.numpy(), kernel, stride, padding), grad_w, **EXACT)
    np.testing.assert_allclose(cb.conv2d_input_grad_np(grad_y.numpy(), weight.numpy(), (h, w), stride, padding), grad_x, **EXACT)
    np.testing.assert_allclose(cb.conv2d_bias_grad_np(grad_y.numpy()), grad_b, **EXACT)


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CASES)
def test_the_two_convolution_forms_of_the_docstring(n, c, o, h, w, kernel, stride, padding):
    """dw = valid cross-correlation of x with grad_out (dilated by the stride), through the public forward conv2d_np;
    dx = full cross-correlation of the dilated grad_out with the flipped kernel, channels and filters swapped."""
    stride, padding = pair(stride), pair(padding)
    case = dict(n=n, c=c, o=o, h=h, w=w, kernel=kernel, stride=stride, padding=padding, seed=7)
    x, weight, _, grad_y = (t.numpy() for t in make_conv(case))
    kh, kw = kernel
    # weight: x (C as batch, N as channels) correlated with grad_out (O, N, Ho, Wo) as filters, dilation = stride
    correlation = conv.conv2d_np(x.transpose(1, 0, 2, 3), grad_y.transpose(1, 0, 2, 3), padding=padding, dilation=stride)
    np.testing.assert_allclose(correlation[:, :, :kh, :kw].transpose(1, 0, 2, 3),
                               cb.conv2d_weight_grad_np(x, grad_y, kernel, stride, padding), **EXACT)
    # input: dilate, pad k - 1 ("full"), correlate with the flipped kernel (C, O, kh, kw), pad unread rows, crop p
    full = np.pad(cb.dilate_np(grad_y, stride), ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dx_pad = conv.conv2d_np(full, np.ascontiguousarray(cb.flip_kernel(weight).transpose(1, 0, 2, 3)))
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    dx_pad = np.pad(dx_pad, ((0, 0), (0, 0), (0, hp - dx_pad.shape[2]), (0, wp - dx_pad.shape[3])))
    np.testing.assert_allclose(dx_pad[:, :, padding[0]: padding[0] + h, padding[1]: padding[1] + w],
                               cb.conv2d_input_grad_np(grad_y, weight, (h, w), stride, padding), **EXACT)


def test_dilate_matches_a_loop():
    g = draw((2, 3, 3, 4), 0).numpy()
    out = cb.dilate_np(g, (2, 3))
    expected = np.zeros((2, 3, 5, 10))
    for i, j in itertools.product(range(3), range(4)):
        expected[:, :, 2 * i, 3 * j] = g[:, :, i, j]
    np.testing.assert_array_equal(out, expected)
    assert cb.dilate_np(g, 1) is g


class NumpyConv(torch.autograd.Function):
    """F.conv2d forward, the NumPy backward: what gradcheck compares against finite differences."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        grads = cb.conv2d_backward_np(x.detach().cpu().numpy(), weight.detach().cpu().numpy(),
                                      grad_y.cpu().numpy(), ctx.stride, ctx.padding)
        return (*(torch.from_numpy(g).to(x.device) for g in grads), None, None)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv_backward_passes_gradcheck(device, stride, padding):
    x = draw((2, 2, 5, 6), 1).to(device).requires_grad_()
    weight = draw((3, 2, 3, 2), 2).to(device).requires_grad_()
    bias = draw((3,), 3).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: NumpyConv.apply(a, b, c, stride, padding), (x, weight, bias))


def test_conv_empty_batch_and_dtypes():
    x, weight, grad_y = np.zeros((0, 3, 5, 5)), np.ones((2, 3, 3, 3)), np.zeros((0, 2, 3, 3))
    grad_x, grad_w, grad_b = cb.conv2d_backward_np(x, weight, grad_y)
    assert grad_x.shape == (0, 3, 5, 5) and not grad_w.any() and grad_w.shape == (2, 3, 3, 3) and not grad_b.any()
    x32 = draw((2, 3, 5, 5), 0).float()
    w32, g32 = draw((2, 3, 3, 3), 1).float(), draw((2, 2, 3, 3), 2).float()
    expected = autograd_conv(x32.double(), w32.double(), torch.zeros(2, dtype=torch.float64), g32.double(), 1, 0, "cpu")
    for dtype in (np.float32, np.float16):
        grads = cb.conv2d_backward_np(x32.numpy().astype(dtype), w32.numpy(), g32.numpy(), 1, 0)
        tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=2e-2, atol=5e-2)
        for ours, theirs in zip(grads, expected):
            assert ours.dtype == dtype
            np.testing.assert_allclose(ours.astype(np.float64), theirs, **tolerance)


# ----------------------------------------------------------------------------- the two conventions


def true_convolution_loop(x, kernel, stride, padding):
    """y[n, o, i, j] = sum v[o, c, a, b] x_pad[n, c, s*i + kh-1 - a, s*j + kw-1 - b], one output at a time."""
    n, c, h, w = x.shape
    o, _, kh, kw = kernel.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for b_, o_, i, j in itertools.product(range(n), range(o), range(ho), range(wo)):
        for a, b in itertools.product(range(kh), range(kw)):
            y[b_, o_, i, j] += (kernel[o_, :, a, b] * x[b_, :, stride * i + kh - 1 - a, stride * j + kw - 1 - b]).sum()
    return y


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_true_convolution_flips_the_kernel(stride, padding):
    x, kernel = draw((2, 2, 6, 5), 0).numpy(), draw((3, 2, 3, 2), 1).numpy()
    ours = cb.convolve2d_np(x, kernel, None, stride, padding)
    np.testing.assert_allclose(ours, true_convolution_loop(x, kernel, stride, padding), **EXACT)
    np.testing.assert_allclose(ours, conv.conv2d_np(x, np.ascontiguousarray(kernel[..., ::-1, ::-1]), None, stride, padding), **EXACT)
    assert not np.allclose(ours, conv.conv2d_np(x, kernel, None, stride, padding))  # an asymmetric kernel: the flip matters


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((3, 1), (0, 2))])
def test_true_convolution_gradients_are_the_flipped_ones(device, stride, padding):
    x = draw((2, 3, 7, 6), 4).to(device).requires_grad_()
    kernel = draw((2, 3, 3, 2), 5).to(device).requires_grad_()
    bias = draw((2,), 6).to(device).requires_grad_()
    y = F.conv2d(x, torch.flip(kernel, (-2, -1)), bias, stride, padding)  # the true convolution, in autograd
    grad_y = draw(tuple(y.shape), 7).to(device)
    expected = [t.cpu().numpy() for t in torch.autograd.grad(y, (x, kernel, bias), grad_y)]
    to_np = lambda t: t.detach().cpu().numpy()  # noqa: E731
    ours = cb.convolve2d_backward_np(to_np(x), to_np(kernel), to_np(grad_y), stride, padding)
    for a, e in zip(ours, expected):
        np.testing.assert_allclose(a, e, **EXACT)
    cross = cb.conv2d_backward_np(to_np(x), to_np(kernel), to_np(grad_y), stride, padding)  # the kernel read unflipped
    np.testing.assert_allclose(ours[1], cb.flip_kernel(cb.conv2d_backward_np(
        to_np(x), np.ascontiguousarray(cb.flip_kernel(to_np(kernel))), to_np(grad_y), stride, padding)[1]), **EXACT)
    assert not np.allclose(ours[1], cross[1])


def test_flip_kernel_numpy_and_torch():
    w = draw((2, 3, 3, 2), 0)
    np.testing.assert_array_equal(cb.flip_kernel(w.numpy()), w.numpy()[..., ::-1, ::-1])
    assert torch.equal(cb.flip_kernel(w), torch.rot90(w, 2, (-2, -1)))  # a 180-degree rotation
    assert torch.equal(cb.flip_kernel(cb.flip_kernel(w)), w)


# ----------------------------------------------------------------------------- im2col


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 0), ((2, 3), (2, 1), (1, 1)), (2, 3, 1)])
def test_im2col_and_col2im_match_unfold_and_fold(kernel, stride, padding):
    x = draw((2, 3, 7, 8), 0)
    cols = cb.im2col_np(x.numpy(), kernel, stride, padding)
    np.testing.assert_array_equal(cols, F.unfold(x, kernel, 1, padding, stride).numpy())
    np.testing.assert_allclose(cb.col2im_np(cols, (7, 8), kernel, stride, padding),
                               F.fold(torch.from_numpy(cols), (7, 8), kernel, 1, padding, stride).numpy(), **EXACT)


def test_col2im_is_the_transpose_of_im2col():
    x, kernel, stride, padding = draw((1, 2, 6, 5), 0).numpy(), (3, 2), (2, 1), (1, 0)
    cols = cb.im2col_np(x, kernel, stride, padding)
    other = draw(cols.shape, 1).numpy()
    # <im2col(x), c> = <x, col2im(c)>: the adjoint, not the inverse
    np.testing.assert_allclose((cols * other).sum(), (x * cb.col2im_np(other, (6, 5), kernel, stride, padding)).sum(), **EXACT)
    counts = cb.col2im_np(cb.im2col_np(np.ones((1, 1, 4, 4)), 2, 1), (4, 4), 2, 1)[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])


# ----------------------------------------------------------------------------- pooling


POOL_CASES = [  # (H, W, kernel, stride, padding): overlapping, disjoint, with and without padding
    (6, 6, 2, None, 0),
    (7, 5, 3, 1, 1),
    (8, 7, (3, 2), (2, 1), (1, 0)),
    (5, 5, 2, 1, 0),
    (9, 9, 4, 3, 2),
]


def autograd_pool(pool, x, grad_y, kernel, stride, padding, device):
    x = x.detach().clone().to(device).requires_grad_()
    y = pool(x, kernel, stride, padding)
    return torch.autograd.grad(y, x, grad_y.to(device))[0].cpu().numpy()


def pool_grad(x, kernel, stride, padding):
    out = F.max_pool2d(x, kernel, stride, padding)
    return draw(tuple(out.shape), 9)


@pytest.mark.parametrize("h, w, kernel, stride, padding", POOL_CASES)
@pytest.mark.parametrize("values", ["distinct", "ties", "constant"])
def test_max_pool_backward_matches_autograd_with_ties(device, h, w, kernel, stride, padding, values):
    x = {"distinct": draw((2, 3, h, w), 0), "ties": draw((2, 3, h, w), 0, integers=3),
         "constant": torch.zeros(2, 3, h, w, dtype=torch.float64)}[values]
    grad_y = pool_grad(x, kernel, stride, padding)
    expected = autograd_pool(F.max_pool2d, x, grad_y, kernel, stride, padding, device)
    ours = cb.max_pool2d_backward_np(x.numpy(), grad_y.numpy(), kernel, stride, padding)
    np.testing.assert_allclose(ours, expected, **EXACT)


def test_max_pool_tie_rule():
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])
    np.testing.assert_array_equal(cb.max_pool2d_backward_np(x, np.ones((1, 1, 1, 1)), 2), [[[[1, 0], [0, 0]]]])  # first, row-major
    x = np.full((1, 1, 2, 2), -np.inf)  # padded windows of -inf: the gradient still reaches a real pixel
    ours = cb.max_pool2d_backward_np(x, np.ones((1, 1, 2, 2)), 2, 2, 1)
    np.testing.assert_array_equal(ours, autograd_pool(F.max_pool2d, torch.from_numpy(x), torch.ones(1, 1, 2, 2), 2, 2, 1, "cpu"))
    x = np.array([[[[1.0, np.nan], [np.nan, 5.0]]]])  # NaN: PyTorch's rule sends it to the last NaN
    ours = cb.max_pool2d_backward_np(x, np.ones((1, 1, 1, 1)), 2)
    np.testing.assert_array_equal(ours, autograd_pool(F.max_pool2d, torch.from_numpy(x), torch.ones(1, 1, 1, 1), 2, None, 0, "cpu"))


@pytest.mark.parametrize("h, w, kernel, stride, padding", POOL_CASES)
def test_avg_pool_backward_matches_autograd(device, h, w, kernel, stride, padding):
    x = draw((2, 3, h, w), 1)
    grad_y = pool_grad(x, kernel, stride, padding)
    expected = autograd_pool(F.avg_pool2d, x, grad_y, kernel, stride, padding, device)
    np.testing.assert_allclose(cb.avg_pool2d_backward_np(grad_y.numpy(), (h, w), kernel, stride, padding), expected, **EXACT)


class NumpyPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, kernel, stride, padding):
        ctx.save_for_backward(x)
        ctx.args = kind, kernel, stride, padding
        return (F.max_pool2d if kind == "max" else F.avg_pool2d)(x, kernel, stride, padding)

    @staticmethod
    def backward(ctx, grad_y):
        (x,), (kind, kernel, stride, padding) = ctx.saved_tensors, ctx.args
        g = grad_y.cpu().numpy()
        if kind == "max":
            grad = cb.max_pool2d_backward_np(x.detach().cpu().numpy(), g, kernel, stride, padding)
        else:
            grad = cb.avg_pool2d_backward_np(g, tuple(x.shape[2:]), kernel, stride, padding)
        return torch.from_numpy(grad).to(x.device), None, None, None, None


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))])
def test_pool_backward_passes_gradcheck(device, kind, kernel, stride, padding):
    # distinct values spaced far more than gradcheck's step, so that no argmax moves
    x = (torch.randperm(2 * 1 * 7 * 6, generator=torch.Generator().manual_seed(0)).double() * 0.1).reshape(2, 1, 7, 6)
    x = x.to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: NumpyPool.apply(t, kind, kernel, stride, padding), (x,))


def test_pool_empty_batch_and_dtype():
    assert cb.max_pool2d_backward_np(np.zeros((0, 2, 4, 4)), np.zeros((0, 2, 2, 2)), 2).shape == (0, 2, 4, 4)
    assert cb.avg_pool2d_backward_np(np.zeros((0, 2, 2, 2)), (4, 4), 2).shape == (0, 2, 4, 4)
    out = cb.avg_pool2d_backward_np(np.ones((1, 1, 2, 2), np.float16), (4, 4), 2)
    assert out.dtype == np.float16 and (out == 0.25).all()


# ----------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument():
    x, w, g = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros((2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2, 4, 3, 3\)"):
        cb.conv2d_backward_np(x, w, g[:, :, :2])
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2, 4, 2, 2\)"):
        cb.conv2d_backward_np(x, w, g, stride=2)  # the stride changes the output size
    with pytest.raises(ValueError, match="weight must have shape"):
        cb.conv2d_backward_np(x, w[:, :2], g)
    with pytest.raises(TypeError, match="x must be a numpy.ndarray; got torch.Tensor"):
        cb.conv2d_backward_np(torch.zeros(2, 3, 5, 5), w, g)
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        cb.conv2d_weight_grad_np(x.astype(np.int64), g, 3)
    with pytest.raises(TypeError, match="input_size must be a pair"):
        cb.conv2d_input_grad_np(g, w, 5)
    with pytest.raises(ValueError, match="kernel_size"):
        cb.conv2d_weight_grad_np(x, g, 9)  # larger than the input
    with pytest.raises(ValueError, match="padding must be at most half"):
        cb.max_pool2d_backward_np(x, g, 2, 1, 2)
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2, 3, 2, 2\)"):
        cb.max_pool2d_backward_np(x, g, 2)
    with pytest.raises(ValueError, match="cols must have shape"):
        cb.col2im_np(np.zeros((1, 10, 16)), (5, 5), 2)
    with pytest.raises(TypeError, match="weight must be a numpy.ndarray or a torch.Tensor"):
        cb.flip_kernel([[1.0]])
