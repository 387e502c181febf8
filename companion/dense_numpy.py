"""A dense network in NumPy whose forward and backward passes treat the whole batch at once.

A dense layer maps each row ``x_n`` (a sample with ``D_in`` features) to
``y_n = x_n W + b``. Stacking the ``N`` rows into ``X: (N, D_in)`` turns the
``N`` vector-matrix products into one matrix product:

    Y = X W + b                                  (N, D_out); b broadcast over rows

Backward, given ``G = dL/dY: (N, D_out)`` from the layer above:

    dL/dX = G W^T                                (N, D_in)
    dL/dW = X^T G = sum_n x_n^T g_n              (D_in, D_out): a sum over the batch
    dL/db = sum_n g_n                            (D_out,)

The product ``X^T G`` adds up the per-sample gradients ``x_n^T g_n`` by
itself, so the batch gradient is their sum; the loss's ``reduction="mean"``
puts the ``1 / N`` into ``G`` (``G = (softmax(Z) - onehot(y)) / N``), and the
batch gradient is then the *mean* per-sample gradient.

The pieces: :func:`dense_forward` / :func:`dense_backward` and
:func:`relu_forward` / :func:`relu_backward` (pure functions), the loss and
its gradient :func:`cross_entropy_and_grad`, small stateful layers
(:class:`Dense`, :class:`ReLU`) that cache what their backward needs, the
container :class:`MLP`, :func:`sgd_step`, :func:`train`, which runs epochs
of full-batch, mini-batch or per-sample updates, and :func:`to_torch`, which
copies a network into PyTorch to check it against autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from companion._checks import (
    _type_name,
    require_array,
    require_bool,
    require_floating,
    require_int,
    require_layout,
    require_positive,
    require_scalar_reduction,
)
from companion.activations import softmax_np
from companion.losses import cross_entropy_np

Parameter = tuple[np.ndarray, np.ndarray]  # (value, gradient), same shape; sgd_step updates value in place


# ----------------------------------------------------------------------------- checks


def _require_features(x: np.ndarray, name: str, features: int, other: np.ndarray, other_name: str) -> None:
    """``x`` must be a floating (N, F) array whose F matches the layer (``other`` is shown in the message)."""
    require_array(x, name)
    require_layout(x, name, "(N, D)")
    require_floating(x, name)
    if x.shape[1] != features:
        raise ValueError(
            f"{name} must have {features} columns to match {other_name}; "
            f"got {name} shape {x.shape} and {other_name} shape {other.shape}"
        )


def _require_rows(grad: np.ndarray, name: str, rows: int) -> None:
    if grad.shape[0] != rows:
        raise ValueError(f"{name} must have one row per input row, N = {rows}; got shape {grad.shape}")


# ----------------------------------------------------------------------------- pure functions


def dense_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``Y = X W + b`` for the whole batch in one matrix product.

    Args:
        x: (N, D_in) inputs, one sample per row.
        weight: (D_in, D_out).
        bias: (D_out,) or None.
    Returns:
        (N, D_out), in the dtype of ``x`` (``weight`` and ``bias`` are cast to it).
    """
    require_array(weight, "weight")
    require_layout(weight, "weight", "(D_in, D_out)")
    require_floating(weight, "weight")
    d_in, d_out = weight.shape
    _require_features(x, "x", d_in, weight, "weight")
    if bias is not None:
        require_array(bias, "bias")
        require_floating(bias, "bias")
        if bias.shape != (d_out,):
            raise ValueError(f"bias must have shape (D_out,) = ({d_out},); got shape {bias.shape}")
        bias = bias.astype(x.dtype, copy=False)
    weight = weight.astype(x.dtype, copy=False)
    y = x @ weight  # (N, D_in) @ (D_in, D_out) -> (N, D_out)
    return y if bias is None else y + bias  # bias broadcast over the N rows


