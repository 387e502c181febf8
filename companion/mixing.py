"""Learnable mixing of two predictors' scores over the same T choices (chapter 1.6).

Two heads score the same T tokens, ``a`` and ``b`` of shape (N, T). They can be
mixed in two spaces, with a weight ``w`` in [0, 1]:

- logits:        ``z = w a + (1 - w) b``; then ``softmax(z) ~ pa^w pb^(1 - w)``, a
                 normalised geometric mean of the two distributions ("product of experts");
- probabilities: ``p = w pa + (1 - w) pb``, an arithmetic mixture, kept as
                 ``log p = logsumexp(log w + log pa, log(1 - w) + log pb)`` so it never underflows.

The weight is learned through a sigmoid, ``w = sigmoid(alpha)``: any real ``alpha``
gives a valid weight, and ``alpha = 0`` starts at equal weights. :class:`ScalarMix`
learns one ``alpha``; :class:`GatedMix` computes one per example from a gate input.

Both spaces are trained with the same ``F.cross_entropy``: on mixed logits it is
the usual softmax cross-entropy, and on mixed log-probabilities it equals the
negative log-likelihood, because ``log_softmax(log p) = log p`` when ``p`` sums to 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from companion._checks import (
    _is_real_scalar,
    require_floating,
    require_int,
    require_layout,
    require_module_input,
    require_same_device,
    require_same_shape,
    require_tensor,
)
from companion.activations import log_softmax, logsumexp

SPACES = ("logits", "probabilities")


def _check_scores(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    for x, name in ((a, a_name), (b, b_name)):
        require_tensor(x, name)
        require_floating(x, name)
        require_layout(x, name, "(N, T)")
    require_same_shape(a, a_name, b, b_name)
    if a.dtype != b.dtype:
        raise TypeError(f"{a_name} and {b_name} must have the same dtype; got {a.dtype} and {b.dtype}")
    require_same_device(a, a_name, b, b_name)


def _check_weight(weight: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """Check a number in [0, 1] or a tensor that broadcasts to ``like``'s (N, T); a tensor is returned in ``like``'s dtype."""
    n, t = like.shape
    if isinstance(weight, torch.Tensor):
        try:
            shape = torch.broadcast_shapes(tuple(weight.shape), (n, t))
        except RuntimeError:
            shape = None
        if shape != (n, t):
            raise ValueError(
                f"weight must broadcast to (N, T) = ({n}, {t}), e.g. (N, 1); got shape {tuple(weight.shape)}"
            )
        require_floating(weight, "weight")
        require_same_device(like, "the scores", weight, "weight")
        return weight.to(like.dtype)  # the result keeps the scores' dtype
    if not _is_real_scalar(weight) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be a number in [0, 1] or a tensor; got {weight!r}")
    return float(weight)


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}; got {space!r}")


def mix_logits(a: torch.Tensor, b: torch.Tensor, weight: float | torch.Tensor) -> torch.Tensor:
    """``weight * a + (1 - weight) * b``: a weighted sum of two heads' logits.

    Args:
        a, b: (N, T) logits over the same T choices.
        weight: a number in [0, 1], or a floating tensor that broadcasts to (N, T):
            0-dim (one weight) or (N, 1) (one weight per example), cast to the
            dtype of ``a``. A tensor's values are not checked (that would wait for the device).
    Returns:
        (N, T) mixed logits in the dtype of ``a``; ``softmax`` of them is proportional to ``pa^w pb^(1-w)``.
        A choice masked in both heads (``-inf``) stays ``-inf``, with a zero gradient
        (the derivative in ``w``, ``a - b``, would be ``-inf + inf = nan``). A ``-inf``
        in one head only, weighted 0, gives NaN, as ``0 * inf`` does.
    """
    _check_scores(a, "a", b, "b")
    weight = _check_weight(weight, a)
    masked = torch.isinf(a) & (a == b)  # (N, T): the same infinite logit in both heads
    # the infinities are kept out of the product (0 * inf is nan in the backward pass too) and put back after
    a_finite, b_finite = torch.where(masked, 0.0, a), torch.where(masked, 0.0, b)
    return torch.where(masked, a, weight * a_finite + (1 - weight) * b_finite)  # (N, T)


def _log_mixture(
    log_pa: torch.Tensor, log_pb: torch.Tensor, log_wa: torch.Tensor, log_wb: torch.Tensor
) -> torch.Tensor:
    """``log(wa pa + wb pb)`` from logs, by log-sum-exp over the two terms."""
    terms = torch.stack(torch.broadcast_tensors(log_wa + log_pa, log_wb + log_pb))  # (2, N, T)
    return logsumexp(terms, dim=0)  # (N, T)


def mix_probabilities(log_pa: torch.Tensor, log_pb: torch.Tensor, weight: float | torch.Tensor) -> torch.Tensor:
    """``log(weight * pa + (1 - weight) * pb)``: the arithmetic mixture, in log space.

    Args:
        log_pa, log_pb: (N, T) log-probabilities (e.g. ``log_softmax`` of each head's logits).
        weight: a number in [0, 1], or a tensor that broadcasts to (N, T).
    Returns:
        (N, T) log-probabilities of the mixture; each row's ``exp`` sums to 1.
        ``weight`` 0 or 1 gives exactly one of the inputs (``log 0 = -inf`` drops a term);
        a choice masked in both (``-inf``) stays ``-inf``, with a zero gradient.
    """
    _check_scores(log_pa, "log_pa", log_pb, "log_pb")
    weight = _check_weight(weight, log_pa)
    weight = torch.as_tensor(weight, dtype=log_pa.dtype, device=log_pa.device)
    # log(w pa + (1-w) pb) = logsumexp(log w + log pa, log(1-w) + log pb)
    return _log_mixture(log_pa, log_pb, torch.log(weight), torch.log1p(-weight))


class ScalarMix(nn.Module):
    """One learned weight for two heads: ``w a + (1 - w) b`` with ``w = sigmoid(alpha)``.

    ``alpha`` starts at 0, so ``w`` starts at 0.5 (equal weights). Train it with
    the heads, end to end, by ``F.cross_entropy`` on the output.

    Args:
        space: ``"logits"`` mixes the logits and returns mixed logits (N, T);
            ``"probabilities"`` mixes ``softmax(a)`` and ``softmax(b)`` and
            returns the mixture's log-probabilities (N, T).
    """

    def __init__(self, space: str = "logits") -> None:
        super().__init__()
        _check_space(space)
        self.space = space
        self.alpha = nn.Parameter(torch.zeros(()))  # sigmoid(0) = 0.5

    @property
    def weight(self) -> torch.Tensor:
        """The weight of head ``a``, ``sigmoid(alpha)``, a 0-dim tensor in (0, 1)."""
        return torch.sigmoid(self.alpha)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b: (N, T) logits of the two heads. Returns (N, T), see ``space``."""
        _check_scores(a, "a", b, "b")
        if self.space == "logits":
            return mix_logits(a, b, self.weight)  # w a + (1 - w) b
        # log(w pa + (1 - w) pb), with log w = log sigmoid(alpha) and log(1 - w) = log sigmoid(-alpha)
        log_pa, log_pb = log_softmax(a, dim=1), log_softmax(b, dim=1)
        return _log_mixture(log_pa, log_pb, F.logsigmoid(self.alpha), F.logsigmoid(-self.alpha))

    def extra_repr(self) -> str:
        return f"space={self.space!r}"


class GatedMix(nn.Module):
    """A weight per example: ``w(g) a + (1 - w(g)) b``, ``w(g) = sigmoid(gate(g))``.

    The gate is a small MLP, ``Linear(F, hidden) -> tanh -> Linear(hidden, 1)``,
    on a gate input ``g`` of shape (N, F): whatever tells which head to trust
    for this example (a summary of the question, or the two heads' scores
    concatenated, ``(a; b)`` with F = 2T). Its last layer starts at zero, so
    every example starts at ``w = 0.5``, like :class:`ScalarMix`.

    Args:
        gate_features: F, the size of the gate input.
        hidden: width of the gate's hidden layer.
        space: ``"logits"`` or ``"probabilities"``, as in :class:`ScalarMix`.
    """

    def __init__(self, gate_features: int, hidden: int = 16, space: str = "logits") -> None:
        super().__init__()
        gate_features = require_int(gate_features, "gate_features")
        hidden = require_int(hidden, "hidden")
        _check_space(space)
        self.space = space
        self.gate = nn.Sequential(nn.Linear(gate_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.reset_constant_parameters()

    def reset_constant_parameters(self) -> None:
        """Zero the gate's last layer, so that every example starts at ``w = 0.5``.

        :func:`companion.runtime.init_parameters` calls it after re-drawing the layers.
        """
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.zeros_(self.gate[-1].bias)

    def _alpha(self, gate_input: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """The gate's logit per example, (N, 1); ``n`` is the N that ``gate_input`` must have."""
        require_tensor(gate_input, "gate_input")
        require_floating(gate_input, "gate_input")
        require_layout(gate_input, "gate_input", "(N, F)")
        n = gate_input.shape[0] if n is None else n
        f = self.gate[0].in_features
        if tuple(gate_input.shape) != (n, f):
            raise ValueError(f"gate_input must have shape (N, F) = ({n}, {f}); got shape {tuple(gate_input.shape)}")
        require_module_input(gate_input, "gate_input", self)
        return self.gate(gate_input)  # (N, 1)

    def weights(self, gate_input: torch.Tensor) -> torch.Tensor:
        """The weight of head ``a`` for each example: (N, 1) in (0, 1)."""
        return torch.sigmoid(self._alpha(gate_input))

    def forward(self, a: torch.Tensor, b: torch.Tensor, gate_input: torch.Tensor) -> torch.Tensor:
        """a, b: (N, T) logits; gate_input: (N, F). Returns (N, T), see ``space``."""
        _check_scores(a, "a", b, "b")
        alpha = self._alpha(gate_input, a.shape[0]).to(a.dtype)  # (N, 1), in the scores' dtype
        if self.space == "logits":
            return mix_logits(a, b, torch.sigmoid(alpha))  # w a + (1 - w) b, one w per row
        log_pa, log_pb = log_softmax(a, dim=1), log_softmax(b, dim=1)
        return _log_mixture(log_pa, log_pb, F.logsigmoid(alpha), F.logsigmoid(-alpha))

    def extra_repr(self) -> str:
        return f"space={self.space!r}"
