"""Random boxes shared by the detection tests (imported by them; holds no tests)."""

import torch


def random_boxes(n: int, generator: torch.Generator, dtype=torch.float64, size: float = 100.0) -> torch.Tensor:
    """(n, 4) xyxy boxes with positive sides, some of them overlapping."""
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * size
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * size / 2 + 1
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


def clustered_boxes(n: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Boxes jittered around a few objects, as a detector outputs them: long suppression chains."""
    centres = torch.rand(4, 2, generator=generator, dtype=torch.float64) * 60
    which = torch.randint(0, 4, (n,), generator=generator)
    xy = centres[which] + torch.randn(n, 2, generator=generator, dtype=torch.float64) * 3
    wh = 10 + torch.rand(n, 2, generator=generator, dtype=torch.float64) * 8
    return torch.cat([xy, xy + wh], dim=1).to(dtype)