def dense_backward(
    x: np.ndarray, weight: np.ndarray, grad_y: np.ndarray, *, has_bias: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of a dense layer given ``grad_y = dL/dY``.

    Args:
        x: (N, D_in) the forward input. weight: (D_in, D_out).
        grad_y: (N, D_out) the loss gradient with respect to the output.
        has_bias: whether to return the bias gradient (None otherwise).
    Returns:
        grad_x: (N, D_in). grad_weight: (D_in, D_out). grad_bias: (D_out,) or None.
        All in the dtype of ``x`` (``weight`` and ``grad_y`` are cast to it).
    """
    require_array(weight, "weight")
    require_layout(weight, "weight", "(D_in, D_out)")
    require_floating(weight, "weight")
    d_in, d_out = weight.shape
    _require_features(x, "x", d_in, weight, "weight")
    _require_features(grad_y, "grad_y", d_out, weight, "weight")
    _require_rows(grad_y, "grad_y", x.shape[0])
    has_bias = require_bool(has_bias, "has_bias")
    weight, grad_y = weight.astype(x.dtype, copy=False), grad_y.astype(x.dtype, copy=False)
    # dL/dX[n, i] = sum_j G[n, j] W[i, j]
    grad_x = grad_y @ weight.T  # (N, D_out) @ (D_out, D_in) -> (N, D_in)
    # dL/dW[i, j] = sum_n X[n, i] G[n, j]: the sum over the batch is inside the product
    grad_weight = x.T @ grad_y  # (D_in, N) @ (N, D_out) -> (D_in, D_out)
    # dL/db[j] = sum_n G[n, j]
    grad_bias = grad_y.sum(axis=0) if has_bias else None  # (D_out,)
    return grad_x, grad_weight, grad_bias


def relu_forward(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` elementwise; any shape."""
    require_array(x, "x")
    require_floating(x, "x")
    return np.maximum(x, 0)


def relu_backward(x: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """``grad_y`` where ``x > 0``, 0 elsewhere (the gradient at exactly 0 is taken as 0, as in PyTorch).

    In the dtype of ``x``. Written as "0 where ``x <= 0``", PyTorch's rule, so that a
    NaN in ``x`` passes ``grad_y`` on as PyTorch's ReLU does (``NaN <= 0`` is false).
    """
    require_array(x, "x")
    require_array(grad_y, "grad_y")
    require_floating(x, "x")
    require_floating(grad_y, "grad_y")
    if grad_y.shape != x.shape:
        raise ValueError(f"grad_y must have the forward input's shape {x.shape}; got shape {grad_y.shape}")
    return np.where(x <= 0, 0, grad_y).astype(x.dtype, copy=False)


def cross_entropy_and_grad(
    logits: np.ndarray, labels: np.ndarray, reduction: str = "mean"
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy and its gradient with respect to the logits.

    ``dL/dz_n = softmax(z_n) - onehot(y_n)``, divided by ``N`` for ``reduction="mean"``.

    Args:
        logits: (N, C). labels: (N,) integer class indices in ``[0, C)``.
        reduction: ``"mean"`` (the gradient is the mean over samples) or ``"sum"``.
    Returns:
        the loss as a float, and grad_logits: (N, C).
    """
    require_scalar_reduction(reduction)
    loss = float(cross_entropy_np(logits, labels, reduction))  # also checks shapes and labels
    n, c = logits.shape
    grad = softmax_np(logits, axis=1)  # (N, C)
    grad[np.arange(n), labels] -= 1.0  # softmax - onehot
    return loss, grad / n if reduction == "mean" else grad


# ----------------------------------------------------------------------------- layers


def _require_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")


def _require_float_dtype(dtype: object) -> np.dtype:
    """``dtype`` as a NumPy floating dtype; TypeError for anything else (an int dtype, a torch.dtype)."""
    try:
        as_numpy = np.dtype(dtype)
    except TypeError:
        as_numpy = None
    if as_numpy is None or as_numpy.kind != "f":
        raise TypeError(f"dtype must be a NumPy floating dtype such as np.float64; got {dtype!r}")
    return as_numpy


class Dense:
    """A fully connected layer ``y = x W + b`` on batches ``x: (N, D_in) -> (N, D_out)``.

    Weights and bias start uniform in ``[-1/sqrt(D_in), 1/sqrt(D_in)]`` (the
    rule of ``torch.nn.Linear``), drawn from ``rng``. Note the layout: ``W`` is
    ``(D_in, D_out)``, the transpose of ``nn.Linear.weight``.
    """

    def __init__(
        self, in_features: int, out_features: int, *, rng: np.random.Generator, bias: bool = True, dtype=np.float64
    ) -> None:
        d_in, d_out = require_int(in_features, "in_features"), require_int(out_features, "out_features")
        _require_rng(rng)
        bias = require_bool(bias, "bias")
        dtype = _require_float_dtype(dtype)
        bound = 1.0 / math.sqrt(d_in)
        self.weight = rng.uniform(-bound, bound, size=(d_in, d_out)).astype(dtype)  # (D_in, D_out)
        self.bias = rng.uniform(-bound, bound, size=d_out).astype(dtype) if bias else None  # (D_out,)
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = None if self.bias is None else np.zeros_like(self.bias)
        self._x: np.ndarray | None = None  # the forward input, kept for backward

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D_in) -> (N, D_out)."""
        y = dense_forward(x, self.weight, self.bias)
        self._x = x
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """grad_y: (N, D_out) -> grad_x: (N, D_in); stores grad_weight and grad_bias."""
        if self._x is None:
            raise RuntimeError("Dense.backward called before forward")
        grad_x, grad_weight, grad_bias = dense_backward(self._x, self.weight, grad_y, has_bias=self.bias is not None)
        # written into the arrays that parameters() handed out, so that an optimizer
        # holding them (momentum, Adam) sees every new gradient
        self.grad_weight[...] = grad_weight
        if grad_bias is not None:
            self.grad_bias[...] = grad_bias
        return grad_x

    def parameters(self) -> list[Parameter]:
        pairs = [(self.weight, self.grad_weight)]
        return pairs if self.bias is None else pairs + [(self.bias, self.grad_bias)]


class ReLU:
    """``max(x, 0)``, remembering its input for the backward pass."""

    def __init__(self) -> None:
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = relu_forward(x)
        self._x = x
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("ReLU.backward called before forward")
        return relu_backward(self._x, grad_y)

    def parameters(self) -> list[Parameter]:
        return []


class MLP:
    """Dense layers with a ReLU between consecutive ones; the last layer outputs logits.

    ``MLP([2, 16, 3], rng=rng)`` is Dense(2, 16), ReLU, Dense(16, 3).
    """

    def __init__(self, sizes: Sequence[int], *, rng: np.random.Generator, bias: bool = True, dtype=np.float64) -> None:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a sequence of ints; got {_type_name(sizes)} {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least the input and output widths; got {list(sizes)}")
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d >= 1 for d in sizes):
            raise ValueError(f"sizes must be ints >= 1; got {list(sizes)}")
        self.layers: list[Dense | ReLU] = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            self.layers += [Dense(d_in, d_out, rng=rng, bias=bias, dtype=dtype), ReLU()]
        self.layers.pop()  # no ReLU after the output layer

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D_in) -> logits (N, C)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_logits: np.ndarray) -> np.ndarray:
        """grad_logits: (N, C) -> grad_x: (N, D_in); every Dense layer stores its gradients."""
        grad = grad_logits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def parameters(self) -> list[Parameter]:
        return [pair for layer in self.layers for pair in layer.parameters()]

    def loss_and_backward(self, x: np.ndarray, labels: np.ndarray, reduction: str = "mean") -> float:
        """Forward, cross-entropy and backward on one batch; returns the loss. x: (N, D_in); labels: (N,)."""
        loss, grad_logits = cross_entropy_and_grad(self.forward(x), labels, reduction)
        self.backward(grad_logits)
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes (N,) for inputs (N, D_in): the argmax of the logits."""
        return self.forward(x).argmax(axis=1)


def sgd_step(model: MLP | Dense, learning_rate: float) -> None:
    """Plain gradient descent, in place: ``p <- p - learning_rate * dL/dp`` for every parameter."""
    if not isinstance(model, (MLP, Dense, ReLU)):
        raise TypeError(f"model must be an MLP or a Dense layer; got {_type_name(model)}")
    learning_rate = require_positive(learning_rate, "learning_rate")
    for value, grad in model.parameters():
        value -= learning_rate * grad


# ----------------------------------------------------------------------------- training


@dataclass
class TrainingHistory:
    """What :func:`train` records.

    update_losses: (epochs * updates per epoch,) the loss of each batch, computed just before its update.
    epoch_losses: (epochs + 1,) the mean loss on the whole training set before training and after each epoch.
    """

    update_losses: np.ndarray
    epoch_losses: np.ndarray


def train(
    model: MLP,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    reduction: str = "mean",
) -> TrainingHistory:
    """Epochs of SGD: each epoch shuffles the data and makes one update per batch.

    ``batch_size = N`` is full-batch gradient descent (one update per epoch),
    ``batch_size = 1`` per-sample SGD (N updates per epoch); the last batch of
    an epoch is smaller when ``batch_size`` does not divide ``N``.

    Args:
        x: (N, D_in). labels: (N,).
        reduction: ``"mean"`` divides each batch gradient by the batch size;
            ``"sum"`` does not, which multiplies the step by the batch size.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model must be an MLP; got {_type_name(model)}")
    require_array(x, "x")
    require_layout(x, "x", "(N, D_in)")
    n = x.shape[0]
    if n == 0:
        raise ValueError(f"x must hold at least one sample to train on; got shape {x.shape}")
    epochs = require_int(epochs, "epochs")
    batch_size = require_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must be in [1, N] = [1, {n}]; got {batch_size}")
    learning_rate = require_positive(learning_rate, "learning_rate")
    require_scalar_reduction(reduction)
    _require_rng(rng)
    update_losses = []
    epoch_losses = [float(cross_entropy_np(model.forward(x), labels))]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            update_losses.append(model.loss_and_backward(x[batch], labels[batch], reduction))
            sgd_step(model, learning_rate)
        epoch_losses.append(float(cross_entropy_np(model.forward(x), labels)))
    return TrainingHistory(np.array(update_losses), np.array(epoch_losses))


# ----------------------------------------------------------------------------- PyTorch twin


def to_torch(model: MLP) -> nn.Sequential:
    """The same network as ``nn.Linear`` and ``nn.ReLU`` modules, with the weights copied (CPU, same dtype).

    ``nn.Linear`` stores its weight as ``(D_out, D_in)`` and computes ``x W^T + b``;
    ours is ``(D_in, D_out)``, so the copy is transposed.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model must be an MLP; got {_type_name(model)}")
    modules: list[nn.Module] = []
    for layer in model.layers:
        if isinstance(layer, ReLU):
            modules.append(nn.ReLU())
            continue
        d_in, d_out = layer.weight.shape
        linear = nn.Linear(d_in, d_out, bias=layer.bias is not None, dtype=torch.from_numpy(layer.weight).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.weight.T))
            if layer.bias is not None:
                linear.bias.copy_(torch.from_numpy(layer.bias))
        modules.append(linear)
    return nn.Sequential(*modules)
