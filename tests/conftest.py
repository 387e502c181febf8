"""Shared fixtures: every device-dependent test runs on the CPU and, when present, on CUDA."""

import pytest
import torch

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded CPU generator: test data is drawn on the CPU, then moved."""
    return torch.Generator().manual_seed(0)
