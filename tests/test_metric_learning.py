"""Metric learning: distances against NumPy and loops; mining masks against loops over triplets; gradcheck."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.metric_learning import (
    batch_all_triplet_loss,
    batch_hard_loop,
    batch_hard_triplet_loss,
    best_threshold,
    center_loss,
    l2_normalize,
    pairwise_distances,
    pairwise_distances_np,
    semi_hard_triplet_loss,
    triplet_loss,
    update_centers,
    verification_accuracy,
)


def batch(n, d, classes, generator, dtype=torch.float64):
    return torch.randn(n, d, generator=generator, dtype=torch.float64).to(dtype), torch.randint(0, classes, (n,), generator=generator)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_distances(device, generator, dtype):
    x, _ = batch(9, 5, 3, generator, dtype)
    d = pairwise_distances(x.to(device))
    torch.testing.assert_close(d.cpu(), torch.cdist(x, x), atol=1e-3 if dtype == torch.float32 else 1e-10, rtol=0)
    assert torch.equal(d.diagonal().cpu(), torch.zeros(9, dtype=dtype))
    np.testing.assert_allclose(pairwise_distances_np(x.double().numpy(), squared=True), (torch.cdist(x, x).double() ** 2).numpy(), atol=1e-3)
    unit = l2_normalize(x.to(device))
    torch.testing.assert_close(unit.norm(dim=1).cpu(), torch.ones(9, dtype=dtype))


def test_distance_gradient(generator):
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: pairwise_distances(t), (x,))
    dup = torch.cat([x, x[:1]]).detach().requires_grad_(True)  # a zero off-diagonal distance
    pairwise_distances(dup).sum().backward()
    assert torch.isfinite(dup.grad).all()


def brute_force(x, labels, margin, kind):
    """Loops over anchors, positives and negatives, from the definitions."""
    d = ((x[:, None] - x[None]) ** 2).sum(-1).tolist()
    lab = labels.tolist()
    n = len(lab)
    if kind == "all":
        losses = [max(0.0, d[a][p] - d[a][q] + margin) for a, p, q in itertools.product(range(n), repeat=3)
                  if a != p and lab[a] == lab[p] and lab[q] != lab[a]]
        active = [v for v in losses if v > 0]
        return (sum(active) / len(active) if active else 0.0), len(losses)
    if kind == "semi":
        losses = []
        for a, p in itertools.product(range(n), repeat=2):
            negs = [q for q in range(n) if lab[q] != lab[a]]
            if a == p or lab[a] != lab[p] or not negs:
                continue
            farther = [d[a][q] for q in negs if d[a][q] > d[a][p]]
            d_an = min(farther) if farther else max(d[a][q] for q in negs)
            losses.append(max(0.0, d[a][p] - d_an + margin))
        return (sum(losses) / len(losses) if losses else 0.0), len(losses)
    return batch_hard_loop(x.tolist(), lab, margin), None


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_mining_matches_loops(n, classes, seed):
    g = torch.Generator().manual_seed(seed)
    x, labels = batch(n, 3, classes, g)
    x = l2_normalize(x)
    for kind, fn in (("all", batch_all_triplet_loss), ("semi", semi_hard_triplet_loss), ("hard", batch_hard_triplet_loss)):
        result = fn(x, labels, margin=0.5)
        expected, count = brute_force(x, labels, 0.5, kind)
        assert abs(result.loss.item() - expected) < 1e-10, kind
        if count is not None:
            assert result.num_used.item() == count


def test_mining_on_device_and_gradients(device, generator):
    x, labels = batch(16, 4, 4, generator)
    x = x.to(device).requires_grad_(True)
    for fn in (batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss):
        loss = fn(l2_normalize(x), labels.to(device)).loss
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad).all() and grad.device.type == device.type


def test_one_identity_and_empty_batch(device):
    x = torch.randn(5, 3, dtype=torch.float64, device=device)
    same = torch.zeros(5, dtype=torch.int64, device=device)  # no negative anywhere
    for fn in (batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss):
        result = fn(x, same)
        assert result.loss.item() == 0 and result.num_used.item() == 0
        empty = fn(x[:0], same[:0])
        assert empty.loss.item() == 0


def test_triplet_loss_formula():
    a = torch.tensor([[1.0, 0.0]])
    p, n = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, -1.0]])  # d_ap = d_an = 2
    assert triplet_loss(a, p, n, margin=0.2).item() == pytest.approx(0.2)


def test_center_loss_and_update(device, generator):
    x, labels = batch(12, 3, 3, generator)
    x, labels = x.to(device), labels.to(device)
    centers = torch.zeros(3, 3, dtype=torch.float64, device=device)
    expected = 0.5 * np.mean([float(((x[i] - centers[labels[i]]) ** 2).sum()) for i in range(12)])
    assert center_loss(x, labels, centers).item() == pytest.approx(expected)
    new = update_centers(centers, x, labels, alpha=1.0)
    for c in range(3):  # alpha = 1: c_j + sum_i (x_i - c_j) / (1 + n_j)
        members = x[labels == c]
        torch.testing.assert_close(new[c], members.sum(0) / (1 + members.shape[0]))


def test_verification(generator):
    labels = torch.tensor([0, 0, 1, 1])
    d = torch.tensor([[0, 1, 5, 5], [1, 0, 5, 5], [5, 5, 0, 2], [5, 5, 2, 0]], dtype=torch.float64)
    assert verification_accuracy(d, labels, 3.0).item() == 1.0
    assert verification_accuracy(d, labels, 1.5).item() == pytest.approx(5 / 6)
    threshold, acc = best_threshold(d, labels)
    assert 2 < threshold < 5 and acc == 1.0


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"embeddings must have shape \(N, D\); got shape \(3,\)"):
        pairwise_distances(torch.zeros(3))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(3,\); got shape \(2,\)"):
        batch_hard_triplet_loss(torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="labels must hold integer class indices"):
        batch_all_triplet_loss(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="margin must be a finite number >= 0"):
        semi_hard_triplet_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.int64), margin=-1)
