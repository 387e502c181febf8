"""Device choice and seeding: the only place the package picks a device.

Library code takes its device from its inputs; notebooks and scripts call
:func:`default_device` once and move data and models there. Random data and
initial weights are drawn on the CPU from a seeded generator and then moved,
because the same seed drives different generators on the CPU and on CUDA.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from companion._checks import require_int


def default_device() -> torch.device:
    """CUDA when a GPU is available, the CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and return a seeded CPU generator.

    Pass the returned generator to the data and initialisation helpers so that
    a notebook draws the same numbers on a laptop, in CI and next to a GPU.
    """
    require_int(seed, "seed", minimum=0)  # NumPy refuses negative seeds
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
