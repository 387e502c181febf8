"""Accuracy, top-k accuracy and precision-recall against brute-force loops and scikit-learn."""

import pytest
import torch
from sklearn import metrics as sk_metrics

from companion import metrics


def topk_by_loop(scores, labels, k, ties):
    correct = 0
    for row, label in zip(scores.tolist(), labels.tolist()):
        above = sum(s > row[label] for s in row)
        equal = sum(s == row[label] for s in row) - 1
        rank = above if ties == "optimistic" else above + equal
        correct += rank < k
    return correct / len(labels)


def precision_recall_by_loop(scores, targets):
    rows = []
    for threshold in sorted(set(scores.tolist()), reverse=True):
        predicted = [s >= threshold for s in scores.tolist()]
        tp = sum(p and t == 1 for p, t in zip(predicted, targets.tolist()))
        fp = sum(p and t == 0 for p, t in zip(predicted, targets.tolist()))
        rows.append((threshold, tp / (tp + fp), tp / sum(targets.tolist())))
    return rows


def test_accuracy_is_the_same_from_logits_probabilities_and_log_probabilities(device, generator):
    logits = torch.randn(50, 7, generator=generator).to(device)
    labels = torch.randint(0, 7, (50,), generator=generator).to(device)
    expected = sum(int(row.argmax()) == int(y) for row, y in zip(logits.cpu(), labels.cpu())) / 50
    for scores in (logits, logits.softmax(1), logits.log_softmax(1)):
        result = metrics.accuracy(scores, labels)
        assert result.device == logits.device
        assert result.item() == pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("ties", ["optimistic", "pessimistic"])
def test_topk_accuracy_matches_a_loop(device, generator, k, ties):
    scores = torch.randint(0, 4, (40, 6), generator=generator).float()  # small integers: many ties
    labels = torch.randint(0, 6, (40,), generator=generator)
    result = metrics.topk_accuracy(scores.to(device), labels.to(device), k, ties)
    assert result.item() == pytest.approx(topk_by_loop(scores, labels, k, ties))


def test_topk_tie_modes_differ_only_with_ties():
    scores = torch.tensor([[0.0, 0.0, 1.0]])
    labels = torch.tensor([1])
    assert metrics.topk_accuracy(scores, labels, 2, "optimistic").item() == 1.0
    assert metrics.topk_accuracy(scores, labels, 2, "pessimistic").item() == 0.0
    assert metrics.topk_accuracy(torch.tensor([[0.0, 0.5, 1.0]]), labels, 2, "pessimistic").item() == 1.0


def test_precision_recall_curve_matches_a_loop(device, generator):
    scores = torch.randint(0, 10, (60,), generator=generator).float() / 10  # ties included
    targets = (torch.rand(60, generator=generator) < 0.3).float()
    curve = metrics.precision_recall_curve(scores.to(device), targets.to(device))
    expected = torch.tensor(precision_recall_by_loop(scores, targets), dtype=torch.float32)
    got = torch.stack([curve.thresholds, curve.precision, curve.recall], dim=1).cpu()
    torch.testing.assert_close(got, expected)
    assert curve.recall[-1].item() == 1.0  # the lowest threshold admits everything


@pytest.mark.parametrize("ties", [False, True])
def test_precision_recall_curve_matches_scikit_learn(generator, ties):
    n = 200
    if ties:
        scores = torch.randint(0, 12, (n,), generator=generator).double() / 12
    else:
        scores = torch.rand(n, generator=generator, dtype=torch.float64)
    targets = (torch.rand(n, generator=generator) < 0.25).double()
    curve = metrics.precision_recall_curve(scores, targets)
    # scikit-learn: ascending thresholds, plus a final (precision 1, recall 0) point without a threshold
    precision, recall, thresholds = sk_metrics.precision_recall_curve(targets.numpy(), scores.numpy())
    ours = {t: (p, r) for t, p, r in zip(curve.thresholds.tolist(), curve.precision.tolist(), curve.recall.tolist())}
    assert set(thresholds.tolist()) <= set(ours)  # scikit-learn may stop at the first threshold of full recall
    for t, p, r in zip(thresholds.tolist(), precision[:-1].tolist(), recall[:-1].tolist()):
        assert ours[t] == pytest.approx((p, r), abs=1e-12), t
    # and the same precision and recall as scikit-learn's scores at one threshold
    for t in (0.25, 0.5):
        predicted = (scores >= t).numpy()
        at = curve.thresholds >= t
        k = int(at.sum()) - 1  # the lowest threshold at or above t admits the same scores
        assert curve.precision[k].item() == pytest.approx(sk_metrics.precision_score(targets.numpy(), predicted))
        assert curve.recall[k].item() == pytest.approx(sk_metrics.recall_score(targets.numpy(), predicted))


def test_f1_score_is_harmonic_mean_and_zero_when_undefined():
    f1 = metrics.f1_score(torch.tensor([0.5, 0.0, 1.0]), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(f1, torch.tensor([2 / 3, 0.0, 1.0]))


def test_bad_inputs_raise_clear_errors():
    scores, labels = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, C\] = \[1, 3\]; got 4"):
        metrics.topk_accuracy(scores, labels, 4)
    with pytest.raises(ValueError, match="ties must be 'optimistic' or 'pessimistic'"):
        metrics.topk_accuracy(scores, labels, 1, ties="random")
    with pytest.raises(ValueError, match=r"scores must have shape \(N, C\); got shape \(4,\)"):
        metrics.accuracy(torch.zeros(4), labels)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        metrics.accuracy(scores, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="at least one positive"):
        metrics.precision_recall_curve(torch.rand(5), torch.zeros(5))
    with pytest.raises(ValueError, match=r"scores and targets must have the same shape; got scores \(5,\) and targets \(4,\)"):
        metrics.precision_recall_curve(torch.rand(5), torch.ones(4))
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\); got shape \(5, 1\)"):
        metrics.precision_recall_curve(torch.rand(5, 1), torch.ones(5, 1))
