"""A minimal training loop shared by the chapters.

It does what every chapter would otherwise copy: forward, loss, backward,
step, and a record of the loss. The device is the model's: inputs and targets
must already be there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from companion._checks import _type_name, require_bool, require_cpu_generator, require_int


def fit(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` for ``steps`` optimizer steps and return the loss of each step.

    Args:
        model: maps ``inputs[i:j]`` to whatever ``loss_fn`` takes first.
        loss_fn: ``loss_fn(model(x), y)`` returns a scalar tensor.
        inputs: (N, ...) on the model's device. targets: (N, ...) on the same device.
        optimizer: built on ``model.parameters()``.
        steps: number of updates.
        batch_size: ``None`` for full-batch steps; otherwise each step draws a
            random mini-batch of this size (indices from ``generator``, on the CPU).
        progress: show a text progress bar on stderr (see :class:`ProgressBar`).
    Returns:
        the ``steps`` training losses, as Python floats (read once, at the end);
        a loss that turns NaN is recorded as NaN.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {_type_name(model)}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, loss_fn(model(x), y) -> scalar tensor; got {_type_name(loss_fn)}")
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(
            f"inputs and targets must be torch.Tensors; got {type(inputs).__name__} and {type(targets).__name__}"
        )
    if inputs.ndim == 0 or targets.ndim == 0:
        raise ValueError(f"inputs and targets must have a first dimension N; got shapes {tuple(inputs.shape)} and {tuple(targets.shape)}")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"inputs and targets must have the same first dimension N; got {inputs.shape[0]} and {targets.shape[0]}"
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"inputs must hold at least one sample to train on; got shape {tuple(inputs.shape)}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {_type_name(optimizer)}")
    param = next(model.parameters(), None)
    if param is not None and inputs.device != param.device:
        raise ValueError(f"inputs must be on the model's device {param.device}; got {inputs.device}")
    if targets.device != inputs.device:
        raise ValueError(f"targets must be on the device of inputs, {inputs.device}; got {targets.device}")
    steps = require_int(steps, "steps")
    n = inputs.shape[0]
    if batch_size is not None and (
        isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n
    ):
        raise ValueError(f"batch_size must be None or an int in [1, N] = [1, {n}]; got {batch_size!r}")
    batch_size = None if batch_size is None else int(batch_size)
    if generator is not None:
        require_cpu_generator(generator)
    progress = require_bool(progress, "progress")

    model.train()
    history = []
    bar = ProgressBar(steps, "training") if progress else None
    for step in range(steps):
        if batch_size is None:
            x, y = inputs, targets
        else:
            index = torch.randperm(n, generator=generator)[:batch_size].to(inputs.device)
            x, y = inputs[index], targets[index]
        loss = loss_fn(model(x), y)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else _type_name(loss)
            raise ValueError(f"loss_fn must return a scalar (0-dim) tensor; got {shape}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(loss.detach())
        if bar is not None:
            bar.update(step + 1)
    model.eval()
    return torch.stack(history).tolist()


class ProgressBar:
    """A text progress bar that redraws itself at fixed fractions of the work.

    It redraws after every ``1 / updates`` of the total (not on a timer), so the
    same run always prints the same text, and a notebook's stored output
    does not change from one execution to the next. Halfway through it reads::

        training  50% |##########          | 100/200
    """

    def __init__(self, total: int, description: str, width: int = 20, updates: int = 10, stream=None) -> None:
        total, width, updates = require_int(total, "total"), require_int(width, "width"), require_int(updates, "updates")
        if not isinstance(description, str):
            raise TypeError(f"description must be a str; got {_type_name(description)}")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must have a write method (a text file); got {_type_name(stream)}")
        self.total, self.description, self.width = total, description, width
        self.marks = {round(total * k / updates) for k in range(1, updates + 1)}  # steps at which to redraw
        self.stream = sys.stderr if stream is None else stream

    def update(self, done: int) -> None:
        """Record that ``done`` of ``total`` steps are finished; redraw at the marks."""
        done = require_int(done, "done", minimum=0, maximum=self.total)
        if done not in self.marks:
            return
        filled = self.width * done // self.total
        line = f"\r{self.description} {100 * done // self.total:3d}% |{'#' * filled}{' ' * (self.width - filled)}| {done}/{self.total}"
        self.stream.write(line + ("\n" if done == self.total else ""))
        self.stream.flush()
