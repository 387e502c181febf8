"""Finite-difference kernels and the Laplacian: formulas, torch.nn.functional, exact error terms, errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion import finite_differences as fd

H_VALUES = [1.0, 0.25, 0.01]
BLEND_WEIGHTS = [0.0, 1 / 3, 2 / 3, 1.0]


def grid(n: int, h: float, origin: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (X, Y), each (n, n), with X along the last axis."""
    axis = origin + h * np.arange(n)
    return np.meshgrid(axis, axis)


def loop_correlate2d(f: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Brute-force valid cross-correlation of one (H, W) grid: the reference."""
    kh, kw = kernel.shape
    out = np.zeros((f.shape[0] - kh + 1, f.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (f[i : i + kh, j : j + kw] * kernel).sum()
    return out


# ----------------------------------------------------------------------------- 1-D kernels


@pytest.mark.parametrize("h", H_VALUES)
def test_1d_kernels_compute_their_difference_formulas(h, generator):
    f = torch.randn(20, generator=generator, dtype=torch.float64).numpy()
    expected = {
        fd.forward_difference_kernel: (f[2:] - f[1:-1]) / h,
        fd.backward_difference_kernel: (f[1:-1] - f[:-2]) / h,
        fd.central_difference_kernel: (f[2:] - f[:-2]) / (2 * h),
        fd.second_difference_kernel: (f[2:] - 2 * f[1:-1] + f[:-2]) / h**2,
    }
    for make_kernel, formula in expected.items():
        kernel = make_kernel(h)
        assert kernel.shape == (3,)
        np.testing.assert_allclose(np.correlate(f, kernel, mode="valid"), formula, rtol=1e-12, atol=1e-12)
        by_torch = F.conv1d(torch.from_numpy(f)[None, None], torch.from_numpy(kernel)[None, None])[0, 0]
        np.testing.assert_allclose(by_torch.numpy(), formula, rtol=1e-12, atol=1e-12)


def test_convolution_flips_the_first_difference_but_not_the_second(generator):
    f = torch.randn(12, generator=generator, dtype=torch.float64).numpy()
    forward, backward = fd.forward_difference_kernel(), fd.backward_difference_kernel()
    second = fd.second_difference_kernel()
    # convolution flips the kernel: [0, -1, 1] becomes [1, -1, 0], minus the backward difference
    np.testing.assert_allclose(np.convolve(f, forward, "valid"), -np.correlate(f, backward, "valid"))
    assert not np.allclose(np.convolve(f, forward, "valid"), np.correlate(f, forward, "valid"))
    np.testing.assert_allclose(np.convolve(f, second, "valid"), np.correlate(f, second, "valid"))


@pytest.mark.parametrize("h", H_VALUES)
def test_second_difference_is_forward_of_backward(h):
    expected = np.concatenate([[0.0], fd.second_difference_kernel(h), [0.0]])
    forward, backward = fd.forward_difference_kernel(h), fd.backward_difference_kernel(h)
    np.testing.assert_allclose(fd.compose_kernels(backward, forward), expected)
    np.testing.assert_allclose(fd.compose_kernels(forward, backward), expected)
    # forward twice lands one sample off-centre: f(x+2h) - 2 f(x+h) + f(x)
    np.testing.assert_allclose(fd.compose_kernels(forward, forward), np.roll(expected, 1))


def test_compose_kernels_equals_applying_both(generator):
    f = torch.randn(30, generator=generator, dtype=torch.float64).numpy()
    a = torch.randn(3, generator=generator, dtype=torch.float64).numpy()
    b = torch.randn(5, generator=generator, dtype=torch.float64).numpy()
    twice = np.correlate(np.correlate(f, a, "valid"), b, "valid")
    np.testing.assert_allclose(np.correlate(f, fd.compose_kernels(a, b), "valid"), twice, rtol=1e-12)


def test_difference_orders_of_accuracy():
    x, hs = 0.7, np.array([0.1, 0.05, 0.025, 0.0125])
    errors = {name: [] for name in ("forward", "central", "second")}
    for h in hs:
        samples = np.sin(x + h * np.arange(-1, 2))
        errors["forward"].append(abs(samples @ fd.forward_difference_kernel(h) - math.cos(x)))
        errors["central"].append(abs(samples @ fd.central_difference_kernel(h) - math.cos(x)))
        errors["second"].append(abs(samples @ fd.second_difference_kernel(h) + math.sin(x)))
    orders = {name: fd.observed_order(hs, np.array(e)) for name, e in errors.items()}
    assert abs(orders["forward"] - 1) < 0.05
    assert abs(orders["central"] - 2) < 0.05
    assert abs(orders["second"] - 2) < 0.05


# ----------------------------------------------------------------------------- 2-D kernels


@pytest.mark.parametrize("h", H_VALUES)
def test_laplacian_kernels_have_their_textbook_forms(h):
    five = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]) / h**2
    diagonal = np.array([[1, 0, 1], [0, -4, 0], [1, 0, 1]]) / (2 * h**2)
    nine = np.array([[1, 4, 1], [4, -20, 4], [1, 4, 1]]) / (6 * h**2)
    np.testing.assert_allclose(fd.laplacian_kernel_2d("4-neighbour", h), five, rtol=1e-14)
    np.testing.assert_allclose(fd.laplacian_kernel_2d("diagonal", h), diagonal, rtol=1e-14)
    np.testing.assert_allclose(fd.laplacian_kernel_2d("8-neighbour", h), nine, rtol=1e-14)
    image_kernel = np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    np.testing.assert_allclose(3 * h**2 * fd.blended_laplacian_kernel_2d(2 / 3, h), image_kernel, rtol=1e-14, atol=1e-14)


def test_five_point_kernel_is_row_plus_column_second_difference(generator):
    f = torch.randn(9, 11, generator=generator, dtype=torch.float64).numpy()
    d2 = fd.second_difference_kernel()
    rows = fd.apply_stencil_np(f, d2[None, :])[1:-1, :]  # (H - 2, W - 2)
    columns = fd.apply_stencil_np(f, d2[:, None])[:, 1:-1]
    np.testing.assert_allclose(fd.apply_laplacian_np(f), rows + columns, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weight", BLEND_WEIGHTS)
def test_every_blend_is_exact_on_quadratics(weight):
    h = 0.1
    x, y = grid(6, h)
    kernel = fd.blended_laplacian_kernel_2d(weight, h)
    for f, laplacian in ((x**2, 2.0), (x * y, 0.0), (3 * y**2 - x + 1, 6.0)):
        np.testing.assert_allclose(fd.apply_stencil_np(f, kernel), np.full((4, 4), laplacian), atol=1e-9)


@pytest.mark.parametrize("weight", BLEND_WEIGHTS)
def test_error_on_quartics_is_the_stated_leading_term(weight):
    """On quartics the h^2 term is the whole error: (h^2/12)(f_xxxx + 6 g f_xxyy + f_yyyy)."""
    h = 0.05
    x, y = grid(7, h)
    kernel = fd.blended_laplacian_kernel_2d(weight, h)
    # f = x^4 + x^2 y^2 + 2 y^4: f_xxxx = 24, f_xxyy = 4, f_yyyy = 48
    f = x**4 + x**2 * y**2 + 2 * y**4
    exact = 12 * x**2 + 2 * y**2 + 2 * x**2 + 24 * y**2
    error = fd.apply_stencil_np(f, kernel) - exact[1:-1, 1:-1]
    np.testing.assert_allclose(error, np.full((5, 5), h**2 / 12 * (24 + 6 * weight * 4 + 48)), rtol=1e-7)


def plane_wave_ratio(kind: str, wavenumber_h: float, angle: float) -> float:
    """(discrete Laplacian) / (exact Laplacian) on cos(k . x), h = 1: the stencil's symbol over -|k|^2."""
    x, y = grid(5, 1.0)
    kx, ky = wavenumber_h * math.cos(angle), wavenumber_h * math.sin(angle)
    f = np.cos(kx * x + ky * y)
    exact = -(wavenumber_h**2) * f[1:-1, 1:-1]
    approx = fd.apply_laplacian_np(f, 1.0, kind)
    return float((approx * exact).sum() / (exact * exact).sum())


def test_eight_neighbour_error_is_direction_independent():
    kh = 0.2
    for kind, axis_over_diagonal in (("4-neighbour", 2.0), ("diagonal", 0.5), ("8-neighbour", 1.0)):
        on_axis = 1 - plane_wave_ratio(kind, kh, 0.0)
        on_diagonal = 1 - plane_wave_ratio(kind, kh, math.pi / 4)
        assert on_axis > 0 and on_diagonal > 0
        assert on_axis / on_diagonal == pytest.approx(axis_over_diagonal, rel=0.02)
        assert on_axis == pytest.approx(kh**2 / 12, rel=0.02)  # every blend agrees along the axes


@pytest.mark.parametrize("kind", fd.LAPLACIAN_KINDS)
def test_laplacian_converges_at_second_order(kind):
    a, b = 3.0, 2.0
    hs, errors = [], []
    for n in (16, 32, 64, 128):
        h = 1 / n
        x, y = grid(n + 1, h, origin=0.0)
        f = np.sin(a * x) * np.cos(b * y)
        exact = -(a**2 + b**2) * f
        errors.append(np.abs(fd.apply_laplacian_np(f, h, kind) - exact[1:-1, 1:-1]).max())
        hs.append(h)
    assert abs(fd.observed_order(np.array(hs), np.array(errors)) - 2) < 0.05


# ----------------------------------------------------------------------------- applying kernels


@pytest.mark.parametrize("shape", [(7, 9), (2, 6, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("kernel_shape", [(3, 3), (1, 3), (3, 1), (2, 4)])
def test_apply_stencil_matches_loop_and_conv2d(device, generator, shape, kernel_shape):
    f = torch.randn(*shape, generator=generator, dtype=torch.float64)
    kernel = torch.randn(*kernel_shape, generator=generator, dtype=torch.float64).numpy()
    f_flat = f.reshape(-1, *shape[-2:]).numpy()
    expected = np.stack([loop_correlate2d(one, kernel) for one in f_flat])
    expected = expected.reshape(*shape[:-2], *expected.shape[-2:])
    np.testing.assert_allclose(fd.apply_stencil_np(f.numpy(), kernel), expected, rtol=1e-12, atol=1e-12)
    ours = fd.apply_stencil(f.to(device), kernel)
    assert ours.device.type == device.type and ours.dtype == torch.float64
    torch.testing.assert_close(ours.cpu(), torch.from_numpy(expected))
    reference = F.conv2d(f.reshape(-1, 1, *shape[-2:]), torch.from_numpy(kernel)[None, None])
    torch.testing.assert_close(ours.cpu().reshape(reference.shape), reference)


@pytest.mark.parametrize("kind", fd.LAPLACIAN_KINDS)
def test_apply_laplacian_torch_matches_numpy_and_keeps_dtype(device, generator, kind):
    f = torch.randn(3, 8, 10, generator=generator)
    ours = fd.apply_laplacian(f.to(device), 0.5, kind)
    assert ours.shape == (3, 6, 8) and ours.dtype == torch.float32 and ours.device.type == device.type
    ours_np = fd.apply_laplacian_np(f.numpy(), 0.5, kind)
    assert ours_np.dtype == np.float32
    torch.testing.assert_close(ours.cpu(), torch.from_numpy(ours_np), rtol=1e-5, atol=1e-5)


def test_apply_stencil_gradients_match_autograd_in_float64(generator):
    f = torch.randn(2, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    kernel = torch.randn(3, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fd.apply_stencil, (f, kernel))


@pytest.mark.parametrize("kind", fd.LAPLACIAN_KINDS)
def test_constant_grid_has_zero_laplacian_even_with_huge_values(device, kind):
    f = np.full((2, 5, 5), 1e12)
    tolerance = 0.0 if kind != "8-neighbour" else 1e-15 * 1e12 * 20 / 6  # weights k/6 are rounded
    np.testing.assert_allclose(fd.apply_laplacian_np(f, 1.0, kind), np.zeros((2, 3, 3)), atol=tolerance)
    on_device = fd.apply_laplacian(torch.from_numpy(f).to(device), 1.0, kind).cpu().numpy()
    # conv2d may sum in any order (cuDNN picks an algorithm): a few ulps of the largest term
    np.testing.assert_allclose(on_device, np.zeros((2, 3, 3)), atol=1e-14 * 1e12 * 4)


def test_apply_stencil_np_float32_is_summed_in_a_fixed_order(generator):
    """Each pixel sees the same sequence of float32 operations, wherever it sits in the batch."""
    f = torch.randn(4, 9, 9, generator=generator).numpy()
    kernel = fd.laplacian_kernel_2d("8-neighbour", 0.01)
    batched = fd.apply_stencil_np(f, kernel)
    assert batched.dtype == np.float32
    one_by_one = np.stack([fd.apply_stencil_np(np.ascontiguousarray(one.T).T, kernel) for one in f])
    np.testing.assert_array_equal(batched, one_by_one)


def test_observed_order_of_an_exact_power_law():
    h = np.array([0.1, 0.05, 0.02])
    assert fd.observed_order(h, 7 * h**3) == pytest.approx(3.0)


# ----------------------------------------------------------------------------- bad input


def test_bad_spacing_and_kind():
    with pytest.raises(ValueError, match="h must be positive and finite; got 0"):
        fd.second_difference_kernel(0)
    with pytest.raises(ValueError, match="h must be positive and finite; got -1"):
        fd.laplacian_kernel_2d("4-neighbour", -1.0)
    with pytest.raises(TypeError, match="h must be a number; got str"):
        fd.forward_difference_kernel("1")
    with pytest.raises(ValueError, match=r"kind must be one of \('4-neighbour', 'diagonal', '8-neighbour'\); got '5-point'"):
        fd.laplacian_kernel_2d("5-point")
    with pytest.raises(ValueError, match=r"diagonal_weight must be a number in \[0, 1\]; got 1.5"):
        fd.blended_laplacian_kernel_2d(1.5)
    with pytest.raises(TypeError, match="diagonal_weight must be a number; got str"):
        fd.blended_laplacian_kernel_2d("0.5")


def test_bad_grids():
    with pytest.raises(TypeError, match="f must have a floating-point dtype; got int64"):
        fd.apply_laplacian_np(np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"f must have at least 2 axis\(es\); got shape \(5,\)"):
        fd.apply_laplacian_np(np.zeros(5))
    with pytest.raises(ValueError, match=r"f must be at least the kernel's size \(3, 3\) in its last two axes; got shape \(2, 5\)"):
        fd.apply_laplacian(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="f must be a torch.Tensor; got numpy.ndarray"):
        fd.apply_laplacian(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="f must be a numpy.ndarray; got torch.Tensor"):
        fd.apply_laplacian_np(torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"kernel must have shape \(kh, kw\); got shape \(3,\)"):
        fd.apply_stencil_np(np.zeros((4, 4)), fd.second_difference_kernel())


def test_bad_kernels_and_orders():
    with pytest.raises(ValueError, match=r"second must have shape \(k,\); got shape \(3, 3\)"):
        fd.compose_kernels(fd.forward_difference_kernel(), fd.laplacian_kernel_2d())
    with pytest.raises(ValueError, match="errors must hold at least 2 positive values"):
        fd.observed_order(np.array([0.1, 0.05]), np.array([1e-3, 0.0]))
    with pytest.raises(ValueError, match=r"h and errors must have the same shape; got h \(3,\) and errors \(2,\)"):
        fd.observed_order(np.array([0.1, 0.05, 0.02]), np.array([1e-3, 1e-4]))


# ----------------------------------------------------------------------------- Fourier symbol


@pytest.mark.parametrize("h", [1.0, 0.2])
def test_stencil_symbol_is_what_the_stencil_does_to_waves(generator, h):
    """Applied to cos(phase) the kernel returns Re(S) cos(phase) - Im(S) sin(phase), S the symbol."""
    kernel = torch.randn(3, 5, generator=generator, dtype=torch.float64).numpy()  # not symmetric
    x, y = grid(9, h)
    for kx, ky in ((0.3, 1.1), (-2.0, 0.4), (0.0, 0.0)):
        phase = kx * x + ky * y
        symbol = fd.stencil_symbol(kernel, kx, ky, h)
        expected = symbol.real * np.cos(phase) - symbol.imag * np.sin(phase)
        np.testing.assert_allclose(fd.apply_stencil_np(np.cos(phase), kernel), expected[1:-1, 2:-2], atol=1e-12)


def test_five_point_symbol_closed_form_and_isotropy():
    h = 0.5
    kx, ky = np.meshgrid(np.linspace(-3, 3, 13), np.linspace(-3, 3, 13))
    symbol = fd.stencil_symbol(fd.laplacian_kernel_2d("4-neighbour", h), kx, ky, h)
    assert symbol.shape == (13, 13) and np.abs(symbol.imag).max() < 1e-12
    closed_form = -4 / h**2 * (np.sin(kx * h / 2) ** 2 + np.sin(ky * h / 2) ** 2)
    np.testing.assert_allclose(symbol.real, closed_form, atol=1e-12)
    # relative error along directions 0..90 degrees at |k| h = 0.2: 8-neighbour flat, 4-neighbour a factor 2
    angles = np.linspace(0, np.pi / 2, 31)
    for kind, spread in (("4-neighbour", 2.0), ("8-neighbour", 1.0)):
        s = fd.stencil_symbol(fd.laplacian_kernel_2d(kind), 0.2 * np.cos(angles), 0.2 * np.sin(angles))
        relative_error = 1 + s.real / 0.2**2
        assert relative_error.max() / relative_error.min() == pytest.approx(spread, rel=0.01)


def test_stencil_symbol_bad_input():
    with pytest.raises(ValueError, match=r"kernel must have odd sizes to have a centre; got shape \(2, 3\)"):
        fd.stencil_symbol(np.zeros((2, 3)), 0.1, 0.2)
    with pytest.raises(ValueError, match=r"kernel must have shape \(kh, kw\); got shape \(3,\)"):
        fd.stencil_symbol(np.zeros(3), 0.1, 0.2)
