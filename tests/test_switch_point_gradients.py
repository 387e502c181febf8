"""Gradients exactly at the switch points, against PyTorch's own functions.

A stable sigmoid or softplus changes branch at ``z = 0``; a max pool has no
single winner in a window of equal values; a log-sum-exp shifts by a maximum
that ties when all logits are equal. There the gradient is whatever the
operation used to switch passes (``clamp`` passes 1 at its boundary up to
PyTorch 2.13 and 0 from 2.14) unless the code decides it itself. Zero-initialised
layers and all-zero inputs sit exactly at these points, so every function built
on such a switch is checked there, in float32 and float64, on every device; the
version matrix (``make matrix``) runs these tests on every supported PyTorch.
"""

import pytest
import torch
import torch.nn.functional as F

from companion import activations as act
from companion import conv, losses
from companion import segmentation_losses as sl

DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
# (ours, PyTorch's, the derivative at 0)
ELEMENTWISE = [
    (act.sigmoid, torch.sigmoid, 0.25),
    (act.log_sigmoid, F.logsigmoid, 0.5),
    (act.softplus, F.softplus, 0.5),
]
ELEMENTWISE_IDS = ["sigmoid", "log_sigmoid", "softplus"]


def grad(fn, z: torch.Tensor, upstream: torch.Tensor | None = None) -> torch.Tensor:
    """``d(sum(upstream * fn(z))) / dz`` at a fresh leaf copy of ``z``."""
    z = z.detach().clone().requires_grad_()
    out = fn(z)
    weights = torch.ones_like(out) if upstream is None else upstream
    (g,) = torch.autograd.grad((out * weights).sum(), z)
    return g


def second_derivative(fn, z: torch.Tensor) -> torch.Tensor:
    """``f''(z)`` elementwise, for an elementwise ``fn``, by differentiating the gradient."""
    z = z.detach().clone().requires_grad_()
    (first,) = torch.autograd.grad(fn(z).sum(), z, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), z)
    return second


# ----------------------------------------------------------------------------- sigmoid, log-sigmoid, softplus


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, theirs, slope", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_gradient_at_zero_matches_torch(device, dtype, ours, theirs, slope):
    z = torch.tensor([0.0, -0.0, 0.0], dtype=dtype, device=device)
    mine = grad(ours, z)
    torch.testing.assert_close(mine, grad(theirs, z))
    torch.testing.assert_close(mine, torch.full_like(z, slope))


@pytest.mark.parametrize("ours, theirs, slope", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_second_derivative_at_zero_matches_torch(device, ours, theirs, slope):
    """Each branch is smooth where it is selected, so the curvature at 0 is right as well."""
    z = torch.tensor([0.0, -0.0], dtype=torch.float64, device=device)
    torch.testing.assert_close(second_derivative(ours, z), second_derivative(theirs, z))


@pytest.mark.parametrize("ours", [e[0] for e in ELEMENTWISE], ids=ELEMENTWISE_IDS)
def test_elementwise_gradcheck_across_zero(device, ours):
    """Central differences straddle the switch point: a one-sided gradient at 0 fails here."""
    z = torch.tensor([-3.0, -1e-3, -0.0, 0.0, 1e-3, 3.0], dtype=torch.float64, device=device).requires_grad_()
    assert torch.autograd.gradcheck(ours, (z,))
    assert torch.autograd.gradgradcheck(ours, (z,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, theirs, slope", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_values_and_gradients_at_extreme_logits(device, dtype, ours, theirs, slope):
    z = torch.tensor([-1e4, -20.0, -1e-3, 0.0, 1e-3, 20.0, 1e4], dtype=dtype, device=device)
    torch.testing.assert_close(ours(z), theirs(z))
    torch.testing.assert_close(grad(ours, z), grad(theirs, z))


# ----------------------------------------------------------------------------- binary losses built on them


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_gradient_at_zero_logits_matches_torch(device, dtype, reduction):
    targets = torch.tensor([[0.0, 1.0, 0.25], [1.0, 0.0, 0.5]], dtype=dtype, device=device)
    zeros = torch.zeros_like(targets)
    upstream = torch.arange(1.0, 7.0, dtype=dtype, device=device).reshape(2, 3) if reduction == "none" else None
    mine = grad(lambda z: losses.binary_cross_entropy_with_logits(z, targets, reduction), zeros, upstream)
    theirs = grad(lambda z: F.binary_cross_entropy_with_logits(z, targets, reduction=reduction), zeros, upstream)
    torch.testing.assert_close(mine, theirs)
    if reduction == "sum":
        torch.testing.assert_close(mine, 0.5 - targets)  # sigmoid(0) - y


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_binary_mask_cross_entropy_gradient_at_zero_logits_matches_torch(device, pos_weight):
    masks = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64, device=device)  # (1, 1, 2, 2)
    zeros = torch.zeros_like(masks)
    weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64, device=device)
    mine = grad(lambda z: sl.binary_mask_cross_entropy(z, masks, pos_weight), zeros)
    theirs = grad(lambda z: F.binary_cross_entropy_with_logits(z, masks, pos_weight=weight), zeros)
    torch.testing.assert_close(mine, theirs)


def test_soft_dice_on_masks_gradient_at_zero_logits_matches_torch_sigmoid(device):
    masks = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]], dtype=torch.float64, device=device)  # (1, 2, 3)
    zeros = torch.zeros_like(masks)

    def reference(z: torch.Tensor) -> torch.Tensor:  # the docstring's formula, with torch.sigmoid
        p, t = torch.sigmoid(z).flatten(), masks.flatten()
        return 1 - (2 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1.0)

    torch.testing.assert_close(grad(lambda z: sl.soft_dice_loss(z, masks), zeros), grad(reference, zeros))


