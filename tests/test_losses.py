"""Cross-entropy and binary cross-entropy against torch.nn.functional: values, gradients, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion import losses

REDUCTIONS = ["none", "mean", "sum"]


@pytest.fixture
def logits_labels(generator):
    logits = 3 * torch.randn(6, 4, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 4, (6,), generator=generator)
    return logits, labels


# ----------------------------------------------------------------------------- categorical


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(device, logits_labels, reduction):
    logits, labels = (t.to(device) for t in logits_labels)
    expected = F.cross_entropy(logits, labels, reduction=reduction)
    torch.testing.assert_close(losses.cross_entropy(logits, labels, reduction), expected)
    np.testing.assert_allclose(
        losses.cross_entropy_np(logits.cpu().numpy(), labels.cpu().numpy(), reduction), expected.cpu().numpy(), rtol=1e-12
    )


def test_cross_entropy_is_finite_and_exact_on_extreme_logits(device):
    logits = torch.tensor([[1e4, -1e4], [1e4, -1e4], [-1e4, -1e4]], device=device)
    labels = torch.tensor([0, 1, 1], device=device)
    out = losses.cross_entropy(logits, labels, reduction="none")
    torch.testing.assert_close(out, torch.tensor([0.0, 2e4, 0.6931472], device=device))
    torch.testing.assert_close(out, F.cross_entropy(logits, labels, reduction="none"))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_gradient(device, logits_labels, reduction):
    logits, labels = (t.to(device) for t in logits_labels)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: losses.cross_entropy(z, labels, reduction), (logits,))
    (autograd,) = torch.autograd.grad(F.cross_entropy(logits, labels, reduction=reduction), logits)
    torch.testing.assert_close(losses.cross_entropy_grad(logits.detach(), labels, reduction), autograd)


# ----------------------------------------------------------------------------- binary


@pytest.fixture
def binary_logits_targets(generator):
    logits = 5 * torch.randn(3, 5, generator=generator, dtype=torch.float64)
    targets = torch.rand(3, 5, generator=generator, dtype=torch.float64).round()
    targets[0, 0] = 0.3  # soft targets are allowed
    return logits, targets


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(device, binary_logits_targets, reduction):
    logits, targets = (t.to(device) for t in binary_logits_targets)
    expected = F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction)
    torch.testing.assert_close(losses.binary_cross_entropy_with_logits(logits, targets, reduction), expected)
    np.testing.assert_allclose(
        losses.binary_cross_entropy_with_logits_np(logits.cpu().numpy(), targets.cpu().numpy(), reduction),
        expected.cpu().numpy(),
        rtol=1e-12,
    )
    naive = losses.naive_binary_cross_entropy(logits, targets, reduction)  # fine for moderate logits
    torch.testing.assert_close(naive, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_with_logits_is_finite_where_the_naive_form_is_not(device, dtype):
    # sigmoid(-1e4) is exactly 0 in both dtypes: log(0) = -inf, and 0 * -inf = nan
    logits = torch.tensor([-1e4, -1e4, 200.0, 1e4], device=device, dtype=dtype)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0], device=device, dtype=dtype)
    stable = losses.binary_cross_entropy_with_logits(logits, targets, "none")
    torch.testing.assert_close(stable, torch.tensor([1e4, 0.0, 200.0, 0.0], device=device, dtype=dtype))
    torch.testing.assert_close(stable, F.binary_cross_entropy_with_logits(logits, targets, reduction="none"))
    naive = losses.naive_binary_cross_entropy(logits, targets, "none")
    assert not torch.isfinite(naive).all()
    with np.errstate(all="ignore"):
        naive_np = losses.naive_binary_cross_entropy_np(logits.cpu().numpy(), targets.cpu().numpy(), "none")
    assert np.isinf(naive_np[0]) and np.isnan(naive_np[1])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_gradient(device, binary_logits_targets, reduction):
    logits, targets = (t.to(device) for t in binary_logits_targets)
    logits.requires_grad_()
    fn = lambda z: losses.binary_cross_entropy_with_logits(z, targets, reduction)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (logits,))
    (autograd,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction), logits)
    torch.testing.assert_close(losses.binary_cross_entropy_grad(logits.detach(), targets, reduction), autograd)


# ----------------------------------------------------------------------------- bad input


def test_cross_entropy_rejects_bad_input():
    logits = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for C = 3 classes; got 1 value\(s\) outside, in \[3, 3\]"):
        losses.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for C = 3 classes; got 1 value\(s\) outside, in \[-1, -1\]"):
        losses.cross_entropy(logits, torch.tensor([0, 1, -1, 0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(4,\); got shape \(4, 1\)"):
        losses.cross_entropy(logits, torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError, match="labels must hold integer class indices; got dtype torch.float32"):
        losses.cross_entropy(logits, torch.zeros(4))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\); got shape \(4,\)"):
        losses.cross_entropy(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype; got torch.int64"):
        losses.cross_entropy(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.cross_entropy(logits, torch.zeros(4, dtype=torch.long), reduction="avg")
    with pytest.raises(TypeError, match="labels must be a numpy.ndarray; got list"):
        losses.cross_entropy_np(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        losses.cross_entropy_grad(logits, torch.zeros(4, dtype=torch.long), reduction="none")


def test_binary_losses_reject_bad_input():
    logits = torch.zeros(4, 1)
    with pytest.raises(ValueError, match=r"logits and targets must have the same shape; got logits \(4, 1\) and targets \(4,\)"):
        losses.binary_cross_entropy_with_logits(logits, torch.zeros(4))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]; got values in \[0.0, 2.0\]"):
        losses.binary_cross_entropy_with_logits(logits, torch.tensor([[0.0], [1.0], [2.0], [0.0]]))
    with pytest.raises(TypeError, match="targets must have a floating-point dtype; got torch.int64"):
        losses.binary_cross_entropy_with_logits(logits, torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError, match="targets must be a torch.Tensor; got numpy.ndarray"):
        losses.binary_cross_entropy_with_logits(logits, np.zeros((4, 1)))


def test_bce_gradient_at_a_zero_logit_is_sigmoid_minus_target(device):
    """A zero-initialised output layer starts at z = 0: the gradient there must be 0.5 - y."""
    logits = torch.zeros(3, device=device, requires_grad=True)
    targets = torch.tensor([1.0, 0.0, 0.5], device=device)
    losses.binary_cross_entropy_with_logits(logits, targets, "sum").backward()
    torch.testing.assert_close(logits.grad, torch.tensor([-0.5, 0.5, 0.0], device=device))
