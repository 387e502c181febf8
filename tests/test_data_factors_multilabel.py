"""The data sets of chapters 5.2 (images from known factors) and 5.3 (multi-label examples)."""

import pytest
import torch

from companion.data import make_factor_images, make_multilabel_task


def test_factor_images_shapes_and_determinism():
    images, factors = make_factor_images(50, 3, generator=torch.Generator().manual_seed(1), size=6)
    again, _ = make_factor_images(50, 3, generator=torch.Generator().manual_seed(1), size=6)
    assert images.shape == (50, 3, 6, 6) and factors.shape == (50, 3) and torch.equal(images, again)
    assert factors.abs().max() <= 1


def test_factor_images_without_noise_are_a_function_of_the_factors():
    images, factors = make_factor_images(400, 3, generator=torch.Generator().manual_seed(2), noise=0.0)
    logits = torch.logit(images).flatten(1) / 4  # undo the sigmoid (contrast 4): a linear map of the factors
    solution = torch.linalg.lstsq(factors, logits).solution
    torch.testing.assert_close(factors @ solution, logits)


def test_multilabel_counts_follow_the_distribution():
    inputs, targets = make_multilabel_task(20000, 8, generator=torch.Generator().manual_seed(3), count_probs=(0.5, 0.3, 0.2))
    assert inputs.shape == (20000, 32) and targets.shape == (20000, 8)
    shares = torch.stack([(targets.sum(1) == k).double().mean() for k in (1, 2, 3)])
    torch.testing.assert_close(shares, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.015, rtol=0)
    label_shares = targets.mean(0)  # labels chosen uniformly: each label in (1*.5 + 2*.3 + 3*.2) / 8 of the examples
    torch.testing.assert_close(label_shares, torch.full((8,), 1.7 / 8, dtype=torch.float64), atol=0.015, rtol=0)


def test_multilabel_inputs_are_prototype_sums():
    inputs, targets = make_multilabel_task(500, 5, generator=torch.Generator().manual_seed(4), noise=1e-9)
    prototypes = torch.linalg.lstsq(targets, inputs).solution  # (C, F)
    torch.testing.assert_close(prototypes.norm(dim=1), torch.full((5,), 2.0, dtype=torch.float64), atol=1e-6, rtol=0)


def test_empty_and_bad_input():
    inputs, targets = make_multilabel_task(0, 4, generator=torch.Generator())
    assert inputs.shape == (0, 32) and targets.shape == (0, 4)
    with pytest.raises(ValueError, match="count_probs must be at most num_labels = 2"):
        make_multilabel_task(10, 2, generator=torch.Generator(), count_probs=(0.2, 0.3, 0.5))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_factor_images(10, 2, generator=0)
