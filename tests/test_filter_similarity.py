"""companion.filter_similarity against brute force: every permutation, scipy's assignment, loops over filters."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.filter_similarity import (
    MAX_ASSIGNMENT_SIZE,
    FilterMatch,
    best_assignment_np,
    edge_similarity,
    filter_cosine_similarity,
    match_filters,
    oriented_edge_kernels,
)

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)


def brute_force_assignment(scores: np.ndarray) -> float:
    """The best total over every permutation: the reference for small n."""
    n = scores.shape[0]
    return max((scores[np.arange(n), list(p)].sum() for p in itertools.permutations(range(n))), default=0.0)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7])
def test_best_assignment_equals_brute_force(n, generator):
    for trial in range(5):
        scores = torch.rand(n, n, generator=generator, dtype=torch.float64).numpy()
        p = best_assignment_np(scores)
        assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(n))  # a permutation
        assert np.isclose(scores[np.arange(n), p].sum(), brute_force_assignment(scores), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [8, 12, MAX_ASSIGNMENT_SIZE])
def test_best_assignment_equals_scipy(n, generator):
    optimize = pytest.importorskip("scipy.optimize")
    scores = torch.randn(n, n, generator=generator, dtype=torch.float64).numpy()
    rows, cols = optimize.linear_sum_assignment(scores, maximize=True)
    p = best_assignment_np(scores)
    assert np.isclose(scores[np.arange(n), p].sum(), scores[rows, cols].sum(), rtol=0, atol=1e-12)


def test_best_assignment_finds_a_hidden_permutation_and_survives_ties():
    hidden = np.array([3, 0, 4, 1, 2])
    scores = np.zeros((5, 5))
    scores[np.arange(5), hidden] = 1.0
    assert best_assignment_np(scores).tolist() == hidden.tolist()
    assert sorted(best_assignment_np(np.ones((4, 4))).tolist()) == [0, 1, 2, 3]  # every permutation ties: still one of them


def test_best_assignment_bad_input():
    with pytest.raises(ValueError, match="scores must have shape"):
        best_assignment_np(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at most 16"):
        best_assignment_np(np.zeros((17, 17)))
    with pytest.raises(ValueError, match="finite"):
        best_assignment_np(np.array([[np.nan]]))
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        best_assignment_np(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="scores must be a numpy.ndarray"):
        best_assignment_np(torch.zeros(2, 2))


def test_cosine_similarity_equals_torch(device, generator):
    a = torch.randn(6, 2, 3, 3, generator=generator, dtype=torch.float64).to(device)
    b = torch.randn(4, 2, 3, 3, generator=generator, dtype=torch.float64).to(device)
    cos = filter_cosine_similarity(a, b)
    reference = F.cosine_similarity(a.flatten(1)[:, None], b.flatten(1)[None], dim=2)  # (6, 4)
    torch.testing.assert_close(cos, reference, rtol=0, atol=1e-14)
    assert cos.device == a.device and cos.dtype == torch.float64


def test_cosine_similarity_ignores_scale_and_zero_filters_give_zero(device):
    a = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64, device=device)
    cos = filter_cosine_similarity(a, torch.stack([5 * a[0], -a[0]]))
    torch.testing.assert_close(cos, torch.tensor([[1.0, -1.0], [0.0, 0.0]], dtype=torch.float64, device=device))


def test_cosine_similarity_empty_and_low_precision(device):
    assert filter_cosine_similarity(torch.zeros(0, 3, 3, device=device), torch.ones(2, 3, 3, device=device)).shape == (0, 2)
    x = torch.tensor([[1.0, 3.0], [2.0, -1.0]], device=device)
    half = filter_cosine_similarity(x.half(), x.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), filter_cosine_similarity(x, x), rtol=2e-3, atol=2e-3)


def test_cosine_similarity_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        filter_cosine_similarity(torch.zeros(2, 3, 3), torch.zeros(2, 5, 5))
    with pytest.raises(TypeError, match="b must have a floating-point dtype"):
        filter_cosine_similarity(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="a must have at least 1"):
        filter_cosine_similarity(torch.tensor(1.0), torch.zeros(2))


def test_match_filters_recovers_a_permutation_with_signs(device, generator):
    a = torch.randn(10, 1, 3, 3, generator=generator, dtype=torch.float64).to(device)
    order = torch.randperm(10, generator=generator)
    sign = torch.tensor([1.0, -1.0] * 5, dtype=torch.float64)
    b = a[order.to(device)] * sign.to(device)[:, None, None, None] * 2.5  # reordered, some negated, rescaled
    match = match_filters(b, a)  # b[i] is a[order[i]] up to sign and scale
    assert isinstance(match, FilterMatch) and match.order.tolist() == order.tolist()
    assert match.sign.tolist() == sign.tolist()
    torch.testing.assert_close(match.similarity, torch.ones(10, dtype=torch.float64, device=device))
    torch.testing.assert_close(match.aligned(a) * 2.5, b)
    assert match.order.device == a.device and match.similarity.device == a.device


def test_match_filters_total_is_the_best_over_permutations(generator):
    a = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    b = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    match = match_filters(a, b)
    cos = filter_cosine_similarity(a, b).abs().numpy()
    assert np.isclose(match.similarity.sum().item(), brute_force_assignment(cos), rtol=0, atol=1e-12)
    torch.testing.assert_close(match.similarity, torch.from_numpy(cos[np.arange(6), match.order.numpy()]))


def test_match_filters_empty_and_bad_input():
    empty = match_filters(torch.zeros(0, 3, 3), torch.zeros(0, 3, 3))
    assert empty.order.shape == empty.sign.shape == empty.similarity.shape == (0,)
    with pytest.raises(ValueError, match="same shape"):
        match_filters(torch.zeros(3, 3, 3), torch.zeros(4, 3, 3))
    with pytest.raises(ValueError, match="at most 16"):
        match_filters(torch.zeros(17, 2), torch.zeros(17, 2))
    with pytest.raises(ValueError, match="finite"):
        match_filters(torch.full((2, 2), float("nan")), torch.ones(2, 2))
    with pytest.raises(ValueError, match="b must hold the 2 filters"):
        match_filters(torch.ones(2, 2), torch.ones(2, 2)).aligned(torch.ones(3, 2))


def test_edge_kernels_are_sobel_and_steer(device):
    bank = oriented_edge_kernels(3, 4, device=device)
    torch.testing.assert_close(bank[0], SOBEL_X.to(device))  # 0 degrees: Sobel x
    torch.testing.assert_close(bank[2], SOBEL_X.T.to(device), rtol=0, atol=1e-15)  # 90 degrees: Sobel y
    torch.testing.assert_close(bank[1], (SOBEL_X + SOBEL_X.T).to(device) / 2**0.5)  # 45 degrees
    assert bank.shape == (4, 3, 3) and bank.device.type == device.type
    five = oriented_edge_kernels(5, 1)[0]
    torch.testing.assert_close(five[2], torch.tensor([-1.0, -2.0, 0.0, 2.0, 1.0], dtype=torch.float64) * 6)
    for kernel in oriented_edge_kernels(5, 8):  # every kernel sums to zero and is antisymmetric about its centre
        assert abs(kernel.sum().item()) < 1e-12
        torch.testing.assert_close(kernel.flip(0, 1), -kernel)


def test_edge_similarity_equals_a_loop(device, generator):
    kernels = torch.randn(4, 2, 3, 3, generator=generator, dtype=torch.float64).to(device)
    bank = oriented_edge_kernels(3, 8, device=device)
    result = edge_similarity(kernels)
    assert result.shape == (4, 2)
    for o in range(4):
        for c in range(2):
            expected = max(abs(F.cosine_similarity(kernels[o, c].flatten(), k.flatten(), dim=0).item()) for k in bank)
            assert abs(result[o, c].item() - expected) < 1e-12


def test_edge_similarity_of_edges_and_of_a_constant(device):
    bank = oriented_edge_kernels(3, 8, device=device)
    torch.testing.assert_close(edge_similarity(-3 * bank), torch.ones(8, dtype=torch.float64, device=device))
    assert edge_similarity(torch.ones(1, 3, 3, dtype=torch.float64, device=device)).item() < 1e-15
    custom = edge_similarity(SOBEL_X[None].to(device), bank=SOBEL_X.T[None].to(device))
    assert custom.item() < 1e-15  # Sobel x and Sobel y are orthogonal
    assert edge_similarity(torch.zeros(0, 3, 3, device=device)).shape == (0,)


def test_edge_kernels_and_similarity_bad_input():
    with pytest.raises(ValueError, match="size must be odd"):
        oriented_edge_kernels(4)
    with pytest.raises(ValueError, match="size must be >= 3"):
        oriented_edge_kernels(1)
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        oriented_edge_kernels(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="kernels must be square and odd"):
        edge_similarity(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="bank must have shape"):
        edge_similarity(torch.zeros(2, 3, 3), bank=torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="kernels must have at least 2"):
        edge_similarity(torch.zeros(3))
