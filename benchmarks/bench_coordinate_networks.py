"""Chapter 4.4's input encodings against library references, at the chapter's size and larger.

- :func:`companion.coordinate_networks.rbf_features` (squared distances summed
  from the coordinate differences) against ``torch.cdist`` followed by the
  same Gaussian, on N pixel coordinates and K centres.
- :func:`companion.coordinate_networks.fourier_features` with ``m``
  frequencies (``2m`` features) against scikit-learn's
  ``RBFSampler.transform`` with ``2m`` components (random Fourier features
  with random phases, ``sqrt(2 / D) cos(x W + b)``): the same output width.

Target: each companion function within 2x of its reference's time (a ratio
below 1 is faster). Float64 on the CPU, one thread.
"""

import numpy as np
import torch
from sklearn.kernel_approximation import RBFSampler

from companion.coordinate_networks import fourier_features, gaussian_projection, grid_centres, pixel_coordinates, rbf_features
from timing import median_seconds, report_ratio  # benchmarks/timing.py

TARGET_RATIO = 2.0
RBF_SIZES = [(80, 20), (160, 20), (80, 40)]  # image side (N = side**2 pixels), centres per side (K = per_side**2)
FOURIER_SIZES = [(80, 64), (160, 64), (80, 256)]  # image side, frequencies m
WIDTH = 0.03


def cdist_rbf(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    return torch.exp(-torch.cdist(x, centres).square() / (2 * WIDTH * WIDTH))


def main() -> None:
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    print(f"float64, CPU, 1 thread, torch {torch.__version__}")
    print(f"{'case':<40} {'ours':>10} {'ref':>10} {'ratio':>6}")
    for side, per_side in RBF_SIZES:
        x, centres = pixel_coordinates(side, side), grid_centres(per_side)
        torch.testing.assert_close(rbf_features(x, centres, WIDTH), cdist_rbf(x, centres), rtol=1e-9, atol=1e-12)
        report_ratio(f"rbf_features N={side * side} K={per_side**2}", median_seconds(rbf_features, x, centres, WIDTH),
                     median_seconds(cdist_rbf, x, centres), TARGET_RATIO, width=40, note=" (vs torch.cdist)")
    for side, m in FOURIER_SIZES:
        x = pixel_coordinates(side, side)
        projection = gaussian_projection(2, m, 10.0, generator=generator, dtype=torch.float64)
        sampler = RBFSampler(gamma=1.0, n_components=2 * m, random_state=0).fit(x.numpy())
        x_np = np.ascontiguousarray(x.numpy())
        report_ratio(f"fourier_features N={side * side} m={m}", median_seconds(fourier_features, x, projection),
                     median_seconds(sampler.transform, x_np), TARGET_RATIO, width=40, note=" (vs sklearn RBFSampler)")


if __name__ == "__main__":
    main()
