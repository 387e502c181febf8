"""Tests for companion.heads: the velocity grid and the four output heads."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D

from companion.heads import (
    BoundedRegressionHead,
    FactorizedGridHead,
    JointGridHead,
    MixtureDensityHead,
    VelocityGrid,
    cell_accuracy,
    squash,
)


def _velocities(n, generator, device, dtype=torch.float32, scale=1.0):
    return (scale * (2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1)).to(device, dtype)


# ----------------------------------------------------------------------------- grid


def test_grid_defaults_and_centres(device):
    grid = VelocityGrid()
    assert (grid.bins, grid.num_cells) == (20, 400)
    assert grid.width == pytest.approx(0.1)
    centres = grid.centres(dtype=torch.float64, device=device)
    expected = torch.linspace(-0.95, 0.95, 20, dtype=torch.float64, device=device)
    torch.testing.assert_close(centres, expected)


def test_encode_matches_a_loop_reference(device, generator):
    grid = VelocityGrid(low=-2.0, high=3.0, bins=7)
    v = (6 * torch.rand(300, 2, generator=generator, dtype=torch.float64) - 2.5).to(device)  # some outside
    index = grid.encode(v)
    assert index.dtype == torch.int64 and index.device.type == device.type
    for value, i in zip(v.flatten().tolist(), index.flatten().tolist()):
        expected = min(max(math.floor((value - grid.low) / grid.width), 0), grid.bins - 1)
        assert i == expected


def test_encode_clamps_the_ends(device):
    grid = VelocityGrid()
    v = torch.tensor([[-1.0, 1.0], [-5.0, 5.0], [0.0, -0.0]], device=device)
    assert grid.encode(v).tolist() == [[0, 19], [0, 19], [10, 10]]


def test_decode_of_encode_is_within_half_a_bin(device, generator):
    grid = VelocityGrid()
    v = _velocities(1000, generator, device)
    error = (grid.decode(grid.encode(v)) - v).abs()
    assert error.max() <= grid.width / 2 + 1e-6
    # for values spread evenly within a bin, the mean error is a quarter bin
    assert error.mean().item() == pytest.approx(grid.width / 4, rel=0.1)


def test_decode_of_centres_round_trips(device):
    grid = VelocityGrid(bins=13)
    index = torch.stack(torch.meshgrid(torch.arange(13), torch.arange(13), indexing="ij"), -1).reshape(-1, 2)
    index = index.to(device)
    assert torch.equal(grid.encode(grid.decode(index)), index)


def test_joint_index_and_split_are_inverse(device):
    grid = VelocityGrid(bins=5)
    joint = torch.arange(25, device=device)
    index = grid.split_index(joint)
    assert index.tolist() == [[i // 5, i % 5] for i in range(25)]
    assert torch.equal(grid.joint_index(index), joint)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"bins": 0}, ValueError, r"bins must be >= 1; got 0"),
        ({"bins": 2.0}, TypeError, r"bins must be an int; got float 2.0"),
        ({"low": 1.0, "high": 1.0}, ValueError, r"low must be < high; got low=1.0, high=1.0"),
        ({"low": float("nan")}, ValueError, r"low must be a finite number; got nan"),
    ],
)
def test_grid_rejects_bad_configuration(kwargs, error, match):
    with pytest.raises(error, match=match):
        VelocityGrid(**kwargs)


def test_grid_rejects_bad_inputs(device):
    grid = VelocityGrid()
    with pytest.raises(ValueError, match=r"v must have shape \(N, 2\); got shape \(4, 3\)"):
        grid.encode(torch.zeros(4, 3, device=device))
    with pytest.raises(TypeError, match=r"v must have a floating-point dtype"):
        grid.encode(torch.zeros(4, 2, dtype=torch.int64, device=device))
    with pytest.raises(TypeError, match=r"index must hold integer indices; got dtype torch.float32"):
        grid.decode(torch.zeros(4, 2, device=device))
    with pytest.raises(ValueError, match=r"index must lie in \[0, 20\); got 1 value\(s\) outside, in \[20, 20\]"):
        grid.decode(torch.tensor([[0, 20]], device=device))
    with pytest.raises(ValueError, match=r"joint must lie in \[0, 400\); got 1 value\(s\) outside, in \[-1, -1\]"):
        grid.split_index(torch.tensor([-1, 3], device=device))
    with pytest.raises(ValueError, match=r"joint must have shape \(N,\); got shape \(2, 1\)"):
        grid.split_index(torch.zeros(2, 1, dtype=torch.int64, device=device))


def test_cell_accuracy(device):
    grid = VelocityGrid()
    v = torch.tensor([[0.01, 0.01], [0.01, 0.01], [0.51, -0.51], [0.9, 0.9]], device=device)
    pred = torch.tensor([[0.09, 0.02], [-0.01, 0.01], [0.55, -0.55], [0.9, 0.8]], device=device)
    assert cell_accuracy(pred, v, grid).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"pred and v must have the same shape; got \(3, 2\) and \(4, 2\)"):
        cell_accuracy(pred[:3], v, grid)


# ----------------------------------------------------------------------------- squash


@pytest.mark.parametrize(("low", "high"), [(-1.0, 1.0), (0.0, 5.0), (-3.0, -2.0)])
def test_squash_is_a_scaled_sigmoid(device, low, high):
    z = torch.linspace(-40, 40, 801, dtype=torch.float64, device=device)
    torch.testing.assert_close(squash(z, low, high), low + (high - low) * torch.sigmoid(z))


def test_squash_identity_and_extremes(device):
    z = torch.tensor([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], dtype=torch.float64, device=device)
    # 2 (sigmoid(z) - 0.5) = tanh(z / 2)
    torch.testing.assert_close(squash(z), 2 * (torch.sigmoid(z) - 0.5))
    out = squash(z.float())
    assert torch.isfinite(out).all() and out.min() >= -1 and out.max() <= 1
    assert squash(torch.zeros(3, device=device)).abs().max() == 0


# ----------------------------------------------------------------------------- heads


def test_joint_head_loss_matches_cross_entropy(device, generator):
    grid = VelocityGrid(bins=6)
    head = JointGridHead(4, grid).to(device)
    logits = torch.randn(50, 36, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    v = _velocities(50, generator, device, torch.float64)
    ix, iy = grid.encode(v).unbind(1)
    reference = logits.detach().clone().requires_grad_()
    loss, expected = head.loss(logits, v), F.cross_entropy(reference, ix * 6 + iy)
    torch.testing.assert_close(loss, expected)
    loss.backward(), expected.backward()
    torch.testing.assert_close(logits.grad, reference.grad)


def test_joint_head_probabilities_and_prediction(device, generator):
    grid = VelocityGrid(bins=6)
    head = JointGridHead(4, grid).to(device)
    logits = torch.randn(10, 36, generator=generator).to(device)
    p = head.cell_probabilities(logits)
    assert p.shape == (10, 6, 6)
    torch.testing.assert_close(p.sum(dim=(1, 2)), torch.ones(10, device=device))
    torch.testing.assert_close(p[:, 2, 4], torch.softmax(logits, 1)[:, 2 * 6 + 4])
    best = logits.argmax(1)
    expected = torch.stack((grid.centres(device=device)[best // 6], grid.centres(device=device)[best % 6]), 1)
    torch.testing.assert_close(head.predict(logits), expected)


def test_factorized_head_loss_is_the_sum_of_two_cross_entropies(device, generator):
    grid = VelocityGrid(bins=7)
    head = FactorizedGridHead(4, grid).to(device)
    logits = torch.randn(40, 14, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    v = _velocities(40, generator, device, torch.float64)
    ix, iy = grid.encode(v).unbind(1)
    reference = logits.detach().clone().requires_grad_()
    expected = F.cross_entropy(reference[:, :7], ix) + F.cross_entropy(reference[:, 7:], iy)
    loss = head.loss(logits, v)
    torch.testing.assert_close(loss, expected)
    loss.backward(), expected.backward()
    torch.testing.assert_close(logits.grad, reference.grad)
    # the same number is the negative log-probability of the true cell under the product
    p = head.cell_probabilities(logits.detach())
    torch.testing.assert_close(-torch.log(p[torch.arange(40), ix, iy]).mean(), loss.detach())


def test_factorized_head_probabilities_are_the_product_of_marginals(device, generator):
    grid = VelocityGrid(bins=5)
    head = FactorizedGridHead(3, grid).to(device)
    logits = torch.randn(6, 10, generator=generator).to(device)
    p = head.cell_probabilities(logits)
    px, py = torch.softmax(logits[:, :5], 1), torch.softmax(logits[:, 5:], 1)
    for n in range(6):
        for i in range(5):
            for j in range(5):
                torch.testing.assert_close(p[n, i, j], px[n, i] * py[n, j])
    centres = grid.centres(device=device)
    expected = torch.stack((centres[px.argmax(1)], centres[py.argmax(1)]), 1)
    torch.testing.assert_close(head.predict(logits), expected)


def test_regression_head_loss_and_range(device, generator):
    head = BoundedRegressionHead(4).to(device)
    z = (30 * torch.randn(64, 2, generator=generator, dtype=torch.float64)).to(device).requires_grad_()
    v = _velocities(64, generator, device, torch.float64)
    reference = z.detach().clone().requires_grad_()
    loss, expected = head.loss(z, v), F.mse_loss(2 * (torch.sigmoid(reference) - 0.5), v)
    torch.testing.assert_close(loss, expected)
    loss.backward(), expected.backward()
    torch.testing.assert_close(z.grad, reference.grad)
    pred = BoundedRegressionHead(4, low=0.0, high=2.0).predict(z.detach())
    assert pred.min() >= 0 and pred.max() <= 2


def _mixture_reference(head, out):
    k = head.components
    raw = out.view(out.shape[0], k, 4)
    means = head.low + (head.high - head.low) * torch.sigmoid(raw[..., 1:3])
    scales = head.min_scale + F.softplus(raw[..., 3])
    components = D.Independent(D.Normal(means, scales[..., None].expand_as(means)), 1)
    return D.MixtureSameFamily(D.Categorical(logits=raw[..., 0]), components)


@pytest.mark.parametrize("components", [1, 3])
def test_mixture_head_loss_matches_torch_distributions(device, generator, components):
    head = MixtureDensityHead(4, components=components).to(device)
    out = torch.randn(30, 4 * components, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    v = _velocities(30, generator, device, torch.float64)
    reference = out.detach().clone().requires_grad_()
    torch.testing.assert_close(head.log_density(out.detach(), v), _mixture_reference(head, out.detach()).log_prob(v))
    loss, expected = head.loss(out, v), -_mixture_reference(head, reference).log_prob(v).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward(), expected.backward()
    torch.testing.assert_close(out.grad, reference.grad)


def test_mixture_head_predicts_the_heaviest_component(device):
    head = MixtureDensityHead(4, components=2).to(device)
    # component 1 is heavier; its mean's raw outputs (0, 2) squash to (0, tanh(1))
    out = torch.tensor([[0.0, 5.0, 5.0, 0.0, 3.0, 0.0, 2.0, 0.0]], device=device)
    torch.testing.assert_close(head.predict(out), torch.tensor([[0.0, math.tanh(1.0)]], device=device))
    _, _, scales = head.mixture(torch.full((1, 8), -1e4, device=device))
    assert (scales == head.min_scale).all()


@pytest.mark.parametrize(
    "head",
    [JointGridHead(3), FactorizedGridHead(3), BoundedRegressionHead(3), MixtureDensityHead(3)],
    ids=["joint", "factorized", "regression", "mixture"],
)
def test_heads_share_an_interface(device, generator, head):
    head = head.to(device)
    h = torch.randn(5, 3, generator=generator).to(device)
    v = _velocities(5, generator, device)
    out = head(h)
    assert out.shape == (5, head.linear.out_features)
    assert head.loss(out, v).shape == ()
    pred = head.predict(out)
    assert pred.shape == (5, 2) and pred.dtype == out.dtype and pred.device.type == device.type
    assert pred.abs().max() < 1
    with pytest.raises(ValueError, match=r"h must have shape \(N, 3\); got shape \(5, 4\)"):
        head(torch.zeros(5, 4, device=device))
    with pytest.raises(ValueError, match=r"and v must have the same N; got 5 and 4"):
        head.loss(out, v[:4])
    with pytest.raises(ValueError, match=r"v must have shape \(N, 2\); got shape \(5,\)"):
        head.loss(out, v[:, 0])


def test_heads_reject_bad_configuration():
    with pytest.raises(ValueError, match=r"low must be < high; got low=1.0, high=-1.0"):
        BoundedRegressionHead(3, low=1.0, high=-1.0)
    with pytest.raises(ValueError, match=r"components must be >= 1; got 0"):
        MixtureDensityHead(3, components=0)
    with pytest.raises(ValueError, match=r"min_scale must be positive and finite; got 0"):
        MixtureDensityHead(3, min_scale=0)
    with pytest.raises(TypeError, match=r"logits must have a floating-point dtype"):
        JointGridHead(3).loss(torch.zeros(2, 400, dtype=torch.int64), torch.zeros(2, 2))
