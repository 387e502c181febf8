"""Mixing two heads' scores: against hand-written references, autograd (float64 gradcheck), extremes and bad input."""

import pytest
import torch
import torch.nn.functional as F

from companion.mixing import GatedMix, ScalarMix, mix_logits, mix_probabilities


def scores(generator, device, n=3, t=5, dtype=torch.float64, scale=3.0):
    a = scale * torch.randn(n, t, generator=generator, dtype=dtype)
    b = scale * torch.randn(n, t, generator=generator, dtype=dtype)
    return a.to(device), b.to(device)


# ----------------------------------------------------------------------------- functions


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_mix_logits_is_the_weighted_sum(device, generator, weight):
    a, b = scores(generator, device)
    torch.testing.assert_close(mix_logits(a, b, weight), weight * a + (1 - weight) * b)


def test_mix_logits_takes_one_weight_per_example(device, generator):
    a, b = scores(generator, device)
    w = torch.tensor([[0.0], [0.5], [1.0]], dtype=a.dtype, device=device)  # (N, 1)
    mixed = mix_logits(a, b, w)
    torch.testing.assert_close(mixed[0], b[0])
    torch.testing.assert_close(mixed[1], (a[1] + b[1]) / 2)
    torch.testing.assert_close(mixed[2], a[2])


@pytest.mark.parametrize("weight", [0.2, 0.5, 0.9])
def test_softmax_of_mixed_logits_is_the_normalised_geometric_mean(device, generator, weight):
    a, b = scores(generator, device)
    pa, pb = torch.softmax(a, dim=1), torch.softmax(b, dim=1)
    product = pa**weight * pb ** (1 - weight)
    torch.testing.assert_close(torch.softmax(mix_logits(a, b, weight), dim=1), product / product.sum(1, keepdim=True))


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_mix_probabilities_matches_the_arithmetic_mixture(device, generator, weight):
    a, b = scores(generator, device)
    log_pa, log_pb = torch.log_softmax(a, dim=1), torch.log_softmax(b, dim=1)
    expected = torch.log(weight * log_pa.exp() + (1 - weight) * log_pb.exp())
    mixed = mix_probabilities(log_pa, log_pb, weight)
    torch.testing.assert_close(mixed, expected)
    torch.testing.assert_close(mixed.exp().sum(1), torch.ones(3, dtype=a.dtype, device=device))


def test_mix_probabilities_at_the_end_weights_returns_one_input_exactly(device, generator):
    a, b = scores(generator, device)
    log_pa, log_pb = torch.log_softmax(a, dim=1), torch.log_softmax(b, dim=1)
    assert torch.equal(mix_probabilities(log_pa, log_pb, 1.0), log_pa)
    assert torch.equal(mix_probabilities(log_pa, log_pb, 0.0), log_pb)


def test_mix_probabilities_stays_finite_where_the_naive_form_underflows(device):
    # probabilities of exp(-1e4) are 0 in any float format; their logs are not
    log_pa = torch.tensor([[0.0, -1e4, -2e4]], device=device)
    log_pb = torch.tensor([[-1e4, 0.0, -3e4]], device=device)
    naive = torch.log(0.5 * log_pa.exp() + 0.5 * log_pb.exp())
    mixed = mix_probabilities(log_pa, log_pb, 0.5)
    assert torch.isinf(naive[0, 2])
    assert torch.isfinite(mixed).all()
    log_half = torch.log(torch.tensor(0.5))
    expected = torch.tensor([[log_half, log_half, log_half - 2e4]], device=device)
    torch.testing.assert_close(mixed, expected)


def test_mix_functions_gradients_match_autograd_in_float64(device, generator):
    a, b = scores(generator, device)
    w = torch.rand(3, 1, generator=generator, dtype=torch.float64).to(device)
    for x in (a, b, w):
        x.requires_grad_(True)
    torch.autograd.gradcheck(mix_logits, (a, b, w))
    torch.autograd.gradcheck(
        lambda a, b, w: mix_probabilities(torch.log_softmax(a, 1), torch.log_softmax(b, 1), w), (a, b, w)
    )


