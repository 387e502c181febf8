"""Multi-label with a softmax: against F.cross_entropy, autograd, brute-force decoders and scikit-learn's metrics."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_recall_fscore_support

from companion.multilabel import (
    cumulative_decode,
    label_count_classes,
    multilabel_scores,
    normalize_targets,
    normalize_targets_np,
    soft_target_cross_entropy,
    soft_target_cross_entropy_grad,
    soft_target_cross_entropy_np,
    top_k_decode,
)
from companion.runtime import randn


def random_targets(generator, n=20, c=6):
    targets = (torch.rand(n, c, generator=generator, dtype=torch.float64) < 0.35).double()
    targets[torch.arange(n), torch.randint(0, c, (n,), generator=generator)] = 1.0  # at least one label per row
    return targets


def test_normalize_targets(device):
    targets = torch.tensor([[0.0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], device=device)
    expected = torch.tensor([[0.0, 0.5, 0.5, 0], [1, 0, 0, 0], [0, 0, 0, 0]], device=device)
    torch.testing.assert_close(normalize_targets(targets), expected)
    np.testing.assert_array_equal(normalize_targets_np(targets.cpu().numpy()), expected.cpu().numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_target_cross_entropy_equals_f_cross_entropy(device, generator, reduction):
    logits = (10 * randn((20, 6), generator=generator, dtype=torch.float64)).to(device)
    targets = normalize_targets(random_targets(generator).to(device))
    expected = F.cross_entropy(logits, targets, reduction=reduction)
    torch.testing.assert_close(soft_target_cross_entropy(logits, targets, reduction), expected)
    np.testing.assert_allclose(soft_target_cross_entropy_np(logits.cpu().numpy(), targets.cpu().numpy(), reduction),
                               expected.cpu().numpy(), rtol=1e-12)


def test_soft_target_cross_entropy_is_stable_for_huge_logits():
    logits = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float64)
    targets = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(soft_target_cross_entropy(logits, targets), torch.tensor(5e3, dtype=torch.float64))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("normalized", [True, False])
def test_gradient_against_autograd(device, generator, reduction, normalized):
    logits = randn((20, 6), generator=generator, dtype=torch.float64).to(device).requires_grad_(True)
    targets = random_targets(generator).to(device)
    targets = normalize_targets(targets) if normalized else targets
    (expected,) = torch.autograd.grad(soft_target_cross_entropy(logits, targets, reduction), logits)
    torch.testing.assert_close(soft_target_cross_entropy_grad(logits.detach(), targets, reduction), expected)
    assert torch.autograd.gradcheck(lambda z: soft_target_cross_entropy(z, targets, reduction), (logits,))


def cumulative_loop(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    out = torch.zeros(probs.shape, dtype=torch.bool)
    for n, row in enumerate(probs.tolist()):
        order = sorted(range(len(row)), key=lambda c: (-row[c], c))
        total = 0.0
        for c in order:
            out[n, c] = True
            total += row[c]
            if total >= threshold:
                break
    return out


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9, 0.99, 1.0])
def test_cumulative_decode_matches_a_loop(device, generator, threshold):
    probs = torch.softmax(2 * randn((30, 7), generator=generator, dtype=torch.float64), dim=1)
    decoded = cumulative_decode(probs.to(device), threshold)
    assert decoded.device.type == device.type
    torch.testing.assert_close(decoded.cpu(), cumulative_loop(probs, threshold))


def test_cumulative_decode_recovers_ideal_outputs():
    targets = torch.tensor([[1.0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.float64)
    assert torch.equal(cumulative_decode(normalize_targets(targets), 0.99), targets.bool())


def top_k_loop(scores: torch.Tensor, ks) -> torch.Tensor:
    out = torch.zeros(scores.shape, dtype=torch.bool)
    for n, row in enumerate(scores.tolist()):
        for c in sorted(range(len(row)), key=lambda c: (-row[c], c))[: int(ks[n])]:
            out[n, c] = True
    return out


def test_top_k_decode_fixed_and_per_example(device, generator):
    scores = randn((25, 6), generator=generator, dtype=torch.float64)
    torch.testing.assert_close(top_k_decode(scores.to(device), 2).cpu(), top_k_loop(scores, [2] * 25))
    ks = torch.randint(0, 7, (25,), generator=generator)
    torch.testing.assert_close(top_k_decode(scores.to(device), ks.to(device)).cpu(), top_k_loop(scores, ks))
    assert top_k_decode(scores, 0).sum() == 0 and top_k_decode(scores, 6).all()


def test_ties_are_broken_by_label_index():
    scores = torch.tensor([[0.25, 0.25, 0.25, 0.25]])
    assert top_k_decode(scores, 2).tolist() == [[True, True, False, False]]
    assert cumulative_decode(scores, 0.5).tolist() == [[True, True, False, False]]


def test_label_count_classes():
    targets = torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 1, 1]])
    assert label_count_classes(targets, 2).tolist() == [0, 1, 1]


@pytest.mark.parametrize("average", ["samples", "macro", "micro", "none"])
def test_scores_match_scikit_learn(device, generator, average):
    targets = random_targets(generator, n=40, c=5)
    predicted = torch.rand(40, 5, generator=generator) < 0.4
    predicted[:3] = False  # examples with no prediction: precision 0 by zero_division=0
    p, r, f1 = multilabel_scores(predicted.to(device), targets.to(device), average)
    expected = precision_recall_fscore_support(targets.numpy(), predicted.numpy(), average=None if average == "none" else average,
                                               zero_division=0)[:3]
    for ours, theirs in zip((p, r, f1), expected):
        np.testing.assert_allclose(ours.cpu().numpy(), theirs, rtol=1e-12)


def test_empty_inputs(device):
    empty = torch.zeros(0, 4, dtype=torch.float64, device=device)
    assert cumulative_decode(empty, 0.9).shape == (0, 4)
    assert top_k_decode(empty, 2).shape == (0, 4)
    assert top_k_decode(empty, torch.zeros(0, dtype=torch.long)).shape == (0, 4)
    assert normalize_targets(empty).shape == (0, 4)
    assert soft_target_cross_entropy(empty, empty, "sum") == 0
    assert soft_target_cross_entropy_grad(empty, empty).shape == (0, 4)


def test_bad_input():
    probs = torch.full((2, 4), 0.25)
    with pytest.raises(ValueError, match=r"targets must have shape \(N, C\); got shape \(4,\)"):
        normalize_targets(torch.ones(4))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        normalize_targets(torch.full((2, 2), 2.0))
    with pytest.raises(ValueError, match="logits and targets must have the same shape"):
        soft_target_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="logits must be a numpy.ndarray"):
        soft_target_cross_entropy_np(torch.zeros(2, 3), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0.0, 1.0\]; got 1.5"):
        cumulative_decode(probs, 1.5)
    with pytest.raises(ValueError, match=r"k must be <= C = 4; got 5"):
        top_k_decode(probs, 5)
    with pytest.raises(ValueError, match=r"k must be an int or an integer tensor of shape \(N,\) = \(2,\)"):
        top_k_decode(probs, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"k must lie in \[0, C\] = \[0, 4\]"):
        top_k_decode(probs, torch.tensor([1, 7]))
    with pytest.raises(TypeError, match="predicted must be a bool tensor"):
        multilabel_scores(probs, probs)
    with pytest.raises(ValueError, match="average must be one of"):
        multilabel_scores(probs > 0, probs, "weighted")
    with pytest.raises(ValueError, match="at least one label in every row; 1 row"):
        label_count_classes(torch.tensor([[1.0, 0], [0, 0]]), 2)
