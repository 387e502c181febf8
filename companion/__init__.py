"""Companion code for the course *Deep Learning, Question by Question*.

Each module holds one idea, with its NumPy and PyTorch versions side by side:

- :mod:`companion.activations`: softmax, log-softmax, log-sum-exp, sigmoid.
- :mod:`companion.losses`: cross-entropy and binary cross-entropy on logits.
- :mod:`companion.metrics`: accuracy, top-k accuracy, precision and recall.
- :mod:`companion.heads`: output heads for a bounded 2-D target (chapter 1.5).
- :mod:`companion.mixing`: learnable mixing of two predictors (chapter 1.6).
- :mod:`companion.data`: small synthetic data sets, generated on the CPU.
- :mod:`companion.training`: a minimal full-batch training loop.
- :mod:`companion.runtime`: device choice and seeding, for notebooks and scripts.

Library functions never choose a device: they take it, and the dtype, from
their inputs. Only entry points (notebooks, scripts) call
:func:`companion.runtime.default_device`.
"""

__version__ = "0.1.0"