# ----------------------------------------------------------------------------- modules


def test_scalar_mix_starts_at_equal_weights(device, generator):
    a, b = scores(generator, device, dtype=torch.float32)
    logit_mix, prob_mix = ScalarMix().to(device), ScalarMix("probabilities").to(device)
    assert logit_mix.weight.item() == 0.5 and logit_mix.alpha.item() == 0.0
    torch.testing.assert_close(logit_mix(a, b), (a + b) / 2)
    average = (torch.softmax(a, 1) + torch.softmax(b, 1)) / 2
    torch.testing.assert_close(prob_mix(a, b), torch.log(average))


def test_cross_entropy_on_mixed_log_probabilities_is_the_nll(device, generator):
    a, b = scores(generator, device)
    labels = torch.randint(0, 5, (3,), generator=generator).to(device)
    log_p = ScalarMix("probabilities").to(device, torch.float64)(a, b)
    torch.testing.assert_close(torch.log_softmax(log_p, dim=1), log_p)  # log_softmax of log-probabilities: identity
    torch.testing.assert_close(F.cross_entropy(log_p, labels), F.nll_loss(log_p, labels))


def _scalar_mix_with(mix, alpha):
    """``mix`` as a function of its inputs with ``alpha`` passed in, for gradcheck."""

    def forward(a, b):
        return torch.func.functional_call(mix, {"alpha": alpha}, (a, b))

    return forward


@pytest.mark.parametrize("space", ["logits", "probabilities"])
def test_scalar_mix_gradients_match_autograd_in_float64(device, generator, space):
    a, b = scores(generator, device)
    mix = ScalarMix(space).to(device, torch.float64)
    with torch.no_grad():
        mix.alpha.fill_(0.7)
    a.requires_grad_(True)
    b.requires_grad_(True)
    torch.autograd.gradcheck(lambda a, b, alpha: _scalar_mix_with(mix, alpha)(a, b), (a, b, mix.alpha))


@pytest.mark.parametrize("alpha", [-40.0, 40.0])
def test_scalar_mix_in_probabilities_has_finite_gradients_for_extreme_alpha(device, generator, alpha):
    a, b = scores(generator, device, dtype=torch.float32)
    mix = ScalarMix("probabilities").to(device)
    with torch.no_grad():
        mix.alpha.fill_(alpha)
    out = mix(a, b)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(mix.alpha.grad)
    head = a if alpha > 0 else b  # the weight is 0 or 1 to float32 precision: one head's log-softmax
    torch.testing.assert_close(out, torch.log_softmax(head, 1))


