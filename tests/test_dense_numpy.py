"""The NumPy dense network against PyTorch autograd (float64), per-sample loops, and bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion import dense_numpy as dn
from companion.data import make_blobs

SIZES = [5, 7, 6, 3]  # input width, two hidden widths, classes


@pytest.fixture
def batch(generator):
    x, labels = make_blobs(9, 3, generator=generator, num_features=5)
    return x.double().numpy(), labels.numpy()


def dense_layers(model: dn.MLP) -> list[dn.Dense]:
    return [layer for layer in model.layers if isinstance(layer, dn.Dense)]


# ----------------------------------------------------------------------------- against autograd


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_forward_and_every_gradient_match_autograd(device, batch, bias, reduction):
    x, labels = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(0), bias=bias)
    reference = dn.to_torch(model).to(device)
    xt = torch.from_numpy(x).to(device).requires_grad_(True)
    logits_t = reference(xt)
    F.cross_entropy(logits_t, torch.from_numpy(labels).to(device), reduction=reduction).backward()

    logits = model.forward(x)
    loss, grad_logits = dn.cross_entropy_and_grad(logits, labels, reduction)
    grad_x = model.backward(grad_logits)

    close = dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.from_numpy(logits), logits_t.detach().cpu(), **close)
    torch.testing.assert_close(loss, F.cross_entropy(logits_t, torch.from_numpy(labels).to(device), reduction=reduction).item(), **close)
    torch.testing.assert_close(torch.from_numpy(grad_x), xt.grad.cpu(), **close)
    linears = [m for m in reference if isinstance(m, nn.Linear)]
    for ours, theirs in zip(dense_layers(model), linears, strict=True):
        torch.testing.assert_close(torch.from_numpy(ours.grad_weight), theirs.weight.grad.T.cpu(), **close)
        if bias:
            torch.testing.assert_close(torch.from_numpy(ours.grad_bias), theirs.bias.grad.cpu(), **close)
        else:
            assert ours.grad_bias is None and ours.bias is None


def test_dense_backward_passes_gradcheck(generator):
    """The hand-written formulas against central differences, on a loss that uses all three outputs."""
    x = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    weight = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    bias = torch.randn(2, generator=generator, dtype=torch.float64)
    grad_y = torch.randn(4, 2, generator=generator, dtype=torch.float64)

    class DenseFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            return torch.from_numpy(dn.dense_forward(*(t.detach().numpy() for t in (x, weight, bias))))

        @staticmethod
        def backward(ctx, grad_out):
            x, weight = ctx.saved_tensors
            gx, gw, gb = dn.dense_backward(x.detach().numpy(), weight.detach().numpy(), grad_out.numpy())
            return torch.from_numpy(gx), torch.from_numpy(gw), torch.from_numpy(gb)

    inputs = tuple(t.clone().requires_grad_(True) for t in (x, weight, bias))
    assert torch.autograd.gradcheck(DenseFunction.apply, inputs)
    x, weight, grad_y = x.numpy(), weight.numpy(), grad_y.numpy()
    _, gw, gb = dn.dense_backward(x, weight, grad_y)
    np.testing.assert_allclose(gw, sum(np.outer(x[n], grad_y[n]) for n in range(4)), rtol=1e-12)  # sum of per-sample outer products
    np.testing.assert_allclose(gb, grad_y.sum(axis=0), rtol=1e-12)


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = np.array([[-1.0, 0.0, 2.0]])
    xt = torch.from_numpy(x).requires_grad_(True)
    torch.relu(xt).sum().backward()
    np.testing.assert_array_equal(dn.relu_backward(x, np.ones_like(x)), xt.grad.numpy())
    np.testing.assert_array_equal(dn.relu_forward(x), [[0.0, 0.0, 2.0]])


def test_cross_entropy_grad_is_finite_on_extreme_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    labels = np.array([1, 1])
    loss, grad = dn.cross_entropy_and_grad(logits, labels, "sum")
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-300)
    np.testing.assert_allclose(loss, 2e4)


# ----------------------------------------------------------------------------- batch vs loop


def test_batched_forward_equals_per_sample_forward(batch):
    x, _ = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(1))
    rows = np.concatenate([model.forward(x[n : n + 1]) for n in range(len(x))])
    np.testing.assert_allclose(model.forward(x), rows, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(model.predict(x), rows.argmax(axis=1))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_batch_gradient_is_the_mean_or_sum_of_per_sample_gradients(batch, reduction):
    x, labels = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(2))
    per_sample = []
    for n in range(len(x)):
        model.loss_and_backward(x[n : n + 1], labels[n : n + 1])
        per_sample.append([g.copy() for _, g in model.parameters()])
    model.loss_and_backward(x, labels, reduction)
    combine = np.mean if reduction == "mean" else np.sum
    for k, (_, grad) in enumerate(model.parameters()):
        np.testing.assert_allclose(grad, combine([p[k] for p in per_sample], axis=0), rtol=1e-12, atol=1e-14)


def test_sum_reduction_is_mean_reduction_with_the_learning_rate_times_n(batch):
    x, labels = batch
    n = len(x)
    a, b = dn.MLP(SIZES, rng=np.random.default_rng(3)), dn.MLP(SIZES, rng=np.random.default_rng(3))
    ha = dn.train(a, x, labels, learning_rate=0.3, epochs=5, batch_size=n, rng=np.random.default_rng(0))
    hb = dn.train(b, x, labels, learning_rate=0.3 / n, epochs=5, batch_size=n, rng=np.random.default_rng(0), reduction="sum")
    np.testing.assert_allclose(ha.epoch_losses, hb.epoch_losses, rtol=1e-12)
    for (pa, _), (pb, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa, pb, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("batch_size", [1, 4, 9])
def test_train_lowers_the_loss_and_counts_updates(batch, batch_size):
    x, labels = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(4))
    history = dn.train(model, x, labels, learning_rate=0.1, epochs=30, batch_size=batch_size, rng=np.random.default_rng(0))
    updates_per_epoch = -(-len(x) // batch_size)  # ceil(N / batch_size)
    assert history.update_losses.shape == (30 * updates_per_epoch,)
    assert history.epoch_losses.shape == (31,)
    assert history.epoch_losses[-1] < 0.5 * history.epoch_losses[0]


def test_an_optimizer_holding_the_gradient_arrays_sees_every_new_gradient(batch):
    """Momentum keeps the arrays that parameters() returned once: backward must write into them."""
    x, labels = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(2))
    held = model.parameters()  # (value, grad) pairs, taken once, as an optimizer would
    velocity = [np.zeros_like(value) for value, _ in held]
    for _ in range(3):
        model.loss_and_backward(x, labels)
        for (_, grad), (_, current) in zip(held, model.parameters()):
            assert grad is current and np.abs(grad).max() > 0
        for (value, grad), v in zip(held, velocity):  # SGD with momentum 0.9
            v *= 0.9
            v += grad
            value -= 0.1 * v


def test_full_batch_training_matches_torch_sgd(device, batch):
    x, labels = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(5))
    reference = dn.to_torch(model).to(device)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.2)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(labels).to(device)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(reference(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    history = dn.train(model, x, labels, learning_rate=0.2, epochs=10, batch_size=len(x), rng=np.random.default_rng(0))
    np.testing.assert_allclose(history.update_losses, losses, rtol=1e-10)
    linears = [m for m in reference if isinstance(m, nn.Linear)]
    for ours, theirs in zip(dense_layers(model), linears, strict=True):
        np.testing.assert_allclose(ours.weight, theirs.weight.detach().T.cpu().numpy(), rtol=1e-10, atol=1e-12)


def test_initialisation_is_seeded_and_float64_by_default():
    a, b = dn.Dense(4, 3, rng=np.random.default_rng(7)), dn.Dense(4, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight, b.weight)
    assert a.weight.dtype == np.float64 and a.weight.shape == (4, 3) and a.bias.shape == (3,)
    assert np.abs(a.weight).max() <= 0.5 and np.abs(a.bias).max() <= 0.5  # uniform in [-1/sqrt(4), 1/sqrt(4)]
    assert dn.Dense(4, 3, rng=np.random.default_rng(7), dtype=np.float32).weight.dtype == np.float32


def test_to_torch_copies_float32_networks_too(batch):
    x, _ = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(8), dtype=np.float32)
    reference = dn.to_torch(model)
    assert reference[0].weight.dtype == torch.float32 and reference[0].weight.shape == (7, 5)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(reference(torch.from_numpy(x32)).detach().numpy(), model.forward(x32), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- bad inputs


def test_wrong_number_of_features_names_both_shapes():
    layer = dn.Dense(10, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must have 10 columns to match weight; got x shape \(100, 9\) and weight shape \(10, 2\)"):
        layer.forward(np.zeros((100, 9)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\); got shape \(10,\)"):
        layer.forward(np.zeros(10))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray; got torch.Tensor"):
        layer.forward(torch.zeros(3, 10))
    with pytest.raises(TypeError, match="x must have a floating-point dtype; got int64"):
        layer.forward(np.zeros((3, 10), dtype=np.int64))


def test_bad_gradients_and_bias_are_refused():
    x, weight = np.zeros((4, 3)), np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"grad_y must have 2 columns to match weight; got grad_y shape \(4, 5\)"):
        dn.dense_backward(x, weight, np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"grad_y must have one row per input row, N = 4; got shape \(3, 2\)"):
        dn.dense_backward(x, weight, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"bias must have shape \(D_out,\) = \(2,\); got shape \(3,\)"):
        dn.dense_forward(x, weight, np.zeros(3))
    with pytest.raises(ValueError, match=r"grad_y must have the forward input's shape \(4, 3\); got shape \(4, 2\)"):
        dn.relu_backward(x, np.zeros((4, 2)))
    with pytest.raises(RuntimeError, match="Dense.backward called before forward"):
        dn.Dense(3, 2, rng=np.random.default_rng(0)).backward(np.zeros((4, 2)))


def test_bad_training_arguments_are_refused(batch):
    x, labels = batch
    model = dn.MLP(SIZES, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, N\] = \[1, 9\]; got 10"):
        dn.train(model, x, labels, learning_rate=0.1, epochs=1, batch_size=10, rng=rng)
    with pytest.raises(ValueError, match="learning_rate must be positive and finite; got 0"):
        dn.train(model, x, labels, learning_rate=0, epochs=1, batch_size=3, rng=rng)
    with pytest.raises(ValueError, match="epochs must be >= 1; got 0"):
        dn.train(model, x, labels, learning_rate=0.1, epochs=0, batch_size=3, rng=rng)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        dn.cross_entropy_and_grad(model.forward(x), labels, "none")
    before = [value.copy() for value, _ in model.parameters()]
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):  # refused before any update
        dn.train(model, x, labels, learning_rate=0.1, epochs=1, batch_size=3, rng=rng, reduction="none")
    assert all(np.array_equal(b, value) for b, (value, _) in zip(before, model.parameters()))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        dn.cross_entropy_and_grad(model.forward(x), labels + 1, "mean")
    with pytest.raises(ValueError, match="sizes must list at least the input and output widths"):
        dn.MLP([4], rng=rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator; got int"):
        dn.Dense(3, 2, rng=0)