# ----------------------------------------------------------------------------- max pooling at ties


def tied_inputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        torch.zeros(1, 2, 6, 6, dtype=torch.float64),  # every window tied
        torch.full((1, 1, 5, 7), -1.5, dtype=torch.float64),  # a constant image
        torch.randint(0, 2, (2, 3, 7, 7), generator=g).to(torch.float64),  # ties in some windows
    ]


@pytest.mark.parametrize(
    "kernel, stride, padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), 0)], ids=["2-2-0", "3-1-1", "3-2-1", "2x3-1x2-0"]
)
def test_max_pool2d_gradient_at_ties_matches_torch(device, kernel, stride, padding):
    """F.max_pool2d gives each window's gradient to one winner, the first maximum; so must ours."""
    for x in tied_inputs():
        x = x.to(device)
        mine = grad(lambda t: conv.max_pool2d(t, kernel, stride, padding), x)
        assert torch.equal(mine, grad(lambda t: F.max_pool2d(t, kernel, stride, padding), x))


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 1, 1), (6, 2, 0)])
def test_max_pool1d_gradient_at_ties_matches_torch(device, kernel, stride, padding):
    for x in tied_inputs():
        x = x.flatten(2).to(device)  # (N, C, L)
        mine = grad(lambda t: conv.max_pool1d(t, kernel, stride, padding), x)
        assert torch.equal(mine, grad(lambda t: F.max_pool1d(t, kernel, stride, padding), x))


# ----------------------------------------------------------------------------- log-sum-exp shifted by a tied maximum


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_family_gradient_at_tied_logits_matches_torch(device, dtype):
    """All-equal logits (a zero-initialised classifier) tie the maximum that every stable form subtracts."""
    g = torch.Generator().manual_seed(1)
    zeros = torch.zeros(3, 4, dtype=dtype, device=device)
    upstream = torch.randn(3, 4, generator=g, dtype=dtype).to(device)
    for ours, theirs in [
        (lambda z: act.softmax(z, dim=1), lambda z: torch.softmax(z, dim=1)),
        (lambda z: act.log_softmax(z, dim=1), lambda z: torch.log_softmax(z, dim=1)),
        (lambda z: act.logsumexp(z, dim=1, keepdim=True), lambda z: torch.logsumexp(z, dim=1, keepdim=True)),
    ]:
        torch.testing.assert_close(grad(ours, zeros, upstream), grad(theirs, zeros, upstream))
    labels = torch.tensor([0, 3, 1], device=device)
    mine = grad(lambda z: losses.cross_entropy(z, labels), zeros)
    torch.testing.assert_close(mine, grad(lambda z: F.cross_entropy(z, labels), zeros))
    torch.testing.assert_close(mine, losses.cross_entropy_grad(zeros, labels))


def test_pixel_cross_entropy_gradient_at_tied_logits_matches_torch(device):
    zeros = torch.zeros(2, 3, 2, 2, dtype=torch.float64, device=device)  # (N, C, H, W)
    labels = torch.tensor([[[0, 1], [2, 0]], [[1, 1], [2, 0]]], device=device)  # (N, H, W)
    mine = grad(lambda z: sl.pixel_cross_entropy(z, labels), zeros)
    torch.testing.assert_close(mine, grad(lambda z: F.cross_entropy(z, labels), zeros))
