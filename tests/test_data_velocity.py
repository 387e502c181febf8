"""Tests for companion.data.make_velocity_task."""

import math

import pytest
import torch

from companion import data
from companion.data import make_velocity_task


def _reference_velocities(inputs: torch.Tensor) -> torch.Tensor:
    """The documented formula v = tanh(x A + sin(x B)), maps drawn from the task's fixed seed."""
    num_features = inputs.shape[1]
    task = torch.Generator().manual_seed(data._VELOCITY_MAP_SEED)
    # drawn in float64 and rounded, as companion.runtime.randn draws (float32 randn depends on the CPU)
    maps = torch.randn(2, num_features, 2, generator=task, dtype=torch.float64).float() / math.sqrt(num_features)
    return torch.tanh(inputs @ maps[0] + torch.sin(inputs @ maps[1]))


def test_shapes_dtypes_and_range(generator):
    inputs, velocities = make_velocity_task(500, generator=generator, num_features=5)
    assert inputs.shape == (500, 5) and velocities.shape == (500, 2)
    assert inputs.dtype == velocities.dtype == torch.float32
    assert inputs.device.type == velocities.device.type == "cpu"
    assert velocities.abs().max() < 1
    # the velocities spread over the range, not a corner of it
    assert (velocities.std(dim=0) > 0.3).all()
    assert (velocities.mean(dim=0).abs() < 0.1).all()


def test_same_seed_same_data():
    a = make_velocity_task(50, generator=torch.Generator().manual_seed(3), bimodal=True)
    b = make_velocity_task(50, generator=torch.Generator().manual_seed(3), bimodal=True)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("seed", [0, 1])
def test_the_map_does_not_depend_on_the_generator(seed):
    inputs, velocities = make_velocity_task(200, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(velocities, _reference_velocities(inputs))


def test_bimodal_flips_the_sign_of_both_components_with_a_fair_coin():
    plain_x, plain_v = make_velocity_task(4000, generator=torch.Generator().manual_seed(7))
    x, v = make_velocity_task(4000, generator=torch.Generator().manual_seed(7), bimodal=True)
    assert torch.equal(x, plain_x)  # the coin is drawn after the inputs
    flipped = (v == -plain_v).all(dim=1)
    assert ((v == plain_v).all(dim=1) | flipped).all()
    assert 0.45 < flipped.float().mean().item() < 0.55


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_samples": 0}, ValueError, r"num_samples must be >= 1; got 0"),
        ({"num_samples": 2.5}, TypeError, r"num_samples must be an int; got float"),
        ({"num_features": 0}, ValueError, r"num_features must be >= 1; got 0"),
        ({"bimodal": 1}, TypeError, r"bimodal must be a bool; got int"),
        ({"generator": 0}, TypeError, r"generator must be a torch.Generator; got int"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    arguments = {"num_samples": 10, "generator": torch.Generator().manual_seed(0)} | kwargs
    with pytest.raises(error, match=match):
        make_velocity_task(**arguments)