def test_scalar_mix_learns_to_trust_the_right_head(device, generator):
    n, t = 64, 10
    labels = torch.randint(0, t, (n,), generator=generator)
    right = 4.0 * F.one_hot(labels, t).float() + torch.randn(n, t, generator=generator)  # points at the label
    wrong = 4.0 * F.one_hot((labels + 1) % t, t).float() + torch.randn(n, t, generator=generator)
    right, wrong, labels = right.to(device), wrong.to(device), labels.to(device)
    for space in ("logits", "probabilities"):
        for a, b, trusted_a in ((right, wrong, True), (wrong, right, False)):
            mix = ScalarMix(space).to(device)
            opt = torch.optim.SGD(mix.parameters(), lr=1.0)
            for _ in range(30):
                loss = F.cross_entropy(mix(a, b), labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
            assert (mix.weight.item() > 0.8) == trusted_a and (mix.weight.item() < 0.2) != trusted_a


@pytest.mark.parametrize("space", ["logits", "probabilities"])
def test_gated_mix_starts_at_equal_weights_and_matches_its_formula(device, generator, space):
    a, b = scores(generator, device, dtype=torch.float32)
    g = torch.randn(3, 4, generator=generator).to(device)
    mix = GatedMix(4, hidden=6, space=space).to(device)
    torch.testing.assert_close(mix.weights(g), torch.full((3, 1), 0.5, device=device))
    with torch.no_grad():  # give the gate some non-zero output, then check the per-example formula
        mix.gate[-1].weight.copy_(torch.randn(1, 6, generator=generator))
    w = torch.sigmoid(mix.gate(g))  # (N, 1)
    if space == "logits":
        expected = w * a + (1 - w) * b
    else:
        expected = torch.log(w * torch.softmax(a, 1) + (1 - w) * torch.softmax(b, 1))
    torch.testing.assert_close(mix(a, b, g), expected)
    torch.testing.assert_close(mix.weights(g), w)


def test_gated_mix_gradients_match_autograd_in_float64(device, generator):
    a, b = scores(generator, device)
    g = torch.randn(3, 4, generator=generator, dtype=torch.float64).to(device)
    mix = GatedMix(4, hidden=5).to(device, torch.float64)
    with torch.no_grad():
        mix.gate[-1].weight.fill_(0.3)
    for x in (a, b, g):
        x.requires_grad_(True)
    torch.autograd.gradcheck(mix, (a, b, g))


def test_gated_mix_takes_a_different_weight_per_example(device, generator):
    # the gate input says which head is right; a scalar weight cannot follow it
    n, t = 128, 10
    labels = torch.randint(0, t, (n,), generator=generator)
    a_is_right = torch.rand(n, generator=generator) < 0.5
    right = 4.0 * F.one_hot(labels, t).float()
    wrong = 4.0 * F.one_hot((labels + 1) % t, t).float()
    a = torch.where(a_is_right[:, None], right, wrong).to(device)
    b = torch.where(a_is_right[:, None], wrong, right).to(device)
    g = a_is_right.float()[:, None].to(device)  # (N, 1)
    labels = labels.to(device)
    gated, scalar = GatedMix(1, hidden=4).to(device), ScalarMix().to(device)
    for model, call in ((gated, lambda: gated(a, b, g)), (scalar, lambda: scalar(a, b))):
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        for _ in range(100):
            loss = F.cross_entropy(call(), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    gated_acc = (gated(a, b, g).argmax(1) == labels).float().mean().item()
    scalar_acc = (scalar(a, b).argmax(1) == labels).float().mean().item()
    assert gated_acc == 1.0 and scalar_acc < 0.75


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_are_rejected_with_a_clear_message(generator):
    a, b = scores(generator, "cpu", dtype=torch.float32)
    with pytest.raises(TypeError, match="a must be a torch.Tensor; got list"):
        mix_logits(a.tolist(), b, 0.5)
    with pytest.raises(TypeError, match="b must have a floating-point dtype; got torch.int64"):
        mix_logits(a, b.long(), 0.5)
    with pytest.raises(ValueError, match=r"a must have shape \(N, T\); got shape \(3, 5, 1\)"):
        mix_logits(a[..., None], b, 0.5)
    with pytest.raises(ValueError, match=r"a and b must have the same shape; got a \(3, 5\) and b \(3, 4\)"):
        mix_logits(a, b[:, :4], 0.5)
    with pytest.raises(ValueError, match=r"weight must be a number in \[0, 1\] or a tensor; got 1.5"):
        mix_logits(a, b, 1.5)
    with pytest.raises(ValueError, match=r"weight must broadcast to \(N, T\) = \(3, 5\), e.g. \(N, 1\); got shape \(3,\)"):
        mix_probabilities(a, b, torch.full((3,), 0.5))
    with pytest.raises(ValueError, match=r"log_pa and log_pb must have the same shape"):
        mix_probabilities(a, b[:2], 0.5)
    with pytest.raises(ValueError, match=r"space must be one of \('logits', 'probabilities'\); got 'probs'"):
        ScalarMix("probs")
    with pytest.raises(ValueError, match="gate_features must be >= 1; got 0"):
        GatedMix(0)
    with pytest.raises(ValueError, match=r"gate_input must have shape \(N, F\) = \(3, 4\); got shape \(3, 2\)"):
        GatedMix(4)(a, b, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"gate_input must have shape \(N, F\); got shape \(3,\)"):
        GatedMix(4).weights(torch.zeros(3))
