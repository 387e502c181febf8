"""Device choice and seeding."""

import pytest
import torch

from companion.runtime import default_device, seed_everything


def test_seed_everything_makes_cpu_draws_repeatable():
    a = seed_everything(3)
    first = (torch.randn(3, generator=a), torch.randn(3))
    b = seed_everything(3)
    second = (torch.randn(3, generator=b), torch.randn(3))
    assert all(torch.equal(p, q) for p, q in zip(first, second))
    with pytest.raises(TypeError, match="seed must be an int; got float"):
        seed_everything(1.5)
    with pytest.raises(ValueError, match="seed must be >= 0; got -1"):
        seed_everything(-1)  # NumPy would refuse it after Python and PyTorch were already seeded


def test_default_device_follows_cuda_availability():
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
