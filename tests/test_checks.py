"""The shared input checks: the messages every public function relies on."""

import math

import numpy as np
import pytest
import torch

from companion import _checks


@pytest.mark.parametrize("make", [torch.tensor, np.array], ids=["torch", "numpy"])
def test_require_in_range_names_the_values_outside(make):
    _checks.require_in_range(make([0, 1, 2]), "labels", 3)
    _checks.require_in_range(make([0, 255, 2]), "labels", 3, ignore_index=255)
    _checks.require_in_range(make([7])[:0], "labels", 3)  # empty: nothing to check
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for C = 3 classes; got 2 value\(s\) outside, in \[-1, 5\]"):
        _checks.require_in_range(make([0, -1, 5, 2]), "labels", 3)
    with pytest.raises(ValueError, match=r"or equal ignore_index = 255; got 1 value\(s\) outside, in \[7, 7\]"):
        _checks.require_in_range(make([255, 7, 255]), "labels", 3, ignore_index=255)


def test_require_number():
    assert _checks.require_number(np.float32(0.5), "w", 0, 1) == 0.5
    with pytest.raises(TypeError, match="w must be a number; got str '1'"):
        _checks.require_number("1", "w")
    with pytest.raises(TypeError, match="w must be a number; got bool"):
        _checks.require_number(True, "w")
    with pytest.raises(ValueError, match=r"w must be a number in \[0, 1\]; got 1.5"):
        _checks.require_number(1.5, "w", 0, 1)
    with pytest.raises(ValueError, match="w must be a finite number >= 0; got -2"):
        _checks.require_number(-2, "w", minimum=0)
    with pytest.raises(ValueError, match="w must be a finite number <= 3; got 4"):
        _checks.require_number(4, "w", maximum=3)
    with pytest.raises(ValueError, match="w must be a finite number; got inf"):
        _checks.require_number(math.inf, "w")


def test_require_cpu_generator():
    _checks.require_cpu_generator(torch.Generator())
    with pytest.raises(TypeError, match="generator must be a torch.Generator; got int"):
        _checks.require_cpu_generator(0)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="generator must be a CPU generator"):
            _checks.require_cpu_generator(torch.Generator(device="cuda"))
