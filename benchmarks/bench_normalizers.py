"""Chapter 4.5's normalizers and PSNR against references, at the chapter's size and larger.

- :class:`companion.normalizers.MinMaxNormalizer`, :class:`ZScoreNormalizer`
  and :class:`QuantileNormalizer` (``fit`` then ``transform``, global
  statistics) on images (N, 1, H, W) against scikit-learn's ``MinMaxScaler``,
  ``StandardScaler`` and ``RobustScaler(quantile_range=(5, 95))`` on the same
  values as one column (``reshape(-1, 1)``), ``fit_transform``.
- :func:`companion.normalizers.psnr` against the one-line formula
  ``10 * log10(r**2 / F.mse_loss(p, t))``.

Target: each companion call within 2x of its reference's time (a ratio below 1
is faster). Float64 on the CPU, one thread.
"""

import torch
import torch.nn.functional as F
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from companion.normalizers import MinMaxNormalizer, QuantileNormalizer, ZScoreNormalizer, psnr
from timing import median_seconds, report_ratio  # benchmarks/timing.py

TARGET_RATIO = 2.0
SIZES = [(64, 16), (64, 128), (16, 512)]  # images N of side H = W: chapter 4.5's training set, then larger images
PAIRS = (
    ("min-max", MinMaxNormalizer, MinMaxScaler),
    ("z-score", ZScoreNormalizer, StandardScaler),
    ("quantile 5/95", QuantileNormalizer, lambda: RobustScaler(quantile_range=(5, 95))),
)


def main() -> None:
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    print(f"float64, CPU, 1 thread, torch {torch.__version__}")
    print(f"{'case':<36} {'ours':>11} {'reference':>11} {'ratio':>6}")
    for n, side in SIZES:
        x = torch.randn(n, 1, side, side, generator=generator, dtype=torch.float64).exp()
        column = x.numpy().reshape(-1, 1)
        for name, ours, theirs in PAIRS:
            report_ratio(f"{name} fit + transform ({n}, 1, {side}, {side})", median_seconds(lambda: ours().fit_transform(x)),
                         median_seconds(lambda: theirs().fit_transform(column)), TARGET_RATIO, width=36)
        y = x + 0.1 * torch.randn(x.shape, generator=generator, dtype=torch.float64)
        report_ratio(f"psnr ({n}, 1, {side}, {side})", median_seconds(psnr, y, x, 1.0),
                     median_seconds(lambda: 10 * torch.log10(1.0 / F.mse_loss(y, x))), TARGET_RATIO, width=36)


if __name__ == "__main__":
    main()
