"""Softmax, log-softmax, log-sum-exp and sigmoid against PyTorch, in NumPy and in PyTorch."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from companion import activations as act

EXTREME = [[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [3.0, 1e4, 1e4 - 1.0]]


def finite_logits(max_abs=1e4):
    return arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 6)),
        elements=st.floats(-max_abs, max_abs, allow_nan=False),
    )


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_functions_match_torch_on_extreme_logits(device, dtype):
    z = torch.tensor(EXTREME, dtype=dtype, device=device)
    torch.testing.assert_close(act.softmax(z, dim=1), torch.softmax(z, dim=1))
    torch.testing.assert_close(act.log_softmax(z, dim=1), torch.log_softmax(z, dim=1))
    torch.testing.assert_close(act.logsumexp(z, dim=1), torch.logsumexp(z, dim=1))
    torch.testing.assert_close(act.sigmoid(z), torch.sigmoid(z))
    torch.testing.assert_close(act.log_sigmoid(z), torch.nn.functional.logsigmoid(z))
    assert torch.isfinite(act.log_softmax(z, dim=1)).all()


def test_numpy_functions_match_torch_on_extreme_logits():
    z = np.array(EXTREME)
    ref = torch.tensor(z)
    np.testing.assert_allclose(act.softmax_np(z, axis=1), torch.softmax(ref, dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(act.log_softmax_np(z, axis=1), torch.log_softmax(ref, dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(act.logsumexp_np(z, axis=1), torch.logsumexp(ref, dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(act.sigmoid_np(z), torch.sigmoid(ref).numpy(), rtol=1e-12)
    np.testing.assert_allclose(act.log_sigmoid_np(z), torch.nn.functional.logsigmoid(ref).numpy(), rtol=1e-12)


def test_naive_softmax_fails_where_the_stable_one_does_not():
    z = np.array([[1000.0, 0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = act.naive_softmax_np(z)
    assert np.isnan(naive).any()
    np.testing.assert_allclose(act.softmax_np(z), [[1.0, 0.0]])


@settings(max_examples=50, deadline=None)
@given(finite_logits(), st.integers(0, 1))
def test_numpy_softmax_matches_torch_on_random_shapes(z, axis):
    ref = torch.softmax(torch.tensor(z), dim=axis).numpy()
    np.testing.assert_allclose(act.softmax_np(z, axis=axis), ref, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(act.softmax_np(z, axis=axis).sum(axis=axis), 1.0, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(finite_logits(max_abs=50.0), st.floats(-100, 100))
def test_softmax_is_unchanged_by_adding_a_constant(z, shift):
    np.testing.assert_allclose(act.softmax_np(z + shift), act.softmax_np(z), rtol=1e-9, atol=1e-12)


def test_temperature_divides_the_logits(device):
    z = torch.tensor([[2.0, 1.0, -1.0]], device=device)
    torch.testing.assert_close(act.softmax(z, temperature=2.5), torch.softmax(z / 2.5, dim=-1))
    np.testing.assert_allclose(act.softmax_np(z.cpu().numpy(), temperature=0.5), torch.softmax(z / 0.5, -1).cpu().numpy(), rtol=1e-6)


def test_sigmoid_keeps_dtype_and_device(device):
    z = torch.linspace(-50, 50, 11, device=device, dtype=torch.float64)
    out = act.sigmoid(z)
    assert out.dtype == torch.float64 and out.device == z.device
    assert act.sigmoid_np(np.float32([1.0, -1.0])).dtype == np.float32


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "fn",
    [
        lambda z: act.softmax(z, dim=1),
        lambda z: act.log_softmax(z, dim=1),
        lambda z: act.logsumexp(z, dim=1),
        lambda z: act.softmax(z, dim=0, temperature=0.7),
        act.sigmoid,
        act.log_sigmoid,
        act.softplus,
    ],
    ids=["softmax", "log_softmax", "logsumexp", "softmax_T", "sigmoid", "log_sigmoid", "softplus"],
)
def test_gradients_pass_gradcheck_in_float64(device, generator, fn):
    z = torch.randn(3, 5, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    assert torch.autograd.gradcheck(fn, (z,))


def test_gradients_match_torch_on_extreme_logits(device):
    z = torch.tensor(EXTREME, dtype=torch.float64, device=device)
    weights = torch.arange(9.0, dtype=torch.float64, device=device).reshape(3, 3)
    for ours, theirs in [(act.log_softmax, torch.log_softmax), (act.softmax, torch.softmax)]:
        mine = z.clone().requires_grad_()
        ref = z.clone().requires_grad_()
        (ours(mine, dim=1) * weights).sum().backward()
        (theirs(ref, dim=1) * weights).sum().backward()
        torch.testing.assert_close(mine.grad, ref.grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_backward_matches_autograd(device, generator, dim):
    z = torch.randn(4, 5, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    g = torch.randn(4, 5, generator=generator, dtype=torch.float64).to(device)
    p = torch.softmax(z, dim=dim)
    (expected,) = torch.autograd.grad(p, z, g)
    torch.testing.assert_close(act.softmax_backward(p.detach(), g, dim=dim), expected)


def test_softmax_backward_chained_with_cross_entropy_gives_p_minus_onehot(device, generator):
    z = torch.randn(6, 4, generator=generator, dtype=torch.float64).to(device)
    labels = torch.randint(0, 4, (6,), generator=generator).to(device)
    p = torch.softmax(z, dim=1)
    onehot = torch.nn.functional.one_hot(labels, 4).double()
    g = -onehot / p  # d(-log p_y)/dp
    torch.testing.assert_close(act.softmax_backward(p, g, dim=1), p - onehot)


def test_softmax_backward_refuses_mismatched_input():
    with pytest.raises(ValueError, match=r"probabilities and grad_output must have the same shape; got probabilities \(2, 3\) and grad_output \(3, 2\)"):
        act.softmax_backward(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(TypeError, match="same dtype; got torch.float32 and torch.float64"):
        act.softmax_backward(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="grad_output must be a torch.Tensor; got numpy.ndarray"):
        act.softmax_backward(torch.zeros(2, 3), np.zeros((2, 3)))


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="z must be a torch.Tensor; got numpy.ndarray"):
        act.softmax(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="z must be a numpy.ndarray; got torch.Tensor"):
        act.softmax_np(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="floating-point dtype; got torch.int64"):
        act.softmax(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="floating-point dtype; got int64"):
        act.log_softmax_np(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="at least 1 axis"):
        act.softmax(torch.tensor(1.0))
    with pytest.raises(ValueError, match="temperature must be positive and finite; got 0"):
        act.softmax(torch.zeros(3), temperature=0)
    with pytest.raises(ValueError, match="temperature must be positive and finite; got -1.0"):
        act.softmax_np(np.zeros(3), temperature=-1.0)


def test_gradients_are_exact_at_zero(device):
    """abs and clamp have one-sided derivatives at 0; the results must not inherit them."""
    z = torch.zeros(3, dtype=torch.float64, device=device)
    for ours, theirs in [
        (act.sigmoid, torch.sigmoid),
        (act.log_sigmoid, torch.nn.functional.logsigmoid),
        (act.softplus, torch.nn.functional.softplus),
    ]:
        mine, ref = z.clone().requires_grad_(), z.clone().requires_grad_()
        ours(mine).sum().backward()
        theirs(ref).sum().backward()
        torch.testing.assert_close(mine.grad, ref.grad)
    torch.testing.assert_close(act.softplus(torch.tensor([-1e4, 0.0, 1e4], device=device)),
                               torch.tensor([0.0, 0.6931472, 1e4], device=device))
