"""Bad and extreme input to every public function and class of ``companion``: the package's contract.

The contract (stated in the package docstring and the README) checked here:

- bad input (wrong type, rank, shape, dtype or value) raises ``TypeError`` or
  ``ValueError`` from the package's own checks, and the message names the argument;
- otherwise the result equals the PyTorch reference, or a float64 formula or
  loop, including for NaN and infinite input, float16, bfloat16 and float64,
  extreme valid values, non-contiguous input and NumPy scalars;
- empty input gives the documented result.

``BATTERY`` holds one entry per public name (``"companion.module.name"``). An
entry is a function that runs that name's cases; register it with
``@entry("companion.module.name")``. :func:`test_every_public_name_has_an_entry`
fails when a module defines a public function or class without one.
"""

from __future__ import annotations

import importlib
import inspect
import io
import math
import pkgutil
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import companion
from companion import activations as act
from companion import cam, conv, data, dense_numpy, finite_differences as fd, heads, losses, metrics, mixing
from companion import runtime, segmentation_data, segmentation_losses as sl, segmentation_metrics as sm
from companion import receptive_field as rf, shapes, training, unet
from companion import latent_codes, metric_learning as ml, multilabel, residual
from companion import coordinate_networks as cn
from companion.detection import anchors, box_coding, boxes as bx, detection_output as do, matching, nms, rpn
from companion import filter_similarity as fsim, plotting

BATTERY: dict[str, Callable[[], None]] = {}
PACKAGE_DIR = Path(companion.__file__).resolve().parent
ERRORS = (TypeError, ValueError)
LOW = (torch.float16, torch.bfloat16)
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
NOT_A_TENSOR = ("x", None, [1.0, 2.0], 3.0, object())
NOT_AN_ARRAY = ("x", None, [1.0, 2.0], 3.0, object(), torch.zeros(2))
NOT_AN_INT = (1.5, "2", None, True, np.float64(2.0), object())
NOT_A_NUMBER = ("1", None, [1.0], True, object(), 1j)
BAD_NUMBERS = (math.nan, math.inf, -math.inf)
INF, NAN = math.inf, math.nan
HYPOTHESIS = settings(max_examples=25, deadline=None, derandomize=True)


def entry(*names: str):
    """Register ``check`` as the battery entry of each of ``names``."""

    def register(check: Callable[[], None]) -> Callable[[], None]:
        for name in names:
            assert name not in BATTERY, f"two entries for {name}"
            BATTERY[name] = check
        return check

    return register


def public_names() -> set[str]:
    """``module.name`` of every public function and class defined in a public module of ``companion``, at run time."""
    names = set()
    for info in pkgutil.walk_packages(companion.__path__, "companion."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            defined_here = getattr(obj, "__module__", None) == module.__name__
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) and defined_here:
                names.add(f"{module.__name__}.{name}")
    return names


# ----------------------------------------------------------------------------- helpers


def raises(fn: Callable, *args, name: str, **kwargs) -> str:
    """``fn(*args, **kwargs)`` raises TypeError or ValueError, from the package's code, naming ``name``."""
    with pytest.raises(ERRORS) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    origin = Path(info.traceback[-1].path).resolve()
    assert PACKAGE_DIR in origin.parents, f"{getattr(fn, '__qualname__', fn)} failed outside the package ({origin}): {message}"
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message), f"the message does not name {name!r}: {message}"
    return message


def bad_arguments(fn: Callable, valid: dict, bad: dict[str, tuple]) -> None:
    """Each value in ``bad[arg]``, put in place of ``valid[arg]``, raises naming ``arg``."""
    for arg, values in bad.items():
        for value in values:
            raises(fn, **{**valid, arg: value}, name=arg)


def every_argument_refuses_an_object(fn: Callable, valid: dict) -> None:
    """``object()`` in place of any one argument raises, naming it."""
    bad_arguments(fn, valid, {arg: (object(),) for arg in valid})


def tolerance(dtype) -> dict:
    """How close a result computed in ``dtype`` (torch or NumPy) must be to its float64 reference; exact for integers."""
    dtype = torch.from_numpy(np.zeros(0, dtype)).dtype if isinstance(dtype, np.dtype) or dtype is np.float16 else dtype
    return {
        torch.float16: dict(rtol=2e-3, atol=2e-3),
        torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
        torch.float32: dict(rtol=2e-5, atol=2e-6),
        torch.float64: dict(rtol=1e-10, atol=1e-12),
    }.get(dtype, dict(rtol=0.0, atol=0.0))


def close(actual, expected, dtype=None, **override) -> None:
    """``actual`` equals ``expected`` (a float64 or PyTorch reference) to the precision of ``dtype``; NaN equals NaN, infinities exactly."""
    actual_t = torch.as_tensor(np.asarray(actual)) if not isinstance(actual, torch.Tensor) else actual
    expected_t = torch.as_tensor(np.asarray(expected)) if not isinstance(expected, torch.Tensor) else expected
    if actual_t.is_complex() or expected_t.is_complex():
        for part in (torch.real, torch.imag):
            close(part(actual_t.to(torch.complex128)), part(expected_t.to(torch.complex128)), torch.float64, **override)
        return
    dtype = actual_t.dtype if dtype is None else dtype
    options = tolerance(dtype) | override
    assert tuple(actual_t.shape) == tuple(expected_t.shape), f"shape {tuple(actual_t.shape)} != {tuple(expected_t.shape)}"
    torch.testing.assert_close(actual_t.detach().cpu().double(), expected_t.detach().cpu().double(), equal_nan=True, **options)


def strided(x):
    """The same values as a non-contiguous view (every other element of a larger buffer)."""
    if isinstance(x, torch.Tensor):
        buffer = x.new_empty((*x.shape, 2))
        buffer[..., 0] = x
        view = buffer[..., 0]
        assert not view.is_contiguous() or x.numel() <= 1
        return view
    buffer = np.empty((*x.shape, 2), dtype=x.dtype)
    buffer[..., 0] = x
    return buffer[..., 0]


def meta_agrees(fn: Callable, *args, **kwargs) -> None:
    """On ``meta`` copies of the tensor arguments, ``fn`` gives a meta result of the CPU result's shape and dtype,
    or raises naming an argument (for a function that must read values)."""
    cpu = fn(*args, **kwargs)
    to_meta = lambda v: v.to("meta") if isinstance(v, torch.Tensor) else v  # noqa: E731
    try:
        out = fn(*map(to_meta, args), **{k: to_meta(v) for k, v in kwargs.items()})
    except ValueError as error:
        assert "meta" in str(error), f"a meta tensor failed with {error}"
        return
    outs, cpus = (out, cpu) if isinstance(out, tuple) else ((out,), (cpu,))
    for o, c in zip(outs, cpus):
        assert o.device.type == "meta" and o.shape == c.shape and o.dtype == c.dtype


def randn(*shape, dtype=torch.float64, seed=0, scale=1.0) -> torch.Tensor:
    return (scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)).to(dtype)


def randint(high, *shape, seed=0, dtype=torch.int64) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- the battery's own tests


def test_every_public_name_has_an_entry():
    missing = sorted(public_names() - set(BATTERY))
    assert not missing, f"public names without a battery entry in {Path(__file__).name}: {missing}"


def test_every_entry_names_a_public_name():
    assert sorted(set(BATTERY) - public_names()) == []


# ----------------------------------------------------------------------------- activations

BIG = float(np.float32(3e38))  # exactly a float32: NumPy 1.x makes hypothesis refuse 3e38 itself
ELEMENTS = st.floats(width=32) | st.sampled_from([-INF, INF, NAN, BIG, -BIG, 0.0])  # any float32, often extreme
SCORES = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5), elements=ELEMENTS)


def check_scores_argument(fn: Callable, numpy: bool, **kwargs) -> None:
    """The ``z`` argument of an activation: type, dtype, rank and axis checked."""
    make = np.array if numpy else torch.tensor
    bad_arguments(fn, {"z": make([1.0, 2.0]), **kwargs}, {"z": NOT_AN_ARRAY if numpy else NOT_A_TENSOR})
    raises(fn, make([1, 2]), name="z", **kwargs)  # integers
    raises(fn, make(1.0), name="z", **kwargs)  # 0-dim
    if numpy:
        raises(fn, torch.zeros(2), name="z", **kwargs)
    else:
        raises(fn, np.zeros(2), name="z", **kwargs)


def check_axis_argument(fn: Callable, numpy: bool, name: str) -> None:
    z = np.zeros((2, 3)) if numpy else torch.zeros(2, 3)
    for value in (2, -3, 1.0, "1", None, True):
        raises(fn, z, **{name: value}, name=name)
    close(fn(z, **{name: np.int64(0)}), fn(z, **{name: 0}))  # a NumPy int is an int


@entry("companion.activations.logsumexp", "companion.activations.logsumexp_np")
def check_logsumexp():
    @HYPOTHESIS
    @given(z=SCORES, choice=st.data())
    def against_torch(z, choice):
        axis = choice.draw(st.integers(-z.ndim, z.ndim - 1))
        expected = torch.logsumexp(torch.from_numpy(z).double(), axis)  # -inf for an empty or all -inf row
        close(act.logsumexp_np(z, axis=axis), expected, torch.float32)
        close(act.logsumexp(torch.from_numpy(z), dim=axis), expected, torch.float32)
        close(act.logsumexp(strided(torch.from_numpy(z)), dim=axis), expected, torch.float32)

    against_torch()
    for fn, numpy, axis in ((act.logsumexp_np, True, "axis"), (act.logsumexp, False, "dim")):
        check_scores_argument(fn, numpy)
        check_axis_argument(fn, numpy, axis)
        raises(fn, np.zeros(2) if numpy else torch.zeros(2), name="keepdims" if numpy else "keepdim", **{"keepdims" if numpy else "keepdim": "yes"})
    # masked rows: -inf, with a zero gradient (torch.logsumexp's is nan)
    close(act.logsumexp(torch.tensor([[-INF, -INF], [0.0, -INF], [INF, 1.0]]), dim=1), torch.tensor([-INF, 0.0, INF]))
    z = torch.tensor([[-INF, -INF], [0.0, -INF]], requires_grad=True)
    (grad,) = torch.autograd.grad(act.logsumexp(z, dim=1).sum(), z)
    close(grad, torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    # float16 and bfloat16 are summed in float32: 70,000 zeros give log(70000), not log(inf)
    for dtype in LOW:
        out = act.logsumexp(torch.zeros(2, 70_000, dtype=dtype), dim=1)
        assert out.dtype == dtype
        close(out, torch.full((2,), math.log(70_000)))
    close(act.logsumexp_np(np.zeros((2, 70_000), np.float16), axis=1), np.full(2, math.log(70_000)), torch.float16)
    for dtype in FLOATS:  # extreme but finite
        big = torch.finfo(dtype).max
        z = torch.tensor([[big, big], [-big, big]], dtype=torch.float64).to(dtype)
        close(act.logsumexp(z, 1), torch.logsumexp(z.double(), 1).to(dtype), dtype)
    meta_agrees(act.logsumexp, torch.zeros(3, 4), dim=0, keepdim=True)


@entry("companion.activations.softmax", "companion.activations.softmax_np")
def check_softmax():
    @HYPOTHESIS
    @given(z=SCORES, choice=st.data(), temperature=st.sampled_from([1.0, 0.5, 3.0, 1e-3, 1e3]))
    def against_torch(z, choice, temperature):
        axis = choice.draw(st.integers(-z.ndim, z.ndim - 1))
        expected = torch.softmax(torch.from_numpy(z).double() / temperature, axis)
        close(act.softmax_np(z, axis=axis, temperature=temperature), expected, torch.float32)
        close(act.softmax(torch.from_numpy(z), dim=axis, temperature=temperature), expected, torch.float32)

    against_torch()
    for fn, numpy, axis in ((act.softmax_np, True, "axis"), (act.softmax, False, "dim")):
        check_scores_argument(fn, numpy)
        check_axis_argument(fn, numpy, axis)
        z = np.array([1.0, 2.0]) if numpy else torch.tensor([1.0, 2.0])
        bad_arguments(fn, {"z": z}, {"temperature": (*NOT_A_NUMBER, 0.0, -1.0, *BAD_NUMBERS, torch.tensor(1.0))})
        close(fn(z, temperature=np.float32(2.0)), fn(z, temperature=2.0))  # a NumPy scalar is a number
        # a temperature too small for float32 to hold (1e-300 rounds to 0) still gives the one-hot limit
        close(fn(z.astype(np.float32) if numpy else z.float(), temperature=1e-300), [0.0, 1.0])
    for dtype in LOW:  # 70,000 classes: a float16 sum of their exponentials would be inf
        out = act.softmax(torch.zeros(70_000, dtype=dtype))
        assert out.dtype == dtype
        close(out[:3], torch.full((3,), 1 / 70_000))
    close(act.softmax_np(np.zeros(70_000, np.float16))[:3], np.full(3, 1 / 70_000), torch.float16)
    assert act.softmax(torch.zeros(3, 0)).shape == (3, 0) and act.softmax_np(np.zeros((3, 0))).shape == (3, 0)
    meta_agrees(act.softmax, torch.zeros(3, 4), dim=0)


@entry("companion.activations.log_softmax", "companion.activations.log_softmax_np")
def check_log_softmax():
    @HYPOTHESIS
    @given(z=SCORES, choice=st.data())
    def against_torch(z, choice):
        axis = choice.draw(st.integers(-z.ndim, z.ndim - 1))
        expected = torch.log_softmax(torch.from_numpy(z).double(), axis)
        close(act.log_softmax_np(z, axis=axis), expected, torch.float32)
        close(act.log_softmax(strided(torch.from_numpy(z)), dim=axis), expected, torch.float32)

    against_torch()
    for fn, numpy, axis in ((act.log_softmax_np, True, "axis"), (act.log_softmax, False, "dim")):
        check_scores_argument(fn, numpy)
        check_axis_argument(fn, numpy, axis)
    for dtype in LOW:
        z = randn(4, 70_000, dtype=dtype)
        close(act.log_softmax(z, 1), torch.log_softmax(z.double(), 1), dtype)
    close(act.log_softmax_np(np.zeros((1, 70_000), np.float16)), np.full((1, 70_000), -math.log(70_000)), torch.float16)
    meta_agrees(act.log_softmax, torch.zeros(3, 4), dim=1)


@entry("companion.activations.softmax_backward")
def check_softmax_backward():
    fn = act.softmax_backward
    p, g = torch.softmax(randn(3, 4), dim=1), randn(3, 4, seed=1)
    bad_arguments(fn, {"probabilities": p, "grad_output": g}, {"probabilities": NOT_A_TENSOR, "grad_output": NOT_A_TENSOR})
    raises(fn, p, g[:, :3], name="grad_output")  # shapes differ
    raises(fn, p, g.float(), name="grad_output")  # dtypes differ
    raises(fn, p.long(), g.long(), name="probabilities")  # integers
    check_axis_argument(lambda z, dim: fn(torch.softmax(z, dim=0), z, dim=dim), False, "dim")
    z = randn(3, 4).requires_grad_()
    (expected,) = torch.autograd.grad(torch.softmax(z, dim=0), z, g)
    close(fn(torch.softmax(z.detach(), dim=0), g, dim=0), expected)
    close(fn(strided(p), strided(g), dim=1), fn(p, g, dim=1))
    for dtype in LOW:  # computed in float32, rounded back
        out = fn(p.to(dtype), g.to(dtype), dim=1)
        assert out.dtype == dtype
        close(out, fn(p.to(dtype).double(), g.to(dtype).double(), dim=1), dtype)
    assert fn(torch.zeros(0, 4), torch.zeros(0, 4), dim=1).shape == (0, 4)
    meta_agrees(fn, p, g, dim=1)


@entry("companion.activations.naive_softmax_np")
def check_naive_softmax_np():
    check_scores_argument(act.naive_softmax_np, True)
    check_axis_argument(act.naive_softmax_np, True, "axis")
    z = randn(3, 5, scale=5).numpy()
    for dtype in (np.float16, np.float32, np.float64):  # moderate scores: the textbook formula is right
        close(act.naive_softmax_np(z.astype(dtype), axis=1), torch.softmax(torch.from_numpy(z.astype(dtype)).double(), 1), np.dtype(dtype))
    close(act.naive_softmax_np(np.zeros(70_000, np.float16))[:2], np.full(2, 1 / 70_000), torch.float16)
    with np.errstate(over="ignore", invalid="ignore"):  # the documented failure: exp(1000) = inf, inf / inf = nan
        assert np.isnan(act.naive_softmax_np(np.array([1000.0, 0.0], np.float32))).any()


@entry("companion.activations.sigmoid_np", "companion.activations.sigmoid")
def check_sigmoid():
    z = np.array([-INF, -1e4, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1e4, INF, NAN])
    for fn, numpy in ((act.sigmoid_np, True), (act.sigmoid, False)):
        check_scores_argument(fn, numpy)
        for dtype in FLOATS:
            if numpy and dtype == torch.bfloat16:
                continue
            x = torch.from_numpy(z).to(dtype)
            value = x.numpy() if numpy else x
            out = fn(value if numpy else strided(value))
            assert out.dtype == value.dtype
            close(out, torch.sigmoid(x.double()), dtype)
    meta_agrees(act.sigmoid, torch.zeros(3))


@entry("companion.activations.log_sigmoid_np", "companion.activations.log_sigmoid", "companion.activations.softplus")
def check_log_sigmoid_and_softplus():
    z = np.array([-INF, -1e4, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1e4, INF, NAN])
    cases = ((act.log_sigmoid_np, True, F.logsigmoid), (act.log_sigmoid, False, F.logsigmoid), (act.softplus, False, F.softplus))
    for fn, numpy, reference in cases:
        check_scores_argument(fn, numpy)
        for dtype in FLOATS:
            if numpy and dtype == torch.bfloat16:
                continue
            x = torch.from_numpy(z).to(dtype)
            out = fn(x.numpy() if numpy else strided(x))
            assert out.dtype == (x.numpy().dtype if numpy else dtype)
            close(out, reference(x.double()), dtype)
    meta_agrees(act.softplus, torch.zeros(3))


# ----------------------------------------------------------------------------- losses

INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def check_logits_labels_arguments(fn: Callable, numpy: bool, **kwargs) -> None:
    """(N, C) logits and (N,) labels: types, ranks, dtypes, ranges and the reduction."""
    logits, labels = randn(4, 3), torch.tensor([0, 2, 1, 2])
    if numpy:
        logits, labels = logits.numpy(), labels.numpy()
    valid = {"logits": logits, "labels": labels, **kwargs}
    not_type = NOT_AN_ARRAY if numpy else NOT_A_TENSOR
    bad_arguments(fn, valid, {"logits": not_type, "labels": not_type, "reduction": ("avg", None, 1, "")})
    bad_arguments(fn, valid, {
        "logits": (logits[0], logits[None], logits.astype(np.int64) if numpy else logits.long(), logits[:, :0]),
        "labels": (labels[:3], labels[:, None], labels.astype(np.float64) if numpy else labels.double(),
                   labels.astype(bool) if numpy else labels.bool(), labels + 1, labels - 3),
    })
    every_argument_refuses_an_object(fn, valid)


@entry("companion.losses.cross_entropy", "companion.losses.cross_entropy_np")
def check_cross_entropy():
    @HYPOTHESIS
    @given(z=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5), elements=ELEMENTS),
           choice=st.data())
    def against_torch(z, choice):
        labels = torch.tensor(choice.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=z.shape[0], max_size=z.shape[0])))
        for reduction in ("none", "sum"):
            expected = F.cross_entropy(torch.from_numpy(z).double(), labels, reduction=reduction)
            close(losses.cross_entropy(torch.from_numpy(z), labels, reduction), expected, torch.float32)
            close(losses.cross_entropy_np(z, labels.numpy(), reduction), expected, torch.float32)

    against_torch()
    check_logits_labels_arguments(losses.cross_entropy, False)
    check_logits_labels_arguments(losses.cross_entropy_np, True)
    logits, labels = randn(6, 4, scale=3), randint(4, 6)
    logits[0] = NAN  # a NaN row
    logits[1, (labels[1] + 1) % 4] = -INF  # a masked class
    logits[2, 0], labels[2] = 1e300, 1  # a large logit
    logits[3] = -INF  # every class masked: nan, as F.cross_entropy
    for reduction in ("none", "mean", "sum"):
        for dtype in FLOATS:
            z = logits.to(dtype)
            expected = F.cross_entropy(z.double(), labels, reduction=reduction)
            for label_dtype in INTEGER_DTYPES:  # any integer dtype
                out = losses.cross_entropy(strided(z), labels.to(label_dtype), reduction)
                assert out.dtype == dtype
                close(out, expected, dtype)
            if dtype != torch.bfloat16:
                close(losses.cross_entropy_np(z.numpy(), labels.numpy().astype(np.uint8), reduction), expected, dtype)
        # N = 0: nothing for "none", 0 for "sum", nan for "mean", as F.cross_entropy
        empty = torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)
        close(losses.cross_entropy(*empty, reduction), F.cross_entropy(*empty, reduction=reduction))
        close(losses.cross_entropy_np(empty[0].numpy(), empty[1].numpy(), reduction), F.cross_entropy(*empty, reduction=reduction))
    # float16 over many samples: a float16 sum of 70,000 losses of 1.4 is inf
    z, y = randn(70_000, 4, seed=1), randint(4, 70_000, seed=1)
    for dtype in LOW:
        close(losses.cross_entropy(z.to(dtype), y), F.cross_entropy(z.to(dtype).double(), y), dtype)
    close(losses.cross_entropy_np(z.half().numpy(), y.numpy()), F.cross_entropy(z.half().double(), y), torch.float16)
    meta_agrees(losses.cross_entropy, randn(4, 3), torch.tensor([0, 1, 2, 0]))


@entry("companion.losses.cross_entropy_grad")
def check_cross_entropy_grad():
    check_logits_labels_arguments(losses.cross_entropy_grad, False)
    raises(losses.cross_entropy_grad, randn(2, 3), torch.tensor([0, 1]), "none", name="reduction")
    logits, labels = randn(5, 4, scale=4), randint(4, 5)
    for reduction in ("mean", "sum"):
        z = logits.clone().requires_grad_()
        (expected,) = torch.autograd.grad(F.cross_entropy(z, labels, reduction=reduction), z)
        for label_dtype in INTEGER_DTYPES:
            close(losses.cross_entropy_grad(strided(logits), labels.to(label_dtype), reduction), expected)
        for dtype in (torch.float16, torch.bfloat16, torch.float32):
            close(losses.cross_entropy_grad(logits.to(dtype), labels, reduction), expected, dtype)
    assert losses.cross_entropy_grad(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), "sum").shape == (0, 3)


def check_binary_arguments(fn: Callable, numpy: bool) -> None:
    logits, targets = randn(3, 2), torch.tensor([[0.0, 1.0], [0.5, 1.0], [0.0, 0.0]], dtype=torch.float64)
    if numpy:
        logits, targets = logits.numpy(), targets.numpy()
    valid = {"logits": logits, "targets": targets}
    not_type = NOT_AN_ARRAY if numpy else NOT_A_TENSOR
    bad_arguments(fn, valid, {"logits": not_type, "targets": not_type, "reduction": ("avg", None)})
    as_int = (lambda x: x.astype(np.int64)) if numpy else (lambda x: x.long())  # noqa: E731
    bad_arguments(fn, valid, {
        "logits": (as_int(logits), logits[:, :1]),
        "targets": (as_int(targets), targets[:2], targets + 0.5, targets - 1, targets + NAN, targets + INF),
    })
    every_argument_refuses_an_object(fn, valid)


@entry("companion.losses.binary_cross_entropy_with_logits", "companion.losses.binary_cross_entropy_with_logits_np")
def check_binary_cross_entropy_with_logits():
    for fn, numpy in ((losses.binary_cross_entropy_with_logits, False), (losses.binary_cross_entropy_with_logits_np, True)):
        check_binary_arguments(fn, numpy)
    z = torch.tensor([-INF, -1e4, -30.0, -20.0, -1.0, 0.0, 1.0, 20.0, 30.0, 1e4, INF, NAN, 5.0])
    y = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3, 0.5, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.7])
    for reduction in ("none", "mean", "sum"):
        for dtype in FLOATS:
            expected = F.binary_cross_entropy_with_logits(z.double(), y.double(), reduction=reduction)
            close(losses.binary_cross_entropy_with_logits(strided(z.to(dtype)), y.to(dtype), reduction), expected, dtype)
            if dtype != torch.bfloat16:
                close(losses.binary_cross_entropy_with_logits_np(z.to(dtype).numpy(), y.to(dtype).numpy(), reduction), expected, dtype)
        empty = torch.zeros(0), torch.zeros(0)
        close(losses.binary_cross_entropy_with_logits(*empty, reduction), F.binary_cross_entropy_with_logits(*empty, reduction=reduction))
    # float16 over 100,000 elements: the sum passes float16's maximum
    z, y = randn(100_000, seed=2), (randn(100_000, seed=3) > 0).double()
    close(losses.binary_cross_entropy_with_logits(z.half(), y.half()), F.binary_cross_entropy_with_logits(z.half().double(), y.half().double()), torch.float16)
    meta_agrees(losses.binary_cross_entropy_with_logits, randn(3), torch.ones(3, dtype=torch.float64))


def test_binary_cross_entropy_with_logits_keeps_the_digits_of_a_small_loss():
    """BCE(z = 20, y = 1) = log(1 + exp(-20)) = 2.0611536e-9, not 20.000000002 - 20 = 0 in float32."""
    expected = math.log1p(math.exp(-20.0))
    for dtype in (torch.float32, torch.float64):
        z, y = torch.tensor([20.0], dtype=dtype), torch.tensor([1.0], dtype=dtype)
        assert losses.binary_cross_entropy_with_logits(z, y).item() == pytest.approx(expected, rel=1e-5)
        assert losses.binary_cross_entropy_with_logits_np(z.numpy(), y.numpy()).item() == pytest.approx(expected, rel=1e-5)


@entry("companion.losses.naive_binary_cross_entropy", "companion.losses.naive_binary_cross_entropy_np")
def check_naive_binary_cross_entropy():
    for fn, numpy in ((losses.naive_binary_cross_entropy, False), (losses.naive_binary_cross_entropy_np, True)):
        check_binary_arguments(fn, numpy)
    z, y = randn(4, 3, scale=3), torch.rand(4, 3, generator=gen(), dtype=torch.float64)  # moderate logits: right
    expected = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    close(losses.naive_binary_cross_entropy(z, y, "none"), expected)
    close(losses.naive_binary_cross_entropy_np(z.numpy(), y.numpy(), "none"), expected)
    # the documented failure: sigmoid(-1e4) rounds to 0, log(0) = -inf
    assert not torch.isfinite(losses.naive_binary_cross_entropy(torch.tensor([-1e4]), torch.tensor([1.0]))).all()


@entry("companion.losses.binary_cross_entropy_grad")
def check_binary_cross_entropy_grad():
    check_binary_arguments(losses.binary_cross_entropy_grad, False)
    raises(losses.binary_cross_entropy_grad, randn(3), torch.zeros(3, dtype=torch.float64), "none", name="reduction")
    z, y = torch.tensor([-INF, -30.0, -1.0, 0.0, 2.0, 30.0, INF]), torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0, 0.0, 1.0])
    for reduction in ("mean", "sum"):
        x = z.double().requires_grad_()
        (expected,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(x, y.double(), reduction=reduction), x)
        for dtype in FLOATS:
            close(losses.binary_cross_entropy_grad(z.to(dtype), y.to(dtype), reduction), expected, dtype)
    assert losses.binary_cross_entropy_grad(torch.zeros(0), torch.zeros(0)).shape == (0,)


# ----------------------------------------------------------------------------- metrics


def accuracy_loop(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """The reference: a row is a hit when no NaN is in it and fewer than k classes score above the label."""
    hits = 0
    for row, label in zip(scores.tolist(), labels.tolist()):
        if not any(math.isnan(s) for s in row) and sum(s > row[label] for s in row) < k:
            hits += 1
    return hits / len(labels) if len(labels) else NAN


@entry("companion.metrics.accuracy", "companion.metrics.topk_accuracy")
def check_accuracies():
    scores, labels = randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    for fn, kwargs in ((metrics.accuracy, {}), (metrics.topk_accuracy, {"k": 2})):
        valid = {"scores": scores, "labels": labels, **kwargs}
        bad_arguments(fn, valid, {
            "scores": (*NOT_A_TENSOR, scores[0], scores[None], scores.bool(), scores.to(torch.complex64)),
            "labels": (*NOT_A_TENSOR, labels[:5], labels.double(), labels.bool(), labels + 4, labels - 1),
        })
        every_argument_refuses_an_object(fn, valid)
    bad_arguments(metrics.topk_accuracy, {"scores": scores, "labels": labels, "k": 1},
                  {"k": (0, 5, 1.0, True, None), "ties": ("random", None, ["optimistic"])})
    # NaN rows are misses, in both: an all-NaN model scores 0, whatever the labels
    scores[1, 2] = NAN
    scores[4] = NAN
    for label_dtype in INTEGER_DTYPES:
        close(metrics.accuracy(strided(scores), labels.to(label_dtype)), accuracy_loop(scores, labels))
        for k in (1, 2, np.int64(4)):
            close(metrics.topk_accuracy(scores, labels.to(label_dtype), k), accuracy_loop(scores, labels, int(k)))
    nan_scores = torch.full((5, 6), NAN)
    for y in (torch.zeros(5, dtype=torch.long), torch.arange(5)):
        assert metrics.accuracy(nan_scores, y) == 0 and metrics.topk_accuracy(nan_scores, y, 5) == 0
    for dtype in (*FLOATS, torch.int64):  # integer votes are scores too
        s = (scores.nan_to_num(0) * 10).to(dtype)
        close(metrics.accuracy(s, labels), accuracy_loop(s.double(), labels))
        close(metrics.topk_accuracy(s, labels, 3), accuracy_loop(s.double(), labels, 3))
    # N = 0: a mean over nothing
    assert metrics.accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).isnan()
    assert metrics.topk_accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 2).isnan()


def precision_recall_loop(scores: list[float], targets: list[float]):
    """The reference: for each distinct score, counted in float64."""
    positives = sum(targets)
    thresholds = sorted(set(scores), reverse=True)
    precision, recall = [], []
    for t in thresholds:
        tp = sum(y for s, y in zip(scores, targets) if s >= t)
        predicted = sum(1 for s in scores if s >= t)
        precision.append(tp / predicted)
        recall.append(tp / positives)
    return thresholds, precision, recall


@entry("companion.metrics.precision_recall_curve", "companion.metrics.PrecisionRecall")
def check_precision_recall_curve():
    fn = metrics.precision_recall_curve
    scores, targets = randn(8), torch.tensor([1.0, 0, 1, 0, 0, 1, 1, 0], dtype=torch.float64)
    valid = {"scores": scores, "targets": targets}
    bad_arguments(fn, valid, {
        "scores": (*NOT_A_TENSOR, scores[None], scores.long(), torch.where(scores > 0, NAN, scores)),
        "targets": (*NOT_A_TENSOR, targets[:7], targets.long(), targets * 2, targets * NAN, targets * 0),
    })
    every_argument_refuses_an_object(fn, valid)
    raises(fn, torch.zeros(0), torch.zeros(0), name="targets")  # N = 0: no positive, recall undefined
    raises(fn, scores.to("meta"), targets.to("meta"), name="scores")
    scores = torch.tensor([0.5, -INF, INF, 0.5, 2.0, -1.0, INF, 0.0], dtype=torch.float64)
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        curve = fn(strided(scores.to(dtype)), targets.to(dtype))
        assert isinstance(curve, metrics.PrecisionRecall) and curve._fields == ("thresholds", "precision", "recall")
        thresholds, precision, recall = precision_recall_loop(scores.to(dtype).tolist(), targets.tolist())
        close(curve.thresholds, thresholds, dtype)
        close(curve.precision, precision, dtype)
        close(curve.recall, recall, dtype)
    # 100,000 float16 targets: a float16 count stops at 2048
    s, y = randn(100_000, seed=4), (torch.rand(100_000, generator=gen(5)) < 0.3).double()
    curve = fn(s.half(), y.half())
    order = torch.argsort(s.half().double(), descending=True, stable=True)
    true_pos = torch.cumsum(y[order], 0)
    last = torch.ones(100_000, dtype=torch.bool)
    last[:-1] = s.half()[order][1:] != s.half()[order][:-1]
    close(curve.precision, (true_pos / torch.arange(1, 100_001))[last], torch.float16)
    close(curve.recall, (true_pos / y.sum())[last], torch.float16)


@entry("companion.metrics.f1_score")
def check_f1_score():
    fn = metrics.f1_score
    p, r = torch.tensor([0.5, 0.0, 1.0, 0.25, NAN, 0.3]), torch.tensor([0.25, 0.0, 1.0, NAN, 0.5, 1e-30])
    valid = {"precision": p, "recall": r}
    bad_arguments(fn, valid, {
        "precision": (0.5, *NOT_A_TENSOR, p.long(), p[:5], p + 1, -p.nan_to_num(0) - 1),
        "recall": (0.25, *NOT_A_TENSOR, r.bool(), r[:2], r * INF),
    })
    every_argument_refuses_an_object(fn, valid)
    expected = [2 * a * b / (a + b) if a + b > 0 else (NAN if math.isnan(a + b) else 0.0) for a, b in zip(p.double().tolist(), r.double().tolist())]
    for dtype in FLOATS:
        close(fn(strided(p.to(dtype)), r.to(dtype)), expected, dtype)
    assert fn(torch.zeros(0), torch.zeros(0)).shape == (0,)


# ----------------------------------------------------------------------------- mixing


def check_two_heads(fn: Callable, a_name: str, b_name: str, **kwargs) -> None:
    a, b = randn(3, 5, dtype=torch.float32), randn(3, 5, seed=1, dtype=torch.float32)
    valid = {a_name: a, b_name: b, **kwargs}
    bad_arguments(fn, valid, {
        a_name: (*NOT_A_TENSOR, a.long(), a[0], a[None], a[:, :4], a.double()),
        b_name: (*NOT_A_TENSOR, b.bool(), b[:2], b.half()),
    })
    every_argument_refuses_an_object(fn, valid)


@entry("companion.mixing.mix_logits")
def check_mix_logits():
    check_two_heads(mixing.mix_logits, "a", "b", weight=0.3)
    a, b = randn(3, 5, dtype=torch.float32), randn(3, 5, seed=1, dtype=torch.float32)
    bad_arguments(mixing.mix_logits, {"a": a, "b": b, "weight": 0.5}, {
        "weight": (-0.1, 1.5, NAN, INF, True, None, "0.5", torch.zeros(2), torch.zeros(3, 5, 1), torch.zeros(3, 1, dtype=torch.long)),
    })
    for weight in (0.0, 1, 0.3, np.float32(0.3), np.float64(0.7), torch.tensor(0.3, dtype=torch.float64), torch.full((3, 1), 0.6)):
        w = float(weight) if not isinstance(weight, torch.Tensor) else weight.double()
        expected = w * a.double() + (1 - w) * b.double()
        for dtype in FLOATS:
            out = mixing.mix_logits(strided(a.to(dtype)), b.to(dtype), weight)
            assert out.dtype == dtype  # a float64 weight does not promote
            close(out, expected, dtype)
    a[0, 1], b[1, 2] = INF, NAN
    close(mixing.mix_logits(a, b, 0.5), 0.5 * a.double() + 0.5 * b.double(), torch.float32)
    assert mixing.mix_logits(torch.zeros(0, 4), torch.zeros(0, 4), 0.5).shape == (0, 4)


@entry("companion.mixing.mix_probabilities")
def check_mix_probabilities():
    check_two_heads(mixing.mix_probabilities, "log_pa", "log_pb", weight=0.3)
    log_pa, log_pb = torch.log_softmax(randn(3, 5), 1), torch.log_softmax(randn(3, 5, seed=1), 1)
    log_pa[:, 0] = log_pb[:, 0] = -INF  # a token masked in both heads
    log_pb[1, 1] = -INF  # masked in one
    for weight in (0.0, 0.3, np.float32(0.5), 1.0, torch.full((3, 1), 0.2)):
        w = torch.as_tensor(float(weight) if not isinstance(weight, torch.Tensor) else weight, dtype=torch.float64)
        with torch.no_grad():
            expected = torch.log(w * log_pa.exp() + (1 - w) * log_pb.exp())
        for dtype in FLOATS:
            x = log_pa.to(dtype).requires_grad_()
            out = mixing.mix_probabilities(x, log_pb.to(dtype), weight)
            assert out.dtype == dtype
            close(out, expected, dtype)
            (grad,) = torch.autograd.grad(torch.where(out.isfinite(), out, 0).sum(), x)
            assert not grad.isnan().any()  # the masked token's -inf has a zero gradient, not nan


@entry("companion.mixing.ScalarMix", "companion.mixing.GatedMix")
def check_mixers():
    bad_arguments(mixing.ScalarMix, {}, {"space": ("probs", None, 1)})
    bad_arguments(mixing.GatedMix, {"gate_features": 4}, {
        "gate_features": (0, 2.0, None, True), "hidden": (0, "16"), "space": ("log",)})
    mixing.GatedMix(np.int64(4), hidden=np.int32(3))  # NumPy ints are ints
    a, b = torch.log_softmax(randn(3, 5, dtype=torch.float32), 1), randn(3, 5, seed=1, dtype=torch.float32)
    a[:, 0] = b[:, 0] = -INF  # a masked token
    g = randn(3, 4, seed=2, dtype=torch.float32)
    for space in mixing.SPACES:
        scalar, gated = mixing.ScalarMix(space), mixing.GatedMix(4, space=space)
        check_two_heads(scalar, "a", "b")
        check_two_heads(gated, "a", "b", gate_input=g)
        bad_arguments(gated, {"a": a, "b": b, "gate_input": g}, {
            "gate_input": (*NOT_A_TENSOR, g.double(), g.long(), g[:, :3], g[:2], g[0])})
        bad_arguments(gated.weights, {"gate_input": g}, {"gate_input": (g.double(), g[:, :2])})
        for model, args in ((scalar, (a, b)), (gated, (a, b, g))):
            out = model(*args)
            if space == "logits":
                expected = 0.5 * a.double() + 0.5 * b.double()
            else:
                expected = torch.logsumexp(torch.stack([torch.log_softmax(a.double(), 1), torch.log_softmax(b.double(), 1)]), 0) - math.log(2)
            close(out, expected, torch.float32)
            loss = F.cross_entropy(torch.where(out.isfinite(), out, -1e4), torch.tensor([1, 2, 3]))
            grads = torch.autograd.grad(loss, list(model.parameters()))
            assert all(not grad.isnan().any() for grad in grads)
        for dtype in (torch.float16, torch.float64):  # the scores' dtype, whatever the mixer's parameters'
            assert scalar(a.to(dtype), b.to(dtype)).dtype == dtype
            assert gated(a.to(dtype), b.to(dtype), g).dtype == dtype
        assert gated.weights(g).shape == (3, 1) and scalar.weight.shape == ()


# ----------------------------------------------------------------------------- heads


@entry("companion.heads.squash")
def check_squash():
    z = torch.tensor([-INF, -1e30, -3.0, 0.0, 2.0, 1e30, INF, NAN])
    bad_arguments(heads.squash, {"z": z}, {
        "z": (*NOT_A_TENSOR, z.long()), "low": (*NOT_A_NUMBER, 2.0, NAN, INF), "high": ("1", -2.0, NAN)})
    raises(heads.squash, z, -1e308, 1e308, name="high")  # high - low is not finite
    for low, high in ((-1.0, 1.0), (np.float32(0.0), 5), (-1e-3, 2e-3)):
        expected = float(low) + (float(high) - float(low)) * torch.sigmoid(z.double())
        for dtype in FLOATS:
            close(heads.squash(strided(z.to(dtype)), low, high), expected, dtype)


def velocity_bins(v: torch.Tensor, grid) -> torch.Tensor:
    """The reference bin index: floor((v - low) / w) in float64, clamped, one value at a time."""
    out = []
    for x in v.double().flatten().tolist():
        i = math.floor((x - grid.low) * grid.bins / (grid.high - grid.low)) if math.isfinite(x) else (grid.bins if x > 0 else -1)
        out.append(min(max(i, 0), grid.bins - 1))
    return torch.tensor(out).reshape(v.shape)


@entry("companion.heads.VelocityGrid", "companion.heads.cell_accuracy")
def check_velocity_grid():
    bad_arguments(heads.VelocityGrid, {}, {
        "low": ("0", NAN, 2.0, True), "high": (INF, -1.0, None), "bins": (0, 2.5, "20", True)})
    raises(heads.VelocityGrid, -1e308, 1e308, name="high")
    grid = heads.VelocityGrid(np.float32(-1.0), np.float64(1.0), np.int64(20))  # NumPy scalars are numbers
    assert type(grid.bins) is int and type(grid.low) is float and grid == heads.VelocityGrid()
    v = torch.tensor([[-1.0, 1.0], [0.05, -0.05], [INF, -INF], [1e19, -1e19], [0.999, -0.999], [3.0, -3.0]])
    for method in (grid.encode,):
        bad_arguments(method, {"v": v}, {"v": (*NOT_A_TENSOR, v.long(), v[:, :1], v[0], v[None], v + NAN)})
    for dtype in FLOATS:
        x = v.to(dtype)
        encoded = grid.encode(strided(x))
        assert encoded.dtype == torch.int64
        assert torch.equal(encoded, velocity_bins(x, grid))  # +inf and 1e19 in the last bin, -inf in the first
    index = grid.encode(v)
    for dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):  # ix * bins would wrap in uint8
        joint = grid.joint_index(index.to(dtype))
        assert joint.dtype == torch.int64 and torch.equal(joint, index[:, 0] * 20 + index[:, 1])
        assert torch.equal(grid.split_index(joint.to(torch.int16)), index)
        close(grid.decode(index.to(dtype), torch.float64), -1 + (index.double() + 0.5) * 0.1)
    bad_arguments(grid.joint_index, {"index": index}, {"index": (*NOT_A_TENSOR, index.float(), index + 20, index[:, :1])})
    bad_arguments(grid.split_index, {"joint": index[:, 0]}, {"joint": (index.float()[:, 0], index[:, 0] + 400, index)})
    bad_arguments(grid.decode, {"index": index}, {"index": (index - 1,), "dtype": (torch.int64, "float32", None)})
    bad_arguments(grid.centres, {}, {"dtype": (torch.int32, np.float32)})
    close(grid.centres(dtype=torch.float16), -1 + (torch.arange(20) + 0.5) * 0.1, torch.float16)
    assert grid.encode(torch.zeros(0, 2)).shape == (0, 2)
    # cell_accuracy: a NaN prediction is a miss, a NaN truth an error
    pred = v.clone()
    pred[0, 0], pred[4, 1] = NAN, 0.7
    bad_arguments(heads.cell_accuracy, {"pred": pred, "v": v, "grid": grid}, {
        "pred": (*NOT_A_TENSOR, pred.long(), pred[:3], pred[:, :1]),
        "v": (*NOT_A_TENSOR, v[:3], v + NAN), "grid": (None, "grid", (-1, 1, 20))})
    expected = (velocity_bins(pred.nan_to_num(5.0).where(~pred.isnan(), NAN), grid) == velocity_bins(v, grid)).all(1)
    expected &= ~pred.isnan().any(1)
    for dtype in FLOATS:
        close(heads.cell_accuracy(pred.to(dtype), v.to(dtype), grid), expected.double().mean())
    assert heads.cell_accuracy(torch.zeros(0, 2), torch.zeros(0, 2), grid).isnan()


def check_head_forward(head: nn.Module, width: int) -> None:
    h = randn(4, 3, dtype=torch.float32)
    bad_arguments(head, {"h": h}, {"h": (*NOT_A_TENSOR, h.double(), h.long(), h[:, :2], h[0], h.to("meta"))})
    out = head(strided(h))
    assert out.shape == (4, width) and out.dtype == torch.float32
    close(out, h.double() @ head.linear.weight.double().T + head.linear.bias.double(), torch.float32)
    assert head(h[:0]).shape == (0, width)


@entry("companion.heads.JointGridHead", "companion.heads.FactorizedGridHead")
def check_grid_heads():
    grid = heads.VelocityGrid(bins=4)
    v = torch.tensor([[-1.0, 1.0], [0.1, -0.3], [INF, 0.0], [0.6, 0.9]])
    for cls, width in ((heads.JointGridHead, 16), (heads.FactorizedGridHead, 8)):
        bad_arguments(cls, {"in_features": 3, "grid": grid}, {"in_features": (0, 3.0, None), "grid": (None, 4, "grid")})
        head = cls(np.int64(3), grid)
        check_head_forward(head, width)
        logits = randn(4, width, dtype=torch.float32)
        bad_arguments(head.loss, {"logits": logits, "v": v}, {
            "logits": (*NOT_A_TENSOR, logits[:, :-1], logits.long(), logits[:3]), "v": (*NOT_A_TENSOR, v[:, :1], v + NAN)})
        bad_arguments(head.predict, {"logits": logits}, {"logits": (logits[:, 1:], logits.long())})
        bad_arguments(head.cell_probabilities, {"logits": logits}, {"logits": (logits[:, 1:], None)})
        bins = velocity_bins(v, grid)
        if cls is heads.JointGridHead:
            expected = F.cross_entropy(logits.double(), bins[:, 0] * 4 + bins[:, 1])
            probabilities = torch.softmax(logits.double(), 1).reshape(4, 4, 4)
        else:
            per_axis = logits.double().reshape(4, 2, 4)
            expected = 2 * F.cross_entropy(per_axis.reshape(8, 4), bins.reshape(8))
            p = torch.softmax(per_axis, 2)
            probabilities = p[:, 0, :, None] * p[:, 1, None, :]
        for dtype in FLOATS:
            z = strided(logits.to(dtype))  # non-contiguous logits
            close(head.loss(z, v.to(dtype)), expected, dtype)
            close(head.cell_probabilities(z), probabilities, dtype)
            pred = head.predict(z)
            assert pred.dtype == dtype and torch.equal(grid.encode(pred), grid.encode(grid.decode(grid.split_index(probabilities.reshape(4, 16).argmax(1)))))
        logits[1, 2] = NAN
        pred = head.predict(logits)
        assert pred[1].isnan().all() and not pred[[0, 2, 3]].isnan().any()  # a NaN output predicts NaN
        assert head.loss(logits, v).isnan()


@entry("companion.heads.BoundedRegressionHead", "companion.heads.MixtureDensityHead")
def check_continuous_heads():
    bad_arguments(heads.BoundedRegressionHead, {"in_features": 3}, {"in_features": (0, None), "low": ("0", 5.0), "high": (NAN,)})
    bad_arguments(heads.MixtureDensityHead, {"in_features": 3}, {
        "components": (0, 1.5), "min_scale": (0.0, -1.0, INF, "0.1"), "low": (2.0,)})
    regression = heads.BoundedRegressionHead(3, np.float32(-2.0), 2)
    check_head_forward(regression, 2)
    z, v = randn(4, 2, dtype=torch.float32), torch.tensor([[0.5, -0.5], [1.9, 0.0], [INF, 0.0], [-2.0, 2.0]])
    bad_arguments(regression.loss, {"z": z, "v": v}, {"z": (z[:, :1], z.long()), "v": (v[:3], v + NAN, v.long())})
    for dtype in FLOATS:
        expected = ((heads.squash(z.double(), -2.0, 2.0) - v.double()) ** 2).mean()
        close(regression.loss(strided(z.to(dtype)), v.to(dtype)), expected, dtype)
    mixture = heads.MixtureDensityHead(3, components=np.int64(2), min_scale=np.float32(0.05))
    check_head_forward(mixture, 8)
    out = randn(4, 8, dtype=torch.float32)
    v = torch.tensor([[0.5, -0.5], [1e20, 0.0], [-1e3, 1e3], [0.0, 0.0]])  # far outliers: log density -inf
    bad_arguments(mixture.log_density, {"out": out, "v": v}, {"out": (out[:, :7], out.long()), "v": (v + NAN, v[:, :1])})
    bad_arguments(mixture.predict, {"out": out}, {"out": (out[:, :7], None)})
    for dtype in FLOATS:
        o, x = out.to(dtype), v.to(dtype)
        per_component = o.double().reshape(4, 2, 4)
        log_w = torch.log_softmax(per_component[..., 0], 1)
        mu = heads.squash(per_component[..., 1:3])
        s = mixture.min_scale + F.softplus(per_component[..., 3])
        log_n = -((x.double()[:, None] - mu) ** 2).sum(2) / (2 * s**2) - 2 * torch.log(s) - math.log(2 * math.pi)
        expected = torch.logsumexp(log_w + log_n, 1)  # float64: finite, rounding to -inf in a narrow dtype
        density = mixture.log_density(strided(o), x)
        assert density.dtype == dtype
        close(density, expected.to(dtype), dtype)
        close(mixture.loss(o, x), -expected.to(dtype).double().mean(), dtype)
    out[2, 5] = NAN
    assert mixture.predict(out)[2].isnan().all() and not mixture.predict(out)[[0, 1, 3]].isnan().any()


# ----------------------------------------------------------------------------- runtime and data


@entry("companion.runtime.default_device", "companion.runtime.seed_everything")
def check_runtime_seeding():
    assert isinstance(runtime.default_device(), torch.device)
    bad_arguments(runtime.seed_everything, {"seed": 0}, {"seed": (-1, 2**32, 1.0, "7", None, True, np.float64(7))})
    state = random.getstate()
    raises(runtime.seed_everything, 2**32, name="seed")  # refused before Python is seeded
    assert random.getstate() == state
    a = runtime.seed_everything(np.int64(7))  # a NumPy int is an int
    first = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=a).item())
    runtime.seed_everything(7)
    second = (random.random(), np.random.rand(), torch.rand(1).item())
    assert first[:3] == second and first[3] == torch.rand(1, generator=torch.Generator().manual_seed(7)).item()
    runtime.seed_everything(2**32 - 1)


@entry("companion.runtime.randn", "companion.runtime.uniform")
def check_random_draws():
    bad_arguments(runtime.randn, {"size": 3, "generator": gen()}, {
        "size": (-1, 2.0, "3", None, (2, -1), (2, 1.5), object()), "generator": (None, 0, object()),
        "dtype": (torch.int64, np.float32, "float32")})
    bad_arguments(runtime.uniform, {"size": 3, "low": 0.0, "high": 1.0, "generator": gen()}, {
        "low": (*NOT_A_NUMBER, NAN, 2.0), "high": (INF, "1"), "size": ((3, "a"),)})
    raises(runtime.uniform, 3, -1e300, 1e300, generator=gen(), name="high")  # high - low overflows
    raises(runtime.uniform, 3, 0.0, 1e39, generator=gen(), name="high")  # beyond float32
    for size in (np.int64(3), (2, np.int32(3)), torch.Size([2, 3]), (0, 3), ()):
        for dtype in FLOATS:
            x = runtime.randn(size, generator=gen(), dtype=dtype)
            expected = torch.randn(runtime._size(size), generator=gen(), dtype=torch.float64).to(dtype)
            assert x.dtype == dtype and torch.equal(x, expected)
            u = runtime.uniform(size, np.float32(-2.0), 3, generator=gen(), dtype=dtype)
            expected = (-2.0 + 5.0 * torch.rand(runtime._size(size), generator=gen(), dtype=torch.float64)).to(dtype)
            assert torch.equal(u, expected)
    assert torch.equal(runtime.uniform(4, 1.0, 1.0, generator=gen()), torch.ones(4))


@entry("companion.runtime.init_parameters")
def check_init_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.Conv2d(2, 2, 3), nn.Embedding(5, 2, padding_idx=1), nn.LayerNorm(4))
    bad_arguments(runtime.init_parameters, {"module": model, "generator": gen()}, {
        "module": (None, "model", nn.Linear), "generator": (None, 0)})
    raises(runtime.init_parameters, nn.LSTM(2, 2), gen(), name="LSTM")  # not known how PyTorch draws it
    a = runtime.init_parameters(model, gen(3))
    weights = [p.detach().clone() for p in a.parameters()]
    b = runtime.init_parameters(model.double(), gen(3))  # the same draws, in float64
    for before, after in zip(weights, b.parameters()):
        close(after.float(), before)
    assert torch.equal(b[2].weight[1], torch.zeros(2, dtype=torch.float64))
    bound = 1 / math.sqrt(3)
    assert (a[0].weight.abs() <= bound).all()


@entry("companion.runtime.spawn", "companion.runtime.numpy_rng")
def check_generators_from_a_generator():
    for fn in (runtime.spawn, runtime.numpy_rng):
        bad_arguments(fn, {"generator": gen()}, {"generator": (None, 0, np.random.default_rng(0), object())})
        parent = gen(5)
        first, second = fn(parent), fn(parent)  # two draws, two streams, the same for the same seed
        again = fn(gen(5))
        if fn is runtime.spawn:
            assert isinstance(first, torch.Generator) and first.device.type == "cpu"
            assert torch.equal(torch.rand(3, generator=first), torch.rand(3, generator=again))
            assert not torch.equal(torch.rand(3, generator=second), torch.rand(3, generator=fn(gen(5))))
        else:
            assert isinstance(first, np.random.Generator)
            assert np.array_equal(first.random(3), again.random(3)) and not np.array_equal(second.random(3), fn(gen(5)).random(3))


@entry("companion.data.make_blobs")
def check_make_blobs():
    fn = data.make_blobs
    valid = {"num_samples": 10, "num_classes": 3, "generator": gen()}
    bad_arguments(fn, valid, {
        "num_samples": (0, -1, 2.5, "10", True), "num_classes": (1, 3.0), "num_features": (1, None),
        "radius": (0.0, -1.0, NAN, INF, "3"), "spread": (0, None), "generator": (None, 0),
        "class_weights": (5, "abc", (1.0, 2.0), (1.0, -1.0, 2.0), (0, 0, 0), (1.0, NAN, 1.0), (1, INF, 1), {"a": 1}, [[1, 2, 3]]),
    })
    every_argument_refuses_an_object(fn, {**valid, "class_weights": (1, 1, 1)})
    x, y = fn(np.int64(10), np.int32(3), generator=gen(), num_features=np.int64(4), radius=np.float32(2.0), spread=1,
              class_weights=np.array([1.0, 0.0, 2.0]))
    x2, y2 = fn(10, 3, generator=gen(), num_features=4, radius=2.0, spread=1.0, class_weights=(1, 0, 2))
    assert torch.equal(x, x2) and torch.equal(y, y2) and x.dtype == torch.float32 and not (y == 1).any()


@entry("companion.data.make_velocity_task", "companion.data.make_token_task", "companion.data.make_shape_images")
def check_other_data_sets():
    bad_arguments(data.make_velocity_task, {"num_samples": 4, "generator": gen()}, {
        "num_samples": (0, 1.0), "num_features": (0, None), "bimodal": (1, "yes", None), "generator": (None,)})
    every_argument_refuses_an_object(data.make_velocity_task, {"num_samples": 4, "generator": gen(), "bimodal": True})
    a = data.make_velocity_task(np.int64(6), generator=gen(), num_features=np.int64(3), bimodal=np.True_)
    b = data.make_velocity_task(6, generator=gen(), num_features=3, bimodal=True)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    valid = {"num_samples": 4, "num_tokens": 6, "generator": gen()}
    bad_arguments(data.make_token_task, valid, {
        "num_tokens": (3, 6.0), "num_features": (2,), "strong": (0.0, NAN, "4"), "weak": (-1.0,), "decoy": (INF,),
        "kind_signal": (None,), "type_share": (1.5, -0.1, NAN, "0.3")})
    every_argument_refuses_an_object(data.make_token_task, valid)
    a = data.make_token_task(4, 6, generator=gen(), strong=np.float32(4.0), weak=np.float64(1.5), type_share=np.float32(0.5))
    b = data.make_token_task(4, 6, generator=gen(), strong=4.0, weak=1.5, type_share=0.5)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and a[0].dtype == torch.float32
    bad_arguments(data.make_shape_images, {"num_samples": 4, "generator": gen()}, {
        "size": (10, 24.0), "noise": (0.0, -0.2, NAN), "num_samples": (0,)})
    every_argument_refuses_an_object(data.make_shape_images, {"num_samples": 4, "generator": gen()})
    a = data.make_shape_images(np.int64(3), generator=gen(), size=np.int64(12), noise=np.float32(0.25))
    b = data.make_shape_images(3, generator=gen(), size=12, noise=0.25)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@entry("companion.segmentation_data.shape_masks", "companion.segmentation_data.make_segmentation_data")
def check_segmentation_data():
    kind, radius = torch.tensor([1, 2, 3, 4]), torch.tensor([2, 3, 1, 0])
    positions = torch.arange(7)
    dy, dx = positions[None, :, None] - torch.full((4, 1, 1), 3), positions[None, None, :] - torch.full((4, 1, 1), 3)
    valid = {"kind": kind, "dy": dy, "dx": dx, "radius": radius}
    bad_arguments(segmentation_data.shape_masks, valid, {
        "kind": (*NOT_A_TENSOR, kind - 1, kind + 1, kind.float(), kind[None]),
        "dy": (dy[:3], dy[:, :, 0], dy.bool()), "dx": (dx[:, :, :, None], dx[:2]), "radius": (radius[:2], None)})
    raises(segmentation_data.shape_masks, kind[:3], dy, dx, radius[:3], name="dy")  # N disagrees
    masks = segmentation_data.shape_masks(kind, dy, dx, radius)
    assert masks.shape == (4, 7, 7) and masks.dtype == torch.bool
    assert masks[0].sum() == 25 and masks[3].sum() == 1  # a 5 x 5 square; a cross of radius 0 is one pixel
    assert segmentation_data.shape_masks(kind[:0], dy[:0], dx[:0], radius[:0]).shape == (0, 7, 7)
    fn = segmentation_data.make_segmentation_data
    bad_arguments(fn, {"num_samples": 2, "generator": gen()}, {
        "size": (3, 8.0), "num_classes": (1, 6, 2.0), "object_size": ((1,), (3, 1), (1.0, 2), 2, (-1, 2), (4, 20)),
        "objects_per_image": ((2, 1), None), "noise": (0.0, NAN), "generator": (None,),
        "colours": ("class", "", None, 1)})
    every_argument_refuses_an_object(fn, {"num_samples": 2, "generator": gen()})
    a = fn(np.int64(2), generator=gen(), size=np.int64(16), object_size=(np.int64(2), 4), noise=np.float32(0.1))
    b = fn(2, generator=gen(), size=16, object_size=(2, 4), noise=float(np.float32(0.1)))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- segmentation losses

IGNORE = sl.IGNORE_INDEX


def segmentation_case(seed: int = 0, n: int = 2, c: int = 4, h: int = 5, w: int = 3):
    """float64 logits (N, C, H, W), labels (N, H, W) with a few ignored pixels, and the same logits
    with NaN and -inf at the ignored pixels (which must change nothing)."""
    logits = randn(n, c, h, w, seed=seed, scale=3)
    labels = randint(c, n, h, w, seed=seed)
    labels[0, 0] = IGNORE
    poisoned = logits.clone()
    poisoned[0, :, 0, 0] = NAN
    poisoned[0, 1:, 0, 1] = -INF
    poisoned[0, :, 0, 2] = INF
    return logits, labels, poisoned


def check_pixel_arguments(fn: Callable, numpy: bool = False, **kwargs) -> None:
    """(N, C, H, W) logits and (N, H, W) labels, the labels argument named ``labels``."""
    logits, labels, _ = segmentation_case()
    name = "targets" if fn in (sl.soft_dice_loss, sl.soft_iou_loss) else "labels"
    if numpy:
        logits, labels = logits.numpy(), labels.numpy()
    valid = {"logits": logits, name: labels, **kwargs}
    not_type = NOT_AN_ARRAY if numpy else NOT_A_TENSOR
    bad_arguments(fn, valid, {
        "logits": (*not_type, logits[0], logits[..., None], logits[:, :0], (logits * 10).astype(np.int64) if numpy else logits.long()),
        name: (*not_type, labels[:, :2], labels[:1], labels[:, None] if not numpy else labels[:, None], labels + 4, labels * 0 - 1,
               labels.astype(np.float64) if numpy else labels.double()),
        "ignore_index": (1.5, "x", None, True), "reduction": ("avg", None),
    })
    raises(fn, **{**valid, "logits": logits.transpose(0, 2, 3, 1) if numpy else logits.permute(0, 2, 3, 1)}, name="logits")  # channels last
    every_argument_refuses_an_object(fn, valid)


@entry("companion.segmentation_losses.pixel_cross_entropy", "companion.segmentation_losses.pixel_cross_entropy_np")
def check_pixel_cross_entropy():
    check_pixel_arguments(sl.pixel_cross_entropy)
    check_pixel_arguments(sl.pixel_cross_entropy_np, numpy=True)
    logits, labels, poisoned = segmentation_case()
    weight = torch.tensor([0.5, 2.0, 1.0, 0.0], dtype=torch.float64)
    for fn, to in ((sl.pixel_cross_entropy, lambda x: x), (sl.pixel_cross_entropy_np, lambda x: x.numpy())):
        bad_arguments(fn, {"logits": to(logits), "labels": to(labels)}, {
            "weight": (to(weight[:3]), to(-weight), to(weight + NAN), to(weight + INF), to(weight.bool()), [1.0] * 4)})
    for reduction in ("none", "mean", "sum"):
        for w in (None, weight):
            expected = F.cross_entropy(logits, labels, weight=w, ignore_index=IGNORE, reduction=reduction)
            for dtype in FLOATS:
                z = poisoned.to(dtype)  # non-finite logits at the ignored pixels change nothing
                # the reference sees the same (rounded) logits at the pixels that count
                ref = F.cross_entropy(logits.to(dtype).double(), labels, weight=w, ignore_index=IGNORE, reduction=reduction)
                for label_dtype in (torch.int16, torch.int32, torch.int64):
                    out = sl.pixel_cross_entropy(strided(z), labels.to(label_dtype), w, reduction=reduction)
                    assert out.dtype == dtype
                    close(out, ref, dtype)
                if dtype != torch.bfloat16:
                    close(sl.pixel_cross_entropy_np(z.numpy(), labels.numpy(), None if w is None else w.numpy(), reduction=reduction), ref, dtype)
            close(sl.pixel_cross_entropy(logits, labels, w, np.int64(IGNORE), reduction), expected)
    # uint8 labels with ignore_index 255, the usual image format
    labels8 = labels.clone()
    labels8[labels == IGNORE] = 255
    close(sl.pixel_cross_entropy(poisoned, labels8.to(torch.uint8), ignore_index=255), F.cross_entropy(logits, labels, ignore_index=IGNORE))
    # an ignore_index that a narrow label dtype cannot hold is compared exactly, not wrapped into it:
    # -100 is not the uint8 class 156, 2**32 not the int32 class 0, -6 not the uint8 value 250
    z, y = randn(1, 200, 2, 2, seed=3), torch.tensor([[[156, 0], [3, 199]]])
    for fn, to in ((sl.pixel_cross_entropy, lambda t: t), (sl.pixel_cross_entropy_np, lambda t: t.numpy())):
        close(fn(to(z), to(y.to(torch.uint8))), F.cross_entropy(z, y))
        close(fn(to(z), to(y.int()), ignore_index=2**32), F.cross_entropy(z, y))
        raises(fn, to(z[:, :100]), to(torch.tensor([[[250, 0], [3, 99]]], dtype=torch.uint8)), ignore_index=-6, name="labels")
    close(sl.focal_loss(z, y.to(torch.uint8), gamma=0.0), F.cross_entropy(z, y))
    close(sl.inverse_frequency_weights(y.int(), 200, ignore_index=2**32)[0], 4 / 200)
    # float16: one 4-class 256 x 256 image, 65,536 pixels, passes float16's maximum in a float16 sum
    z, y = randn(1, 4, 256, 256, seed=6), randint(4, 1, 256, 256, seed=6)
    for dtype in LOW:
        expected = F.cross_entropy(z.to(dtype).double(), y)
        close(sl.pixel_cross_entropy(z.to(dtype), y), expected, dtype)
        close(sl.pixel_cross_entropy(z.to(dtype), y, reduction="sum"), F.cross_entropy(z.to(dtype).double(), y, reduction="sum").to(dtype), dtype)
    close(sl.pixel_cross_entropy_np(z.half().numpy(), y.numpy()), F.cross_entropy(z.half().double(), y), torch.float16)
    # every pixel ignored, or none at all: the documented 0.0 (F.cross_entropy gives nan), with a zero gradient
    x = logits.clone().requires_grad_()
    out = sl.pixel_cross_entropy(x, torch.full_like(labels, IGNORE))
    (grad,) = torch.autograd.grad(out, x)
    assert out == 0 and (grad == 0).all()
    for n, h in ((0, 5), (2, 0)):
        empty_z, empty_y = torch.zeros(n, 4, h, 3), torch.zeros(n, h, 3, dtype=torch.long)
        assert sl.pixel_cross_entropy(empty_z, empty_y) == 0 and sl.pixel_cross_entropy_np(empty_z.numpy(), empty_y.numpy()) == 0
        assert sl.pixel_cross_entropy(empty_z, empty_y, reduction="none").shape == (n, h, 3)
    meta_agrees(sl.pixel_cross_entropy, logits, labels)


def infogain_reference(logits: torch.Tensor, labels: torch.Tensor, H: torch.Tensor, reduction: str) -> torch.Tensor:
    """-sum_k H[y, k] log p_k per pixel, a loop over pixels, with 0 * log 0 = 0, in float64."""
    log_p = torch.log_softmax(logits.double(), 1)
    out = torch.zeros(labels.shape, dtype=torch.float64)
    for n, i, j in np.ndindex(*labels.shape):
        y = int(labels[n, i, j])
        if y != IGNORE:
            out[n, i, j] = -sum(float(H[y, k]) * float(log_p[n, k, i, j]) for k in range(H.shape[0]) if H[y, k] != 0)
    count = int((labels != IGNORE).sum())
    return out if reduction == "none" else out.sum() if reduction == "sum" else out.sum() / max(count, 1)


@entry("companion.segmentation_losses.infogain_loss")
def check_infogain_loss():
    H = torch.tensor([[1.0, 0.2, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.5], [0.1, 0.0, 0.0, 1.0]])
    check_pixel_arguments(sl.infogain_loss, H=H)
    logits, labels, poisoned = segmentation_case()
    bad_arguments(sl.infogain_loss, {"logits": logits, "labels": labels, "H": H}, {
        "H": (*NOT_A_TENSOR, H[:3], H[None], H + NAN, H * INF, H.bool())})
    masked = poisoned.clone()
    masked[1, 2] = -INF  # a class of probability 0 at valid pixels: H[y, 2] = 0 for y != 2 must count as 0
    labels[1, :, 0] = 1
    for reduction in ("none", "mean", "sum"):
        for dtype in FLOATS:
            z = masked.to(dtype)
            ref = infogain_reference(torch.where(masked.isfinite(), z.double(), masked), labels, H.double(), reduction)
            close(sl.infogain_loss(strided(z), labels.int(), H.double(), reduction=reduction), ref, dtype)
        close(sl.infogain_loss(logits, labels, torch.eye(4, dtype=torch.long), reduction=reduction),
              F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction=reduction))
    z, y = randn(1, 4, 256, 256, seed=6), randint(4, 1, 256, 256, seed=6)
    close(sl.infogain_loss(z.half(), y, torch.eye(4)), F.cross_entropy(z.half().double(), y), torch.float16)
    assert sl.infogain_loss(torch.zeros(0, 4, 2, 2), torch.zeros(0, 2, 2, dtype=torch.long), H) == 0


@entry("companion.segmentation_losses.focal_loss")
def check_focal_loss():
    check_pixel_arguments(sl.focal_loss)
    logits, labels, poisoned = segmentation_case()
    alpha = torch.tensor([0.25, 1.0, 0.5, 2.0], dtype=torch.float64)
    bad_arguments(sl.focal_loss, {"logits": logits, "labels": labels}, {
        "gamma": (-1.0, NAN, INF, "2", None, True), "alpha": (alpha[:2], -alpha, alpha + NAN, alpha.numpy(), alpha.bool())})
    valid = labels != IGNORE
    for gamma in (0.0, 0.5, 2, np.float32(1.5)):
        for a in (None, alpha):
            for dtype in FLOATS:
                z = poisoned.to(dtype)
                p_y = torch.softmax(logits.to(dtype).double(), 1).gather(1, labels.clamp(min=0)[:, None])[:, 0]
                per_pixel = -(1 - p_y) ** float(gamma) * torch.log(p_y) * (1.0 if a is None else a[labels.clamp(min=0)])
                per_pixel = torch.where(valid, per_pixel, 0.0)
                close(sl.focal_loss(strided(z), labels, gamma, a, reduction="none"), per_pixel, dtype)
                close(sl.focal_loss(z, labels, gamma, a), per_pixel.sum() / valid.sum(), dtype)
    # gamma < 1 and confidently classified pixels (p_y rounds to 1): a finite gradient, 0 there
    for gamma in (0.0, 0.25, 0.5, 0.999):
        x = torch.tensor([[[[30.0]], [[-30.0]]], [[[120.0]], [[0.0]]], [[[3.0]], [[1.0]]]], requires_grad=True)
        y = torch.zeros(3, 1, 1, dtype=torch.long)
        (grad,) = torch.autograd.grad(sl.focal_loss(x, y, gamma=gamma), x)
        assert grad.isfinite().all() and grad[1].abs().max() < 1e-30
        z = x.detach().double().requires_grad_()
        (expected,) = torch.autograd.grad((-(1 - torch.softmax(z, 1)[:, 0]) ** gamma * torch.log_softmax(z, 1)[:, 0]).mean(), z)
        close(grad[2], expected[2], torch.float32)
    z, y = randn(1, 4, 256, 256, seed=6), randint(4, 1, 256, 256, seed=6)
    close(sl.focal_loss(z.half(), y, gamma=0.0), F.cross_entropy(z.half().double(), y), torch.float16)
    assert sl.focal_loss(torch.zeros(0, 4, 2, 2), torch.zeros(0, 2, 2, dtype=torch.long)) == 0


def dice_reference(probs: torch.Tensor, onehot: torch.Tensor, eps: float) -> torch.Tensor:
    """1 - mean_c (2 sum p t + eps) / (sum p + sum t + eps), per image: (N, C, P) -> (N,), in float64."""
    probs, onehot = probs.double(), onehot.double()
    dice = (2 * (probs * onehot).sum(2) + eps) / (probs.sum(2) + onehot.sum(2) + eps)
    return 1 - dice.mean(1)


@entry("companion.segmentation_losses.soft_dice_loss")
def check_soft_dice_loss():
    check_pixel_arguments(sl.soft_dice_loss)
    logits, labels, poisoned = segmentation_case()
    bad_arguments(sl.soft_dice_loss, {"logits": logits, "targets": labels}, {"eps": (0.0, -1.0, NAN, INF, "1", None)})
    valid = (labels != IGNORE).reshape(2, 1, -1)
    probs = torch.softmax(logits, 1).reshape(2, 4, -1) * valid
    onehot = F.one_hot(labels.clamp(min=0).reshape(2, -1), 4).transpose(1, 2) * valid
    for eps in (1.0, np.float32(0.5), 1e-6):
        expected = dice_reference(probs, onehot, float(eps))
        for dtype in FLOATS:
            close(sl.soft_dice_loss(strided(poisoned.to(dtype)), labels, eps, reduction="none"),
                  dice_reference(torch.softmax(logits.to(dtype).double(), 1).reshape(2, 4, -1) * valid, onehot, float(eps)), dtype)
        close(sl.soft_dice_loss(poisoned, labels.to(torch.int8), eps), expected.mean())
    # binary masks: floating, bool, or integer 0/1, (N, 1, H, W) or (N, H, W)
    z = randn(3, 1, 6, 4, seed=7, scale=2)
    mask = randn(3, 1, 6, 4, seed=8) > 0
    expected = dice_reference(torch.sigmoid(z).reshape(3, 1, -1), mask.reshape(3, 1, -1), 1.0)
    for targets in (mask, mask.double(), mask.float(), mask.long(), mask.to(torch.uint8), mask[:, 0], mask[:, 0].int()):
        for dtype in FLOATS:
            out = sl.soft_dice_loss(z.to(dtype), targets, reduction="none")
            assert out.dtype == dtype
            close(out, dice_reference(torch.sigmoid(z.to(dtype).double()).reshape(3, 1, -1), mask.reshape(3, 1, -1), 1.0), dtype)
        close(sl.soft_dice_loss(z[:, 0], targets), expected.mean())
    bad_arguments(sl.soft_dice_loss, {"logits": z, "targets": mask}, {
        "targets": (mask.long() * 2, mask.long() - 1, mask.double() + INF, mask.double() * NAN, mask[:, :, :3], mask.to(torch.complex64))})
    raises(sl.soft_dice_loss, z.repeat(1, 2, 1, 1), mask.double().repeat(1, 2, 1, 1), name="logits")  # masks need one channel
    # float16 over a 256 x 256 image: the sums pass float16's maximum
    z, y = randn(1, 4, 256, 256, seed=6), randint(4, 1, 256, 256, seed=6)
    expected = dice_reference(torch.softmax(z.half().double(), 1).reshape(1, 4, -1), F.one_hot(y.reshape(1, -1), 4).transpose(1, 2), 1.0)
    close(sl.soft_dice_loss(z.half(), y), expected.mean(), torch.float16)
    # N = 0: none is empty, the mean over no images 0.0
    for targets in (torch.zeros(0, 2, 2, dtype=torch.long), torch.zeros(0, 1, 2, 2)):
        c = 4 if targets.dtype == torch.long else 1
        assert sl.soft_dice_loss(torch.zeros(0, c, 2, 2), targets, reduction="none").shape == (0,)
        assert sl.soft_dice_loss(torch.zeros(0, c, 2, 2), targets) == 0


@entry("companion.segmentation_losses.one_hot_binary_cross_entropy")
def check_one_hot_binary_cross_entropy():
    fn = sl.one_hot_binary_cross_entropy
    z = randn(2, 3, 4, 5, seed=9, scale=3)
    labels = randint(3, 2, 4, 5, seed=10)
    valid = {"logits": z, "labels": labels}
    bad_arguments(fn, valid, {
        "logits": (*NOT_A_TENSOR, z.long(), z[0], z.permute(0, 2, 3, 1)),
        "labels": (*NOT_A_TENSOR, labels.float(), labels + 3, labels - 1, labels[:, :2], labels[0]),
        "reduction": ("avg", None)})
    every_argument_refuses_an_object(fn, valid)
    one_hot = F.one_hot(labels, 3).permute(0, 3, 1, 2).double()
    for dtype in FLOATS:
        for y in (labels, labels.int(), labels.to(torch.uint8)):
            out = fn(strided(z.to(dtype)), y, "none")
            assert out.dtype == dtype and out.shape == z.shape
            close(out, F.binary_cross_entropy_with_logits(z.to(dtype).double(), one_hot, reduction="none"), dtype)


@entry("companion.segmentation_losses.binary_mask_cross_entropy")
def check_binary_mask_cross_entropy():
    fn = sl.binary_mask_cross_entropy
    z = randn(2, 1, 4, 3, seed=9, scale=5)
    z[0, 0, 0, :3] = torch.tensor([INF, -INF, NAN])
    masks = (randn(2, 1, 4, 3, seed=10) > 0).double()
    valid = {"logits": z, "masks": masks}
    bad_arguments(fn, valid, {
        "logits": (*NOT_A_TENSOR, z.long(), z.repeat(1, 2, 1, 1), z[0, 0]),
        "masks": (*NOT_A_TENSOR, masks * 2, masks - 1, masks + NAN, masks[:, :, :2], masks.long() * 3),
        "pos_weight": (0.0, -1.0, NAN, INF, "2", True, torch.ones(2), torch.tensor(-1.0), torch.tensor(1)), "reduction": ("avg",)})
    every_argument_refuses_an_object(fn, valid)
    infinite = z.isinf()
    # an infinite logit gives the limit, inf or 0, or NaN (0 * inf), as in F.binary_cross_entropy_with_logits
    limit = torch.where((z > 0) == (masks > 0), 0.0, INF)
    for pos_weight in (None, 3.0, np.float32(0.5), torch.tensor([2.0])):
        pw = None if pos_weight is None else torch.as_tensor(float(pos_weight) if not isinstance(pos_weight, torch.Tensor) else pos_weight, dtype=torch.float64)
        for dtype in FLOATS:
            x = z.to(dtype)
            expected = F.binary_cross_entropy_with_logits(x.double(), masks, pos_weight=pw, reduction="none")
            for m in (masks.to(dtype), masks.bool(), masks.long(), masks[:, 0].to(dtype)):
                out = fn(strided(x), m, pos_weight, "none")
                close(out[~infinite], expected[~infinite], dtype)
                assert ((out[infinite] == limit[infinite]) | out[infinite].isnan()).all()
                finite_x = torch.where(infinite, 0.0, x)
                for reduction in ("mean", "sum"):
                    close(fn(finite_x, m, pos_weight, reduction), F.binary_cross_entropy_with_logits(finite_x.double(), masks, pos_weight=pw, reduction=reduction), dtype)
        assert fn(torch.zeros(0, 1, 2, 2), torch.zeros(0, 1, 2, 2), pos_weight) == 0  # the mean over no pixels
    x, m = randn(1, 1, 256, 256, seed=11), (randn(1, 1, 256, 256, seed=12) > 0).double()
    for pos_weight in (None, 2.0):
        pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
        close(fn(x.half(), m.half(), pos_weight), F.binary_cross_entropy_with_logits(x.half().double(), m, pos_weight=pw), torch.float16)
        close(fn(x.half(), m.half(), pos_weight, "sum"), F.binary_cross_entropy_with_logits(x.half().double(), m, pos_weight=pw, reduction="sum").half(), torch.float16)


@entry("companion.segmentation_losses.inverse_frequency_weights")
def check_inverse_frequency_weights():
    fn = sl.inverse_frequency_weights
    labels = torch.tensor([[[0, 0, 2, IGNORE], [0, 2, 2, 0]]])
    bad_arguments(fn, {"labels": labels, "num_classes": 3}, {
        "labels": (*NOT_A_TENSOR, labels.float(), labels.bool(), labels + 3, labels.to("meta")),
        "num_classes": (0, 3.0, None, True), "ignore_index": (1.5, None), "dtype": (torch.int64, torch.bool, "float32", None)})
    for label_dtype in (torch.int16, torch.int32, torch.int64):
        close(fn(labels.to(label_dtype), np.int64(3)), [7 / 12, 0.0, 7 / 9])
    labels8 = torch.where(labels == IGNORE, 255, labels).to(torch.uint8)
    close(fn(labels8, 3, ignore_index=255), [7 / 12, 0.0, 7 / 9])
    close(fn(torch.zeros(0, 2, 2, dtype=torch.long), 3), [0.0, 0.0, 0.0])  # no pixels: no class to weigh


# ----------------------------------------------------------------------------- segmentation metrics


def confusion_loop(pred: np.ndarray, labels: np.ndarray, c: int, ignore_index) -> np.ndarray:
    cm = np.zeros((c, c), dtype=np.int64)
    for t, p in zip(labels.ravel().tolist(), pred.ravel().tolist()):
        if t != ignore_index:
            cm[t, p] += 1
    return cm


@entry("companion.segmentation_losses.soft_iou_loss")
def check_soft_iou_loss():
    check_pixel_arguments(sl.soft_iou_loss)
    logits, labels, poisoned = segmentation_case()
    bad_arguments(sl.soft_iou_loss, {"logits": logits, "targets": labels}, {"eps": (0.0, -1.0, NAN, INF, "1", None)})
    valid = (labels != IGNORE).reshape(2, 1, -1)
    probs = (torch.softmax(logits, 1).reshape(2, 4, -1) * valid).double()
    onehot = (F.one_hot(labels.clamp(min=0).reshape(2, -1), 4).transpose(1, 2) * valid).double()
    inter = (probs * onehot).sum(2)
    expected = 1 - ((inter + 1.0) / (probs.sum(2) + onehot.sum(2) - inter + 1.0)).mean(1)
    close(sl.soft_iou_loss(strided(poisoned), labels, reduction="none"), expected)  # NaN/inf only at ignored pixels
    z, mask = randn(3, 1, 6, 4, seed=7, scale=2), randn(3, 1, 6, 4, seed=8) > 0
    bad_arguments(sl.soft_iou_loss, {"logits": z, "targets": mask}, {
        "targets": (mask.long() * 2, mask.double() * NAN, mask[:, :, :3], mask.to(torch.complex64))})
    assert sl.soft_iou_loss(torch.zeros(0, 1, 2, 2), torch.zeros(0, 1, 2, 2)) == 0


@entry("companion.segmentation_metrics.iou_against_threshold")
def check_iou_against_threshold():
    scores, targets = randn(2, 5, 4, seed=3), randn(2, 5, 4, seed=4) > 0.5
    thresholds = torch.linspace(-2, 2, 9, dtype=torch.float64)
    expected = torch.tensor([((scores > t) & targets).sum().item() / ((scores > t) | targets).sum().item()
                             for t in thresholds.tolist()], dtype=torch.float64)
    close(sm.iou_against_threshold(strided(scores), targets, thresholds), expected)
    close(sm.iou_against_threshold(scores, targets.to(torch.uint8), thresholds), expected)
    bad_arguments(sm.iou_against_threshold, {"scores": scores, "targets": targets, "thresholds": thresholds}, {
        "scores": (*NOT_A_TENSOR, scores.long(), scores[:1], torch.full_like(scores, NAN)),
        "targets": (*NOT_A_TENSOR, targets.double(), targets.long() * 2, targets[:, :2]),
        "thresholds": (*NOT_A_TENSOR, thresholds[None], thresholds.long()),
    })
    assert sm.iou_against_threshold(scores[:0], targets[:0], thresholds).isnan().all()  # no pixel: no IoU


@entry("companion.segmentation_metrics.confusion_matrix", "companion.segmentation_metrics.confusion_matrix_np")
def check_confusion_matrix():
    pred, labels = randint(3, 2, 4, 5, seed=1), randint(3, 2, 4, 5, seed=2)
    labels[0, 0] = 255
    for fn, numpy in ((sm.confusion_matrix, False), (sm.confusion_matrix_np, True)):
        to = (lambda x: x.numpy()) if numpy else (lambda x: x)  # noqa: E731
        valid = {"pred": to(pred), "labels": to(labels), "num_classes": 3, "ignore_index": 255}
        bad_arguments(fn, valid, {
            "pred": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(pred.float()), to(pred[0]), to(pred + 3), to(pred - 1), to(pred[:, :3])),
            "labels": (to(labels.double()), to(labels.bool()), to(labels[0]), to(labels + 300)),
            "num_classes": (0, 3.0, None), "ignore_index": (1, 2.5, "x", True)})
        every_argument_refuses_an_object(fn, valid)
        for dtype in (torch.uint8, torch.int16, torch.int32, torch.int64):
            for ignore in (255, None):
                y = labels if ignore is not None else labels.clamp(max=2)
                out = fn(to(strided(pred.to(dtype))), to(y.to(dtype)), np.int64(3), ignore)
                assert np.array_equal(np.asarray(out), confusion_loop(pred.numpy(), y.numpy(), 3, ignore))
        assert np.array_equal(np.asarray(fn(to(pred[:0]), to(labels[:0]), 3)), np.zeros((3, 3)))
    raises(sm.confusion_matrix, pred.to("meta"), labels.to("meta"), 3, name="pred")


@entry("companion.segmentation_metrics.pixel_accuracy", "companion.segmentation_metrics.per_class_iou",
       "companion.segmentation_metrics.mean_iou", "companion.segmentation_metrics.dice",
       "companion.segmentation_metrics.per_class_recall", "companion.segmentation_metrics.balanced_accuracy")
def check_confusion_metrics():
    cm = torch.tensor([[5, 1, 0, 0], [2, 7, 1, 0], [0, 0, 0, 0], [0, 3, 0, 0]])
    tp, rows, cols = cm.diagonal().double(), cm.sum(1).double(), cm.sum(0).double()
    ratio = lambda a, b: [x / y if y else NAN for x, y in zip(a.tolist(), b.tolist())]  # noqa: E731
    iou, recall = ratio(tp, rows + cols - tp), ratio(tp, rows)
    expected = {
        sm.pixel_accuracy: tp.sum() / cm.sum(), sm.per_class_iou: iou, sm.mean_iou: np.nanmean(iou),
        sm.dice: ratio(2 * tp, rows + cols), sm.per_class_recall: recall, sm.balanced_accuracy: np.nanmean(recall),
    }
    for fn, value in expected.items():
        bad_arguments(fn, {"cm": cm}, {"cm": (*NOT_A_TENSOR, cm.numpy(), cm[0], cm[:3], cm.bool(), cm - 1, cm * NAN, cm + INF)})
        for dtype in (torch.int32, torch.int64, torch.float32, torch.float64):
            out = fn(strided(cm.to(dtype)))
            assert out.dtype == torch.float64
            close(out, value)
        assert fn(torch.zeros(4, 4, dtype=torch.long)).isnan().all()  # nothing counted: nothing to measure
        assert fn(torch.zeros(0, 0, dtype=torch.long)).isnan().all()
        meta_agrees(fn, cm)


# ----------------------------------------------------------------------------- convolution and pooling


def check_conv_arguments(fn: Callable, numpy: bool, one_d: bool) -> None:
    x, w, b = randn(2, 4, 7) if one_d else randn(2, 4, 7, 6), randn(6, 2, 3) if one_d else randn(6, 2, 3, 2), randn(6)
    if numpy:
        x, w, b = x.numpy(), w.numpy(), b.numpy()
    valid = {"x": x, "weight": w, "bias": b, "groups": 2}
    not_type = NOT_AN_ARRAY if numpy else NOT_A_TENSOR
    as_int = (lambda a: a.astype(np.int64)) if numpy else (lambda a: a.long())  # noqa: E731
    bad_arguments(fn, valid, {
        "x": (*not_type, x[0], x[None], as_int(x)),
        "weight": (*not_type[1:], w[0], as_int(w), w[:, :1], w[..., :0] if one_d else w[:, :, :0]),
        "bias": ("x", [1.0] * 6, b[:5], b[None], as_int(b)),
        "stride": (0, 1.5, "1", None, (1, 2, 3) if not one_d else (1, 2)), "padding": (-1, 2.0),
        "dilation": (0, True), "groups": (0, 3, 2.0),
    })
    raises(fn, **{**valid, "dilation": 10}, name="kernel")  # the dilated kernel is larger than the input
    raises(fn, **{**valid, "x": x[:, :3]}, name="groups")  # 3 channels in 2 groups
    every_argument_refuses_an_object(fn, valid)


@entry("companion.conv.conv2d", "companion.conv.conv2d_np", "companion.conv.conv1d", "companion.conv.conv1d_np")
def check_convolutions():
    for fn, numpy, one_d in ((conv.conv2d, False, False), (conv.conv2d_np, True, False), (conv.conv1d, False, True), (conv.conv1d_np, True, True)):
        check_conv_arguments(fn, numpy, one_d)
    x, w, b = randn(2, 4, 7, 6, scale=2), randn(6, 2, 3, 2), randn(6)
    x[0, 0, 0, 0], x[1, 2, 3, 4] = NAN, 1e30
    for stride, padding, dilation in ((1, 0, 1), ((2, 1), (1, 2), (1, 2)), (np.int64(2), 1, 1)):
        for x_dtype in FLOATS:
            for w_dtype in (torch.float32, torch.float64):  # weight and bias take x's dtype
                args = dict(stride=stride, padding=padding, dilation=dilation, groups=2)
                expected = F.conv2d(x.to(x_dtype).double(), w.to(w_dtype).to(x_dtype).double(), b.to(w_dtype).to(x_dtype).double(),
                                    **{k: (tuple(int(v) for v in a) if isinstance(a, tuple) else int(a)) for k, a in args.items()})
                out = conv.conv2d(strided(x.to(x_dtype)), w.to(w_dtype), b.to(w_dtype), **args)
                assert out.dtype == x_dtype
                close(out, expected, x_dtype, **({"rtol": 1e-2, "atol": 1e-1} if x_dtype in LOW else {}))
                if x_dtype != torch.bfloat16:
                    out = conv.conv2d_np(strided(x.to(x_dtype).numpy()), w.to(w_dtype).numpy(), b.to(w_dtype).numpy(), **args)
                    assert out.dtype == x.to(x_dtype).numpy().dtype
                    close(out, expected, x_dtype, **({"rtol": 1e-2, "atol": 1e-1} if x_dtype in LOW else {}))
    x1, w1 = randn(3, 4, 9), randn(6, 2, 3)
    close(conv.conv1d(x1, w1, None, 2, 1, 1, 2), F.conv1d(x1, w1, None, 2, 1, 1, 2))
    close(conv.conv1d_np(x1.numpy(), w1.numpy(), None, np.int64(2), 1, 1, 2), F.conv1d(x1, w1, None, 2, 1, 1, 2))
    for n, c in ((0, 4), (2, 4)):  # an empty batch; zero filters
        o = 0 if n else 6
        empty = conv.conv2d(torch.zeros(n, c, 5, 5), torch.zeros(o, c, 3, 3))
        assert empty.shape == (n, o, 3, 3)  # F.conv2d refuses zero filters; N = 0 it takes
        assert conv.conv2d_np(np.zeros((n, c, 5, 5)), np.zeros((o, c, 3, 3))).shape == empty.shape
    meta_agrees(conv.conv2d, randn(2, 4, 7, 6), randn(6, 2, 3, 2), randn(6), groups=2)


POOLS = {
    conv.max_pool2d: F.max_pool2d, conv.avg_pool2d: F.avg_pool2d, conv.max_pool1d: F.max_pool1d, conv.avg_pool1d: F.avg_pool1d,
    conv.max_pool2d_np: F.max_pool2d, conv.avg_pool2d_np: F.avg_pool2d, conv.max_pool1d_np: F.max_pool1d, conv.avg_pool1d_np: F.avg_pool1d,
}


@entry(*(f"companion.conv.{fn.__name__}" for fn in POOLS))
def check_pools():
    for fn, reference in POOLS.items():
        numpy, one_d = fn.__name__.endswith("_np"), "1d" in fn.__name__
        x = randn(2, 3, 9) if one_d else randn(2, 3, 9, 8)
        x[0, 0, 1] = NAN
        x[1, 1, 2] = INF
        x[1, 2, 0] = -INF
        to = (lambda a: a.numpy()) if numpy else (lambda a: a)  # noqa: E731
        valid = {"x": to(x), "kernel_size": 3}
        bad_arguments(fn, valid, {
            "x": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(x[0]), to(x[None]), to(x.long())),
            "kernel_size": (0, 2.5, None, 20) if one_d else (0, (2, 0), 20, 2.5), "stride": (0, 1.5),
            "padding": (-1, 2, 1.0)})
        if one_d:
            bad_arguments(fn, valid, {"kernel_size": ((2, 2),), "stride": ((1, 1),)})
        every_argument_refuses_an_object(fn, valid)
        for kernel, stride, padding in ((3, None, 0), (2, 1, 1), (np.int64(3), 2, 1)):
            if not one_d:
                kernel, stride = (kernel, 2), stride
            for dtype in FLOATS:
                if numpy and dtype == torch.bfloat16:
                    continue
                expected = reference(x.to(dtype).double(), kernel if not isinstance(kernel, np.integer) else int(kernel),
                                     None if stride is None else stride, padding)
                close(fn(to(strided(x.to(dtype))), kernel, stride, padding), expected, dtype)
        empty = to(torch.zeros(0, 3, 5) if one_d else torch.zeros(0, 3, 5, 5))
        assert fn(empty, 2).shape[0] == 0


@entry("companion.conv.conv_output_size")
def check_conv_output_size():
    fn = conv.conv_output_size
    bad_arguments(fn, {"size": 10, "kernel_size": 3}, {
        "size": (0, 2.5, None), "kernel_size": (0, "3"), "stride": (0, 1.0), "padding": (-1, True), "dilation": (0, None)})
    raises(fn, 5, 7, name="kernel")
    for size, k, s, p, d in ((10, 3, 1, 0, 1), (10, 3, 2, 1, 2), (np.int64(224), 7, 2, 3, 1), (1, 1, 5, 0, 1), (3, 5, 1, 1, 1)):
        expected = F.conv1d(torch.zeros(1, 1, int(size)), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
        assert fn(size, k, s, p, d) == expected


# ----------------------------------------------------------------------------- convolution and pooling backward

from companion import conv_backward as cbw  # noqa: E402


def conv_backward_reference(x, w, g, stride, padding):
    """dL/dx, dL/dw, dL/db by autograd through F.conv2d in float64 (NaN where it reaches)."""
    x, w = x.detach().double().clone().requires_grad_(), w.detach().double().clone().requires_grad_()
    b = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    return torch.autograd.grad(F.conv2d(x, w, b, stride, padding), (x, w, b), g.double())


@entry(*(f"companion.conv_backward.{name}" for name in (
    "conv2d_backward_np", "conv2d_backward_im2col_np", "convolve2d_backward_np", "conv2d_weight_grad_np",
    "conv2d_input_grad_np", "conv2d_bias_grad_np", "convolve2d_np", "flip_kernel", "dilate_np")))
def check_conv_backward():
    x, w, g = randn(2, 3, 7, 6), randn(4, 3, 3, 2), randn(2, 4, 3, 5, seed=1)
    xn, wn, gn = x.numpy(), w.numpy(), g.numpy()
    args = {"stride": (2, 1), "padding": 0}
    for fn, weight_name in ((cbw.conv2d_backward_np, "weight"), (cbw.conv2d_backward_im2col_np, "weight"),
                            (cbw.convolve2d_backward_np, "kernel")):
        valid = {"x": xn, weight_name: wn, "grad_out": gn, **args}
        bad_arguments(fn, valid, {
            "x": (*NOT_AN_ARRAY, xn[0], xn.astype(np.int64)), weight_name: (*NOT_AN_ARRAY, wn[:, :2], wn[0], wn[:, :, :0]),
            "grad_out": (*NOT_AN_ARRAY, gn[:, :3], gn[..., :4], gn[0], gn.astype(np.int64)),
            "stride": (0, 1.5, None), "padding": (-1, 1.0)})
        every_argument_refuses_an_object(fn, valid)
    valid = {"x": xn, "grad_out": gn, "kernel_size": (3, 2), **args}
    bad_arguments(cbw.conv2d_weight_grad_np, valid, {"x": (xn[0], xn.astype(np.int64)), "grad_out": (gn[:1],),
                                                     "kernel_size": (0, 2.5, (3,)), "stride": (0,)})
    every_argument_refuses_an_object(cbw.conv2d_weight_grad_np, valid)
    valid = {"grad_out": gn, "weight": wn, "input_size": (7, 6), **args}
    bad_arguments(cbw.conv2d_input_grad_np, valid, {"grad_out": (gn[:, :3],), "weight": (wn[0], wn.astype(np.int64)),
                                                    "input_size": ((7,), 7, (0, 6), (7.0, 6)), "padding": (-1,)})
    every_argument_refuses_an_object(cbw.conv2d_input_grad_np, valid)
    bad_arguments(cbw.conv2d_bias_grad_np, {"grad_out": gn}, {"grad_out": (*NOT_AN_ARRAY, gn[0], gn.astype(np.int64))})
    bad_arguments(cbw.convolve2d_np, {"x": xn, "kernel": wn}, {"x": (*NOT_AN_ARRAY, xn[0]), "kernel": (*NOT_AN_ARRAY, wn[0])})
    bad_arguments(cbw.flip_kernel, {"weight": wn}, {"weight": ("x", None, [1.0], wn[0, 0, 0], torch.zeros(3))})
    bad_arguments(cbw.dilate_np, {"g": gn, "stride": 2}, {"g": (*NOT_AN_ARRAY, gn[0]), "stride": (0, 1.5)})
    # NaN and 1e30 in the data go where autograd sends them; float16 in float32; non-contiguous input
    x[0, 1, 2, 3], x[1, 0, 0, 0], g[1, 2, 1, 1] = NAN, 1e30, NAN
    for stride, padding in ((1, 0), ((2, 1), (1, 2)), (np.int64(2), 1)):
        s, p = (int(stride) if isinstance(stride, np.integer) else stride), padding
        ho, wo = (conv.conv_output_size(size, k, st_, pp) for size, k, st_, pp in
                  zip((7, 6), (3, 2), s if isinstance(s, tuple) else (s, s), p if isinstance(p, tuple) else (p, p)))
        gg = randn(2, 4, ho, wo, seed=2)
        gg[0, 0, 0, 0] = NAN
        for dtype in (torch.float16, torch.float32, torch.float64):
            xd, wd, gd = x.to(dtype), w.to(dtype), gg.to(dtype)
            expected = conv_backward_reference(xd, wd, gd, s, p)
            options = {"rtol": 1e-2, "atol": 1e-1} if dtype == torch.float16 else {}
            for fn in (cbw.conv2d_backward_np, cbw.conv2d_backward_im2col_np):
                out = fn(strided(xd.numpy()), strided(wd.numpy()), strided(gd.numpy()), stride, padding)
                for ours, theirs in zip(out, expected):
                    assert ours.dtype == xd.numpy().dtype
                    close(ours, theirs, dtype, **options)
            close(cbw.conv2d_weight_grad_np(strided(xd.numpy()), gd.numpy(), (3, 2), stride, padding), expected[1], dtype, **options)
            close(cbw.conv2d_input_grad_np(strided(gd.numpy()), wd.numpy(), (7, 6), stride, padding), expected[0], dtype, **options)
            close(cbw.conv2d_bias_grad_np(strided(gd.numpy())), expected[2], dtype, **options)
            flipped = conv_backward_reference(xd, wd.flip(-2, -1), gd, s, p)
            out = cbw.convolve2d_backward_np(xd.numpy(), wd.numpy(), gd.numpy(), stride, padding)
            close(out[1], flipped[1].flip(-2, -1), dtype, **options)
            close(cbw.convolve2d_np(xd.numpy(), wd.numpy(), None, stride, padding),
                  F.conv2d(xd.double(), wd.double().flip(-2, -1), None, s, p), dtype, **options)
    close(cbw.dilate_np(gn, np.int64(2))[:, :, ::2, ::2], gn)
    assert torch.equal(cbw.flip_kernel(w), w.flip(-2, -1)) and cbw.flip_kernel(w.to("meta")).device.type == "meta"
    # an empty batch: empty input gradient, zero weight and bias gradients
    for fn in (cbw.conv2d_backward_np, cbw.conv2d_backward_im2col_np, cbw.convolve2d_backward_np):
        grad_x, grad_w, grad_b = fn(np.zeros((0, 3, 7, 6)), wn, np.zeros((0, 4, 5, 5)))
        assert grad_x.shape == (0, 3, 7, 6) and grad_w.shape == wn.shape and not grad_w.any() and not grad_b.any()


@entry(*(f"companion.conv_backward.{name}" for name in (
    "max_pool2d_backward_np", "avg_pool2d_backward_np", "im2col_np", "col2im_np")))
def check_pool_backward_and_im2col():
    x, g = randn(2, 3, 9, 8), randn(2, 3, 4, 4, seed=1)
    xn, gn = x.numpy(), g.numpy()
    valid = {"x": xn, "grad_out": gn, "kernel_size": 2}
    bad_arguments(cbw.max_pool2d_backward_np, valid, {
        "x": (*NOT_AN_ARRAY, xn[0], xn.astype(np.int64)), "grad_out": (*NOT_AN_ARRAY, gn[:, :2], gn[..., :3], gn[0]),
        "kernel_size": (0, 2.5, 20), "stride": (0, 1.5), "padding": (-1, 2, 1.0)})
    every_argument_refuses_an_object(cbw.max_pool2d_backward_np, valid)
    valid = {"grad_out": gn, "input_size": (9, 8), "kernel_size": 2}
    bad_arguments(cbw.avg_pool2d_backward_np, valid, {
        "grad_out": (*NOT_AN_ARRAY, gn[..., :3], gn[0], gn.astype(np.int64)), "input_size": (9, (9,), (9, 0), (9.0, 8)),
        "kernel_size": (0, 20), "stride": (0,), "padding": (-1, 2)})
    every_argument_refuses_an_object(cbw.avg_pool2d_backward_np, valid)
    valid = {"x": xn, "kernel_size": 3, "stride": 2, "padding": 1}
    bad_arguments(cbw.im2col_np, valid, {"x": (*NOT_AN_ARRAY, xn[0], xn.astype(np.int64)), "kernel_size": (0, 20), "padding": (-1,)})
    every_argument_refuses_an_object(cbw.im2col_np, valid)
    cols = cbw.im2col_np(xn, 3, 2, 1)
    valid = {"cols": cols, "input_size": (9, 8), "kernel_size": 3, "stride": 2, "padding": 1}
    bad_arguments(cbw.col2im_np, valid, {"cols": (*NOT_AN_ARRAY, cols[0], cols[:, :5], cols[..., :3], cols.astype(np.int64)),
                                         "input_size": (9, (9, 8, 1)), "kernel_size": (0,), "stride": (0,)})
    every_argument_refuses_an_object(cbw.col2im_np, valid)
    # NaN, infinities and ties go where autograd sends them; float16 in float32; non-contiguous input
    x[0, 0, 1, 1], x[1, 1, 2, 2], x[1, 2, 0, 0] = NAN, INF, -INF
    x[0, 1, :4, :4] = 1.0  # ties
    for kernel, stride, padding in ((2, None, 0), ((3, 2), (2, 1), (1, 0)), (np.int64(3), 1, 1)):
        k = int(kernel) if isinstance(kernel, np.integer) else kernel
        for dtype in (torch.float16, torch.float32, torch.float64):
            xd = x.to(dtype).double().clone().requires_grad_()
            for pool, ours in ((F.max_pool2d, None), (F.avg_pool2d, None)):
                y = pool(xd, k, stride, padding)
                gd = randn(*y.shape, seed=3).to(dtype)
                expected = torch.autograd.grad(y, xd, gd.double())[0]
                if pool is F.max_pool2d:
                    ours = cbw.max_pool2d_backward_np(strided(x.to(dtype).numpy()), strided(gd.numpy()), kernel, stride, padding)
                else:
                    ours = cbw.avg_pool2d_backward_np(strided(gd.numpy()), (9, 8), kernel, stride, padding)
                assert ours.dtype == gd.numpy().dtype
                close(ours, expected, dtype)
        cols = cbw.im2col_np(strided(x.numpy()), kernel, stride or k, padding)
        close(cols, F.unfold(x, k, 1, padding, stride or k))
        close(cbw.col2im_np(strided(cols), (9, 8), kernel, stride or k, padding),
              F.fold(torch.from_numpy(cols), (9, 8), k, 1, padding, stride or k))
    assert cbw.im2col_np(np.zeros((0, 3, 5, 5), np.float16), 2).shape == (0, 12, 16)
    assert cbw.col2im_np(np.zeros((0, 12, 16)), (5, 5), 2).shape == (0, 3, 5, 5)
    assert cbw.max_pool2d_backward_np(np.zeros((0, 3, 4, 4)), np.zeros((0, 3, 2, 2)), 2).shape == (0, 3, 4, 4)
    assert cbw.avg_pool2d_backward_np(np.zeros((0, 3, 2, 2)), (4, 4), 2).shape == (0, 3, 4, 4)


@entry("companion.conv.kernel_keras_to_torch", "companion.conv.kernel_torch_to_keras",
       "companion.conv.channels_last_to_first", "companion.conv.channels_first_to_last")
def check_layouts():
    cases = {
        conv.kernel_keras_to_torch: ("kernel", (3, 2, 0, 1)), conv.kernel_torch_to_keras: ("weight", (2, 3, 1, 0)),
        conv.channels_last_to_first: ("x", (0, 3, 1, 2)), conv.channels_first_to_last: ("x", (0, 2, 3, 1)),
    }
    for fn, (name, axes) in cases.items():
        x = randn(2, 3, 4, 5)
        bad_arguments(fn, {name: x}, {name: (None, "x", [[1.0]], 3.0, object(), x[0], x[None])})
        for value in (x, strided(x), x.numpy(), x.int(), x.to(torch.bool), x[:0]):
            out = fn(value)
            assert type(out) is type(value) and tuple(out.shape) == tuple(value.shape[a] for a in axes)
            assert np.array_equal(np.asarray(out), np.transpose(np.asarray(value), axes))


# ----------------------------------------------------------------------------- shapes, training, U-Net, CAM


@entry("companion.shapes.conv2d_parameters", "companion.shapes.depthwise_separable_parameters",
       "companion.shapes.dense_parameters", "companion.shapes.count_parameters")
def check_parameter_counts():
    bad_arguments(shapes.conv2d_parameters, {"in_channels": 4, "out_channels": 6, "kernel_size": 3}, {
        "in_channels": (0, 4.0, None), "out_channels": ("6",), "kernel_size": (0, (3,), (3, 0), 3.0),
        "groups": (0, 3, 4.0), "bias": (1, "yes", None)})
    bad_arguments(shapes.depthwise_separable_parameters, {"in_channels": 4, "out_channels": 6, "kernel_size": 3}, {
        "in_channels": (0, 2.0), "kernel_size": (None,), "bias": (0,)})
    bad_arguments(shapes.dense_parameters, {"in_features": 4, "out_features": 6}, {
        "in_features": (0, 4.0), "out_features": (None,), "bias": ("no",)})
    bad_arguments(shapes.count_parameters, {"model": nn.Linear(2, 2)}, {"model": (None, "model", torch.zeros(2), nn.Linear)})
    for c, o, k, g, bias in ((4, 6, 3, 2, True), (np.int64(3), 9, (2, 5), np.int64(3), False), (8, 8, 1, 8, np.True_)):
        layer = nn.Conv2d(int(c), o, k, groups=int(g), bias=bool(bias))
        assert shapes.conv2d_parameters(c, o, k, g, bias) == shapes.count_parameters(layer)
        separable = nn.Sequential(nn.Conv2d(int(c), int(c), k, groups=int(c), bias=bool(bias)), nn.Conv2d(int(c), o, 1, bias=bool(bias)))
        assert shapes.depthwise_separable_parameters(c, o, k, bias) == shapes.count_parameters(separable)
        assert shapes.dense_parameters(c, o, bias) == shapes.count_parameters(nn.Linear(int(c), o, bias=bool(bias)))
    assert shapes.count_parameters(nn.ReLU()) == 0


@entry("companion.shapes.trace_shapes", "companion.shapes.format_shape_table", "companion.shapes.LayerShape")
def check_trace_shapes():
    model = nn.Sequential(nn.Conv1d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 2))
    bad_arguments(shapes.trace_shapes, {"model": model, "input_shape": (2, 3, 8)}, {
        "model": (None, nn.Sequential, "m"), "input_shape": ([2, 3, 8], (2, 0, 8), (2, 3.0, 8), (True, 3, 8), None),
        "dtype": ("float32", np.float32)})
    raises(shapes.trace_shapes, model, (2, 5, 8), name="input_shape")  # the model fails on it: a ValueError that says so
    rows = shapes.trace_shapes(model, (np.int64(2), 3, 8))
    assert [r.output_shape for r in rows] == [(2, 4, 6), (2, 4, 6), (2, 24), (2, 2)] and model.training
    assert [r.parameters for r in rows] == [40, 0, 0, 50] and rows[0] == shapes.LayerShape("0", "Conv1d", (2, 4, 6), 40)
    # models whose input is not float32: float64 weights, embeddings (integer indices), recurrent layers (tuple outputs)
    assert shapes.trace_shapes(nn.Linear(3, 2).double(), (4, 3))[0].output_shape == (4, 2)
    embedded = nn.Sequential(nn.Embedding(10, 5), nn.LSTM(5, 7, batch_first=True))
    assert [r.output_shape for r in shapes.trace_shapes(embedded, (2, 6))] == [(2, 6, 5), (2, 6, 7)]
    assert shapes.trace_shapes(nn.LSTM(3, 4), (5, 2, 3), dtype=torch.float32)[0].output_shape == (5, 2, 4)
    table = shapes.format_shape_table(rows, (2, 3, 8))
    assert table.splitlines()[-1].split()[-1] == "90" and "Conv1d" in table
    bad_arguments(shapes.format_shape_table, {"rows": rows, "input_shape": (2, 3, 8)}, {
        "rows": (None, "rows", [("0", "Conv1d", (2,), 4)], rows[0]), "input_shape": ([2, 3, 8], None)})
    assert shapes.format_shape_table([], (1,)).splitlines()[-1].split()[-1] == "0"


@entry("companion.training.fit", "companion.training.ProgressBar")
def check_fit():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = randn(8, 3, dtype=torch.float32), randint(2, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    valid = {"model": model, "loss_fn": F.cross_entropy, "inputs": x, "targets": y, "optimizer": optimizer, "steps": 2}
    bad_arguments(training.fit, valid, {
        "model": (None, F.cross_entropy), "loss_fn": (None, "cross_entropy"), "inputs": (x.numpy(), None, x[:0], x[:5]),
        "targets": (y.tolist(), y[:7], torch.tensor(1), y.to("meta")), "optimizer": (None, torch.optim.SGD), "steps": (0, 2.0, True),
        "batch_size": (0, 9, True, 2.5, "4"), "generator": (0, "g"), "progress": (1, "yes")})
    raises(training.fit, **{**valid, "loss_fn": lambda z, t: F.cross_entropy(z, t, reduction="none")}, name="loss_fn")
    every_argument_refuses_an_object(training.fit, valid)
    history = training.fit(model, F.cross_entropy, x, y, optimizer, steps=np.int64(3), batch_size=np.int64(4), generator=gen())
    assert len(history) == 3 and all(isinstance(v, float) for v in history)
    model.weight.data[0, 0] = NAN  # a diverged model: the losses say so
    assert all(math.isnan(v) for v in training.fit(model, F.cross_entropy, x, y, optimizer, steps=2))
    bad_arguments(training.ProgressBar, {"total": 10, "description": "run"}, {
        "total": (0, 2.5, None), "description": (None, 3), "width": (0, "20"), "updates": (0,), "stream": ("stderr", 1)})
    stream = io.StringIO()
    bar = training.ProgressBar(np.int64(4), "run", width=4, updates=2, stream=stream)
    for done in range(1, 5):
        bar.update(done)
    assert stream.getvalue() == "\rrun  50% |##  | 2/4\rrun 100% |####| 4/4\n"
    bad_arguments(bar.update, {"done": 1}, {"done": (-1, 5, 1.5, None)})


@entry("companion.unet.UNet", "companion.unet.double_conv")
def check_unet():
    bad_arguments(unet.double_conv, {"in_channels": 3, "out_channels": 4}, {"in_channels": (0, 3.0, None), "out_channels": ("4",)})
    block = unet.double_conv(np.int64(3), 4)
    assert block(torch.zeros(1, 3, 5, 5)).shape == (1, 4, 5, 5)
    bad_arguments(unet.UNet, {}, {"in_channels": (0, 3.0), "num_classes": (0,), "width": (None,), "depth": (0, 2.0)})
    model = unet.UNet(np.int64(2), num_classes=3, width=4, depth=np.int64(1))
    x = randn(2, 2, 8, 6, dtype=torch.float32)
    bad_arguments(model, {"x": x}, {"x": (*NOT_A_TENSOR, x[0], x[:, :1], x.double(), x.long(), x[:, :, :7], x.to("meta"))})
    assert model(strided(x)).shape == (2, 3, 8, 6) and model(x[:0]).shape == (0, 3, 8, 6)
    torch.testing.assert_close(model(strided(x)), model(x))
    assert model.double()(x.double()).dtype == torch.float64


@entry("companion.cam.class_activation_maps")
def check_class_activation_maps():
    features, weight = randn(2, 3, 4, 5), randn(6, 3)
    bad_arguments(cam.class_activation_maps, {"features": features, "weight": weight}, {
        "features": (*NOT_A_TENSOR, features[0], features.long()), "weight": (*NOT_A_TENSOR, weight[:, :2], weight[0], weight.int())})
    features[0, 1, 2, 3] = NAN
    for f_dtype in FLOATS:
        for w_dtype in (torch.float32, torch.float64, torch.float16):
            f, w = features.to(f_dtype), weight.to(w_dtype)
            expected = torch.einsum("kc,nchw->nkhw", w.to(f_dtype).double(), f.double())
            out = cam.class_activation_maps(strided(f), w)
            assert out.dtype == f_dtype
            close(out, expected, f_dtype)
    assert cam.class_activation_maps(torch.zeros(0, 3, 4, 5), weight.float()).shape == (0, 6, 4, 5)
    meta_agrees(cam.class_activation_maps, randn(2, 3, 4, 5), randn(6, 3))


# ----------------------------------------------------------------------------- finite differences

KERNELS_1D = {
    fd.forward_difference_kernel: lambda h: [0.0, -1 / h, 1 / h],
    fd.backward_difference_kernel: lambda h: [-1 / h, 1 / h, 0.0],
    fd.central_difference_kernel: lambda h: [-1 / (2 * h), 0.0, 1 / (2 * h)],
    fd.second_difference_kernel: lambda h: [1 / h**2, -2 / h**2, 1 / h**2],
}


@entry(*(f"companion.finite_differences.{fn.__name__}" for fn in KERNELS_1D), "companion.finite_differences.compose_kernels")
def check_difference_kernels():
    for fn, formula in KERNELS_1D.items():
        bad_arguments(fn, {}, {"h": (*NOT_A_NUMBER, 0.0, -1.0, *BAD_NUMBERS, torch.tensor(1.0))})
        for h in (1.0, 0.5, np.float32(0.25), 1e-3, 2):
            close(fn(h), formula(float(h)))
    bad_arguments(fd.compose_kernels, {"first": np.ones(3), "second": np.ones(3)}, {
        "first": (*NOT_AN_ARRAY, np.ones((3, 3)), np.ones(0)), "second": (np.ones(()),)})
    close(fd.compose_kernels(fd.backward_difference_kernel(), fd.forward_difference_kernel()), [0.0, 1.0, -2.0, 1.0, 0.0])
    close(fd.compose_kernels(np.array([1, 2]), np.array([1.0, -1.0, 3.0])), np.convolve([1, 2], [1.0, -1.0, 3.0]))


@entry("companion.finite_differences.blended_laplacian_kernel_2d", "companion.finite_differences.laplacian_kernel_2d")
def check_laplacian_kernels():
    bad_arguments(fd.blended_laplacian_kernel_2d, {"diagonal_weight": 0.5}, {
        "diagonal_weight": (-0.1, 1.5, NAN, "0.5", None, True), "h": (0.0, INF, "1")})
    bad_arguments(fd.laplacian_kernel_2d, {}, {"kind": ("5-point", None, ["4-neighbour"], 4), "h": (-1.0, np.nan)})
    expected = {"4-neighbour": [[0, 1, 0], [1, -4, 1], [0, 1, 0]], "diagonal": [[0.5, 0, 0.5], [0, -2, 0], [0.5, 0, 0.5]],
                "8-neighbour": np.array([[1, 4, 1], [4, -20, 4], [1, 4, 1]]) / 6}
    for kind, kernel in expected.items():
        for h in (1.0, np.float32(0.5), 3):
            close(fd.laplacian_kernel_2d(kind, h), np.asarray(kernel) / float(h) ** 2)
    close(fd.blended_laplacian_kernel_2d(np.float32(1 / 3)), np.array([[1, 4, 1], [4, -20, 4], [1, 4, 1]]) / 6, torch.float32)


@entry("companion.finite_differences.apply_stencil", "companion.finite_differences.apply_stencil_np",
       "companion.finite_differences.apply_laplacian", "companion.finite_differences.apply_laplacian_np")
def check_apply_stencil():
    f = randn(2, 3, 6, 7)
    f[0, 0, 2, 2], f[1, 2, 4, 1] = NAN, INF
    kernel = fd.laplacian_kernel_2d("8-neighbour")
    for fn, numpy in ((fd.apply_stencil, False), (fd.apply_stencil_np, True)):
        to = (lambda a: a.numpy()) if numpy else (lambda a: a)  # noqa: E731
        valid = {"f": to(f), "kernel": kernel}
        bad_arguments(fn, valid, {
            "f": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(f[0, 0, 0]), to(f.long()), to(f[..., :2])),
            "kernel": ("k", None, [[1.0]], np.ones(3), np.ones((3, 3, 1)))})
        every_argument_refuses_an_object(fn, valid)
    for fn, numpy in ((fd.apply_laplacian, False), (fd.apply_laplacian_np, True)):
        bad_arguments(fn, {"f": f.numpy() if numpy else f}, {"h": (0.0, NAN, "1"), "kind": ("nine", None)})
    for k in (kernel, np.array([[0, 1, 0], [0, -1, 0], [0, 0, 0]]), np.ones((1, 2)), np.ones((3, 3), np.float32)):
        kh, kw = k.shape
        for dtype in FLOATS:
            x = f.to(dtype)
            products = x.double().unfold(-2, kh, 1).unfold(-2, kw, 1) * torch.as_tensor(k, dtype=dtype).double()
            # F.conv2d multiplies every tap, 0 * nan = nan; the NumPy twin adds only the non-zero taps
            close(fd.apply_stencil(strided(x), k), products.sum((-2, -1)), dtype)
            close(fd.apply_stencil(x, torch.as_tensor(k)), products.sum((-2, -1)), dtype)
            if dtype != torch.bfloat16:
                nonzero_taps = torch.where(torch.as_tensor(k) != 0, products, 0.0).sum((-2, -1))
                close(fd.apply_stencil_np(strided(x.numpy()), k), nonzero_taps, dtype)
    for h in (1.0, np.float32(0.5)):
        close(fd.apply_laplacian(f, h, "diagonal"), fd.apply_stencil(f, fd.laplacian_kernel_2d("diagonal", h)))
        close(fd.apply_laplacian_np(f.numpy(), h, "diagonal"), fd.apply_stencil_np(f.numpy(), fd.laplacian_kernel_2d("diagonal", h)))
    for shape in ((0, 5, 5), (3, 0, 4, 4), (4, 4)):  # empty batches, and one grid
        out = fd.apply_laplacian(torch.zeros(shape))
        assert out.shape == (*shape[:-2], shape[-2] - 2, shape[-1] - 2)
        assert fd.apply_laplacian_np(np.zeros(shape)).shape == out.shape
    meta_agrees(fd.apply_stencil, randn(2, 5, 5), kernel)


@entry("companion.finite_differences.observed_order", "companion.finite_differences.stencil_symbol")
def check_orders_and_symbols():
    h, errors = np.array([0.1, 0.05, 0.025]), np.array([1e-2, 2.5e-3, 6.25e-4])
    bad_arguments(fd.observed_order, {"h": h, "errors": errors}, {
        "h": (*NOT_AN_ARRAY, h[:1], h[None], -h, np.array([0.1, NAN, 0.2]), np.array([0.1, INF, 0.2]), np.array(["a", "b"])),
        "errors": (errors[:2], errors * 0, np.array([1.0, NAN, 2.0]), np.array([1e-2, INF, 1e-3]))})
    assert fd.observed_order(h, errors) == pytest.approx(2.0)
    assert fd.observed_order(np.array([4, 2, 1]), np.array([16.0, 4, 1])) == pytest.approx(2.0)  # integer spacings
    kernel = fd.laplacian_kernel_2d()
    bad_arguments(fd.stencil_symbol, {"kernel": kernel, "kx": np.ones(2), "ky": np.zeros(2)}, {
        "kernel": (*NOT_AN_ARRAY, np.ones((2, 3)), np.ones(3)), "h": (0.0, "1"),
        "kx": ("a", None, object(), 1j, np.ones(3)), "ky": (np.ones(4), [True, False])})
    kx = np.array([0.0, 0.5, 1.0, np.pi])
    for h in (1.0, np.float32(0.5)):
        h = float(h)
        expected = (2 * np.cos(kx * h) - 2) / h**2  # the 5-point symbol along x
        close(fd.stencil_symbol(fd.laplacian_kernel_2d("4-neighbour", h), kx, 0.0, h), expected)
        close(fd.stencil_symbol(fd.laplacian_kernel_2d("4-neighbour", h), torch.tensor(kx), [0.0], h), expected)
    symbol = fd.stencil_symbol(kernel, np.array([INF, NAN]), 0.0)
    assert np.isnan(symbol).all()  # a non-finite wavenumber has no symbol


# ----------------------------------------------------------------------------- the NumPy dense network


@entry("companion.dense_numpy.dense_forward", "companion.dense_numpy.dense_backward")
def check_dense_functions():
    x, w, b, g = randn(4, 3).numpy(), randn(3, 2, seed=1).numpy(), randn(2, seed=2).numpy(), randn(4, 2, seed=3).numpy()
    bad_arguments(dense_numpy.dense_forward, {"x": x, "weight": w, "bias": b}, {
        "x": (*NOT_AN_ARRAY, x[0], x[:, :2], x.astype(np.int64)), "weight": (*NOT_AN_ARRAY, w[0], w.astype(int)),
        "bias": ("b", [1.0, 2.0], b[:1], b.astype(int))})
    bad_arguments(dense_numpy.dense_backward, {"x": x, "weight": w, "grad_y": g}, {
        "x": (None, x[:, :2]), "weight": (w.T,), "grad_y": (g[:3], g[:, :1], g.astype(int), None), "has_bias": (1, None)})
    every_argument_refuses_an_object(dense_numpy.dense_forward, {"x": x, "weight": w, "bias": b})
    every_argument_refuses_an_object(dense_numpy.dense_backward, {"x": x, "weight": w, "grad_y": g, "has_bias": True})
    x[0, 0], g[1, 1] = NAN, INF
    for dtype in (np.float16, np.float32, np.float64):
        for w_dtype in (np.float32, np.float64):  # the result has x's dtype
            as_x = lambda a: torch.from_numpy(a.astype(w_dtype).astype(dtype)).double()  # noqa: E731  cast as the function casts
            xt, wt = torch.from_numpy(x.astype(dtype)), as_x(w)
            y = dense_numpy.dense_forward(strided(x.astype(dtype)), w.astype(w_dtype), b.astype(w_dtype))
            assert y.dtype == dtype
            close(y, xt.double() @ wt + as_x(b), np.dtype(dtype))
            gx, gw, gb = dense_numpy.dense_backward(x.astype(dtype), w.astype(w_dtype), g.astype(w_dtype))
            gt = as_x(g)
            assert gx.dtype == gw.dtype == gb.dtype == dtype
            close(gx, gt @ wt.double().T, np.dtype(dtype))
            close(gw, xt.double().T @ gt, np.dtype(dtype))
            close(gb, gt.sum(0), np.dtype(dtype))
    assert dense_numpy.dense_forward(x[:0], w).shape == (0, 2)
    assert dense_numpy.dense_backward(x[:0], w, g[:0], has_bias=False)[2] is None


@entry("companion.dense_numpy.relu_forward", "companion.dense_numpy.relu_backward", "companion.dense_numpy.ReLU")
def check_relu():
    values = [[-INF, -1.0, 0.0, 2.0, INF, NAN]]
    x = np.array(values)
    bad_arguments(dense_numpy.relu_forward, {"x": x}, {"x": (*NOT_AN_ARRAY, np.zeros((1, 6), int))})
    bad_arguments(dense_numpy.relu_backward, {"x": x, "grad_y": np.ones_like(x)}, {
        "x": (None, torch.zeros(1, 6), np.zeros((1, 6), int)), "grad_y": (None, np.ones((1, 5)), np.ones((1, 6), int))})
    t = torch.from_numpy(x).requires_grad_()
    torch.relu(t).backward(torch.full_like(t, 3.0))
    for dtype in (np.float16, np.float32, np.float64):
        close(dense_numpy.relu_forward(strided(np.array(values, dtype))), torch.relu(torch.from_numpy(x)), np.dtype(dtype))
        out = dense_numpy.relu_backward(np.array(values, dtype), np.full(x.shape, 3.0))
        assert out.dtype == dtype
        close(out, t.grad, np.dtype(dtype))  # no gradient through a NaN, as in PyTorch
    layer = dense_numpy.ReLU()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(x)
    layer.forward(x)
    close(layer.backward(np.ones_like(x)), (~(x <= 0)).astype(float))  # as PyTorch: NaN passes the gradient
    assert layer.parameters() == []


@entry("companion.dense_numpy.cross_entropy_and_grad")
def check_cross_entropy_and_grad():
    check_logits_labels_arguments(dense_numpy.cross_entropy_and_grad, True)
    raises(dense_numpy.cross_entropy_and_grad, randn(2, 3).numpy(), np.array([0, 1]), "none", name="reduction")
    logits, labels = randn(5, 4, scale=3), randint(4, 5)
    logits[0, 1] = -INF
    for reduction in ("mean", "sum"):
        z = logits.clone().requires_grad_()
        loss = F.cross_entropy(z, labels, reduction=reduction)
        (grad,) = torch.autograd.grad(loss, z)
        for dtype in (np.float16, np.float32, np.float64):
            for label_dtype in (np.uint8, np.int32, np.int64):
                value, g = dense_numpy.cross_entropy_and_grad(strided(logits.numpy().astype(dtype)), labels.numpy().astype(label_dtype), reduction)
                ref = F.cross_entropy(torch.from_numpy(logits.numpy().astype(dtype)).double(), labels, reduction=reduction)
                assert isinstance(value, float) and g.dtype == dtype
                assert value == pytest.approx(ref.item(), rel=tolerance(np.dtype(dtype))["rtol"])
                close(g, grad, np.dtype(dtype))
    value, g = dense_numpy.cross_entropy_and_grad(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), "sum")
    assert value == 0 and g.shape == (0, 3)


@entry("companion.dense_numpy.Dense", "companion.dense_numpy.MLP", "companion.dense_numpy.sgd_step",
       "companion.dense_numpy.to_torch")
def check_dense_layers():
    bad_arguments(dense_numpy.Dense, {"in_features": 3, "out_features": 2, "rng": np.random.default_rng(0)}, {
        "in_features": (0, 3.0, None), "out_features": ("2",), "rng": (None, 0, np.random.RandomState(0)),
        "bias": (1, "no"), "dtype": (np.int64, torch.float64, "int8", object)})
    bad_arguments(dense_numpy.MLP, {"sizes": [2, 4, 3], "rng": np.random.default_rng(0)}, {
        "sizes": (3, "243", [2], [2, 0, 3], [2, 4.0], None), "rng": (None,), "dtype": (np.int32,)})
    model = dense_numpy.MLP([np.int64(2), 4, 3], rng=np.random.default_rng(0), dtype=np.float32)
    x, labels = randn(5, 2).numpy().astype(np.float32), np.array([0, 1, 2, 0, 1])
    net = dense_numpy.to_torch(model)
    assert net[0].weight.dtype == torch.float32
    close(model.forward(strided(x)), net(torch.from_numpy(x)), torch.float32)
    bad_arguments(model.forward, {"x": x}, {"x": (None, x[:, :1], x[0], x.astype(int))})
    bad_arguments(model.loss_and_backward, {"x": x, "labels": labels}, {"labels": (labels[:4], labels + 3, labels * 1.0)})
    model.loss_and_backward(x, labels)
    bad_arguments(dense_numpy.sgd_step, {"model": model, "learning_rate": 0.1}, {
        "model": (None, net, "mlp"), "learning_rate": (0.0, -1.0, NAN, "0.1", None)})
    before = [p.copy() for p, _ in model.parameters()]
    dense_numpy.sgd_step(model, np.float32(0.5))
    for (value, grad), old in zip(model.parameters(), before):
        close(value, old - np.float32(0.5) * grad, torch.float32)
    assert model.predict(x).shape == (5,)
    bad_arguments(dense_numpy.to_torch, {"model": model}, {"model": (None, model.layers[0], net)})
    layer = dense_numpy.Dense(np.int64(3), 2, rng=np.random.default_rng(1), bias=np.False_, dtype=np.float16)
    assert layer.weight.dtype == np.float16 and layer.bias is None and len(layer.parameters()) == 1
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2)))


@entry("companion.dense_numpy.train", "companion.dense_numpy.TrainingHistory")
def check_train():
    model = dense_numpy.MLP([2, 4, 3], rng=np.random.default_rng(0))
    x, labels = randn(6, 2).numpy(), np.array([0, 1, 2, 0, 1, 2])
    valid = {"model": model, "x": x, "labels": labels, "learning_rate": 0.1, "epochs": 2, "batch_size": 3, "rng": np.random.default_rng(0)}
    bad_arguments(dense_numpy.train, valid, {
        "model": (None, model.layers[0]), "x": (None, x[0], x[:0], x[:, :1], x.astype(int)), "labels": (labels[:5], labels + 1, None),
        "learning_rate": (0, NAN, "0.1"), "epochs": (0, 2.0), "batch_size": (0, 7, True, 2.5), "rng": (None, 0),
        "reduction": ("none", "avg")})
    every_argument_refuses_an_object(dense_numpy.train, valid)
    history = dense_numpy.train(**{**valid, "epochs": np.int64(2), "batch_size": np.int64(4), "learning_rate": np.float32(0.1)})
    assert isinstance(history, dense_numpy.TrainingHistory)
    assert history.update_losses.shape == (4,) and history.epoch_losses.shape == (3,)
    record = dense_numpy.TrainingHistory(np.zeros(2), np.ones(3))
    assert record.update_losses.shape == (2,) and record == record


# ----------------------------------------------------------------------------- the review's twelve findings, one test each


def test_finding_1_float16_sums_are_accumulated_in_float32():
    z, y = randn(1, 4, 256, 256, seed=6, dtype=torch.float32), randint(4, 1, 256, 256, seed=6)
    expected = F.cross_entropy(z, y).item()  # 65,536 pixels: a float16 sum passes 65,504
    for loss in (sl.pixel_cross_entropy(z.half(), y), sl.focal_loss(z.half(), y, gamma=0.0), sl.infogain_loss(z.half(), y, torch.eye(4))):
        assert loss.dtype == torch.float16 and loss.item() == pytest.approx(expected, rel=1e-3)
    assert sl.pixel_cross_entropy_np(z.half().numpy(), y.numpy()).item() == pytest.approx(expected, rel=1e-3)
    assert sl.soft_dice_loss(z.half(), y).item() == pytest.approx(sl.soft_dice_loss(z, y).item(), rel=1e-3)
    assert act.softmax(torch.zeros(70_000, dtype=torch.float16))[0].item() == pytest.approx(1 / 70_000, rel=5e-3)  # subnormal
    scores, targets = randn(100_000, seed=4), (torch.rand(100_000, generator=gen(5)) < 0.3).double()
    curve = metrics.precision_recall_curve(scores.half(), targets.half())
    assert curve.precision[-1].item() == pytest.approx(targets.mean().item(), rel=1e-3)  # every sample predicted positive


def test_finding_2_top_k_accuracy_counts_nan_rows_as_misses():
    scores, labels = torch.full((4, 10), NAN), torch.tensor([0, 3, 5, 9])
    assert metrics.topk_accuracy(scores, labels, 5) == 0 and metrics.accuracy(scores, labels) == 0


def test_finding_3_log_sum_exp_of_masked_and_infinite_rows():
    z = torch.tensor([[-INF, -INF], [INF, 0.0]])
    assert act.logsumexp(z, 1).tolist() == [-INF, INF] and act.logsumexp_np(z.numpy(), 1).tolist() == [-INF, INF]
    a, b = randn(2, 4, dtype=torch.float32).requires_grad_(), randn(2, 4, seed=1, dtype=torch.float32)
    mask = torch.tensor([True, False, False, False])
    log_pa, log_pb = torch.log_softmax(a.masked_fill(mask, -INF), 1), torch.log_softmax(b.masked_fill(mask, -INF), 1)
    mixed = mixing.mix_probabilities(log_pa, log_pb, 0.3)
    assert mixed[:, 0].tolist() == [-INF, -INF] and not mixed.isnan().any()
    (grad,) = torch.autograd.grad(F.cross_entropy(mixed, torch.tensor([1, 2])), a)
    assert not grad.isnan().any()
    mix = mixing.ScalarMix("probabilities")
    loss = F.cross_entropy(mix(a.masked_fill(mask, -INF), b.masked_fill(mask, -INF)), torch.tensor([1, 2]))
    assert loss.isfinite() and not torch.autograd.grad(loss, mix.alpha)[0].isnan()
    head = heads.MixtureDensityHead(3)
    assert head.log_density(torch.zeros(1, 8), torch.tensor([[1e20, 0.0]])).item() == -INF


def test_finding_4_non_finite_logits_at_ignored_pixels_take_no_part():
    logits, labels, poisoned = segmentation_case()
    expected = F.cross_entropy(logits, labels, ignore_index=IGNORE)
    close(sl.pixel_cross_entropy(poisoned, labels), expected)
    close(sl.pixel_cross_entropy_np(poisoned.numpy(), labels.numpy()), expected)
    close(sl.infogain_loss(poisoned, labels, torch.eye(4)), expected)
    close(sl.focal_loss(poisoned, labels, gamma=0.0), expected)
    close(sl.soft_dice_loss(poisoned, labels), sl.soft_dice_loss(logits, labels))


def test_finding_5_labels_of_any_integer_dtype():
    z, y = randn(4, 3), torch.tensor([0, 2, 1, 2])
    close(losses.cross_entropy(z, y.to(torch.uint8)), F.cross_entropy(z, y))
    z_grad = z.clone().requires_grad_()
    close(losses.cross_entropy_grad(z, y.int()), torch.autograd.grad(F.cross_entropy(z_grad, y), z_grad)[0])


def test_finding_6_soft_dice_takes_bool_and_integer_masks():
    z = randn(2, 1, 4, 4, seed=7)
    mask = randn(2, 1, 4, 4, seed=8) > 0
    expected = sl.soft_dice_loss(z, mask.double())
    close(sl.soft_dice_loss(z, mask), expected)
    close(sl.soft_dice_loss(z, mask.long()), expected)
    raises(sl.soft_dice_loss, z, torch.full((2, 1, 4, 4), INF), name="targets")
    assert sl.soft_dice_loss(z[:0], mask[:0], reduction="none").shape == (0,)


def test_finding_7_velocity_grid_encodes_infinities_and_refuses_nan():
    grid = heads.VelocityGrid()
    assert grid.encode(torch.tensor([[INF, 1e19], [-INF, -1e19]])).tolist() == [[19, 19], [0, 0]]
    v = torch.tensor([[NAN, 0.0]])
    raises(grid.encode, v, name="v")
    raises(heads.JointGridHead(3).loss, torch.zeros(1, 400), v, name="v")
    raises(heads.FactorizedGridHead(3).loss, torch.zeros(1, 40), v, name="v")
    raises(heads.cell_accuracy, torch.zeros(1, 2), v, grid, name="v")


def test_finding_8_focal_loss_gradient_of_confident_pixels_with_gamma_below_one():
    logits = torch.tensor([[[[40.0]], [[-40.0]]]], requires_grad=True)
    (grad,) = torch.autograd.grad(sl.focal_loss(logits, torch.zeros(1, 1, 1, dtype=torch.long), gamma=0.5), logits)
    assert grad.isfinite().all()


def test_finding_9_numpy_scalars_and_checked_integers():
    z = torch.tensor([1.0, 2.0])
    close(act.softmax(z, temperature=np.float32(2.0)), torch.softmax(z / 2, 0))
    close(fd.central_difference_kernel(np.float32(0.5)), [-1.0, 0.0, 1.0])
    assert metrics.topk_accuracy(torch.eye(3), torch.arange(3), np.int64(2)) == 1
    generator = runtime.seed_everything(np.int64(7))
    assert torch.equal(torch.rand(2, generator=generator), torch.rand(2, generator=gen(7)))
    state = random.getstate()
    raises(runtime.seed_everything, 2**32, name="seed")
    assert random.getstate() == state  # nothing seeded: refused before the first seed
    model = nn.Linear(2, 2)
    args = (model, F.cross_entropy, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.optim.SGD(model.parameters(), 0.1))
    raises(training.fit, *args, steps=1, batch_size=True, name="batch_size")
    raises(training.fit, model, F.cross_entropy, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), args[-1], steps=1, name="inputs")
    assert len(training.fit(*args, steps=1, batch_size=np.int64(2))) == 1


def test_finding_10_the_result_has_the_main_input_dtype():
    x, w, b = randn(1, 2, 4, 4, dtype=torch.float32), randn(3, 2, 3, 3), randn(3)
    assert conv.conv2d(x, w.float(), b).dtype == torch.float32
    assert conv.conv2d(x, w).dtype == torch.float32
    assert conv.conv2d_np(x.numpy(), w.numpy(), b.numpy()).dtype == np.float32
    assert cam.class_activation_maps(x.half(), torch.ones(5, 2)).dtype == torch.float16
    assert mixing.mix_logits(x[0, 0], x[0, 1], torch.tensor(0.5, dtype=torch.float64)).dtype == torch.float32


def test_finding_11_helpers_check_their_input():
    raises(metrics.f1_score, 0.5, 0.25, name="precision")
    assert metrics.f1_score(torch.tensor([NAN]), torch.tensor([0.5])).isnan().all()
    raises(data.make_blobs, 10, 3, generator=gen(), class_weights=5, name="class_weights")
    assert shapes.trace_shapes(nn.LSTM(3, 4), (5, 2, 3))[0].output_shape == (5, 2, 4)
    assert shapes.trace_shapes(nn.Embedding(10, 4), (2, 3))[0].output_shape == (2, 3, 4)
    assert shapes.trace_shapes(nn.Linear(3, 2).double(), (4, 3))[0].output_shape == (4, 2)
    model = dense_numpy.MLP([2, 3], rng=np.random.default_rng(0))
    before = model.layers[0].weight.copy()
    raises(dense_numpy.train, model, np.zeros((4, 2)), np.zeros(4, int), learning_rate=0.1, epochs=1, batch_size=2, rng=None, name="rng")
    assert np.array_equal(model.layers[0].weight, before)  # refused before any update


# ----------------------------------------------------------------------------- detection: boxes

BOXES = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 7.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)


def iou_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU by the plain-Python loop, in float64."""
    return torch.tensor(bx.box_iou_loop(a.double().tolist(), b.double().tolist()), dtype=torch.float64).reshape(len(a), len(b))


def check_boxes_argument(fn: Callable, name: str, **kwargs) -> None:
    """An (N, 4) floating boxes argument: type, rank, width and dtype checked."""
    bad_arguments(fn, {name: BOXES, **kwargs}, {name: NOT_A_TENSOR + (BOXES[:, :3], BOXES[0], BOXES.long(), BOXES[None])})


@entry("companion.detection.boxes.box_iou", "companion.detection.boxes.box_iou_np", "companion.detection.boxes.box_iou_loop",
       "companion.detection.boxes.paired_box_iou", "companion.detection.boxes.generalized_box_iou")
def check_box_iou():
    for fn in (bx.box_iou, bx.paired_box_iou, bx.generalized_box_iou):
        check_boxes_argument(fn, "boxes1", boxes2=BOXES)
        check_boxes_argument(fn, "boxes2", boxes1=BOXES)
    bad_arguments(bx.box_iou_np, {"boxes1": BOXES.numpy(), "boxes2": BOXES.numpy()},
                  {"boxes1": NOT_AN_ARRAY + (BOXES.numpy()[:, :2], BOXES.long().numpy()), "boxes2": NOT_AN_ARRAY})
    raises(bx.paired_box_iou, BOXES, BOXES[:2], name="boxes1")
    for fn in (bx.box_iou, bx.paired_box_iou, bx.generalized_box_iou):  # two devices ("meta" stands in for a GPU)
        raises(fn, BOXES, BOXES.to("meta"), name="boxes2")
    reference = iou_reference(BOXES, BOXES)
    for dtype in FLOATS:
        close(bx.box_iou(BOXES.to(dtype), BOXES.to(dtype)), reference, dtype)
        close(bx.box_iou(strided(BOXES.to(dtype)), BOXES.to(dtype)), reference, dtype)
        close(bx.paired_box_iou(BOXES.to(dtype), BOXES.flip(0).to(dtype)), reference.flip(1).diagonal(), dtype)
    for dtype in (np.float32, np.float64):
        close(bx.box_iou_np(BOXES.numpy().astype(dtype), BOXES.numpy().astype(dtype)), reference, np.dtype(dtype))
    assert bx.box_iou(BOXES[:0], BOXES).shape == (0, 4) and bx.box_iou_np(BOXES.numpy()[:0], BOXES.numpy()[:0]).shape == (0, 0)
    assert bx.paired_box_iou(BOXES[:0], BOXES[:0]).shape == (0,) and bx.box_iou_loop([], []) == []
    # GIoU against its definition, on boxes of positive area
    a, b = BOXES[:3], BOXES[:3].flip(0)
    enclosing = ((torch.maximum(a[:, None, 2:], b[None, :, 2:]) - torch.minimum(a[:, None, :2], b[None, :, :2])).prod(-1))
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    iou = iou_reference(a, b)
    union = (area(a)[:, None] + area(b)[None, :]) / (1 + iou)
    close(bx.generalized_box_iou(a, b), iou - (enclosing - union) / enclosing)
    assert bx.generalized_box_iou(BOXES[:0], a).shape == (0, 3)
    meta_agrees(bx.box_iou, BOXES.float(), BOXES.float())


@entry("companion.detection.boxes.box_convert", "companion.detection.boxes.box_area", "companion.detection.boxes.normalize_boxes",
       "companion.detection.boxes.denormalize_boxes", "companion.detection.boxes.clip_boxes", "companion.detection.boxes.boxes_inside")
def check_box_helpers():
    check_boxes_argument(bx.box_convert, "boxes", in_fmt="xyxy", out_fmt="cxcywh")
    bad_arguments(bx.box_convert, {"boxes": BOXES, "in_fmt": "xyxy", "out_fmt": "cxcywh"},
                  {"in_fmt": ("xywh", None, object()), "out_fmt": ("XYXY", 1)})
    check_boxes_argument(bx.box_area, "boxes")
    for fn in (bx.normalize_boxes, bx.denormalize_boxes, bx.clip_boxes, bx.boxes_inside):
        check_boxes_argument(fn, "boxes", width=4.0, height=2.0)
        bad_arguments(fn, {"boxes": BOXES, "width": 4.0, "height": 2.0},
                      {"width": (0.0, -1.0, NAN, INF, "4", None, True), "height": (0, -INF, object())})
    x = BOXES
    cxcywh = torch.stack([(x[:, 0] + x[:, 2]) / 2, (x[:, 1] + x[:, 3]) / 2, x[:, 2] - x[:, 0], x[:, 3] - x[:, 1]], dim=1)
    for dtype in FLOATS:
        close(bx.box_convert(x.to(dtype), "xyxy", "cxcywh"), cxcywh, dtype)
        close(bx.box_convert(cxcywh.to(dtype), "cxcywh", "xyxy"), x, dtype)
        close(bx.box_area(strided(x.to(dtype))), cxcywh[:, 2] * cxcywh[:, 3], dtype)
    scale = torch.tensor([4.0, 2.0, 4.0, 2.0], dtype=torch.float64)
    close(bx.normalize_boxes(x, np.float32(4.0), np.int64(2)), x / scale)
    close(bx.denormalize_boxes(x, 4, 2.0), x * scale)
    close(bx.clip_boxes(x, 4.0, 2.0), torch.minimum(x.clamp(min=0), scale))
    assert bx.boxes_inside(x, 4.0, 2.0).tolist() == [True, True, False, True]
    for fn in (bx.normalize_boxes, bx.denormalize_boxes, bx.clip_boxes):
        assert fn(x[:0], 4.0, 2.0).shape == (0, 4)
    assert bx.boxes_inside(x[:0], 4.0, 2.0).shape == (0,) and bx.box_convert(x[:0], "xyxy", "cxcywh").shape == (0, 4)


# ----------------------------------------------------------------------------- detection: anchors, coding

@entry("companion.detection.anchors.base_anchors", "companion.detection.anchors.grid_anchors")
def check_anchors():
    fn = anchors.base_anchors
    bad_arguments(fn, {"sizes": [2.0], "aspect_ratios": [1.0]}, {
        "sizes": ([], [0.0], [-1.0], [NAN], [INF], "ab", 2.0, None, [None]), "aspect_ratios": ([], [0], [NAN], 1.0),
        "dtype": (torch.int64, "float32", None)})
    every_argument_refuses_an_object(fn, {"sizes": [2.0], "aspect_ratios": [1.0]})
    s, r = np.array([2.0, 4.0]), np.array([0.5, 1.0, 2.0])
    w, h = (s[:, None] / np.sqrt(r)).ravel(), (s[:, None] * np.sqrt(r)).ravel()
    reference = torch.from_numpy(np.stack([-w / 2, -h / 2, w / 2, h / 2], axis=1))
    for dtype in FLOATS:
        close(fn([2, np.float32(4.0)], (0.5, 1, 2.0), dtype=dtype), reference, dtype)
    base = fn([2.0], [1.0], dtype=torch.float64)
    valid = {"anchors": base, "feature_size": (2, 3), "stride": 4.0}
    bad_arguments(anchors.grid_anchors, valid, {
        "anchors": NOT_A_TENSOR + (base.long(), base[:, :2]), "feature_size": (-1, 2.0, (1, 2, 3), None, "2"),
        "stride": (0.0, -4.0, NAN, INF, "4", None)})
    every_argument_refuses_an_object(anchors.grid_anchors, valid)
    grid = anchors.grid_anchors(**valid)
    expected = [[4 * (x + 0.5) - 1, 4 * (y + 0.5) - 1, 4 * (x + 0.5) + 1, 4 * (y + 0.5) + 1] for y in range(2) for x in range(3)]
    close(grid, torch.tensor(expected, dtype=torch.float64))
    assert anchors.grid_anchors(base, 0, 4.0).shape == (0, 4) and anchors.grid_anchors(base[:0], 3, 4.0).shape == (0, 4)


@entry("companion.detection.anchors.ssd_scales", "companion.detection.anchors.prior_boxes")
def check_prior_boxes():
    bad_arguments(anchors.ssd_scales, {"num_maps": 6}, {
        "num_maps": (0, -1, 2.0, "6", None, True), "s_min": (NAN, -0.1, "0.2", None), "s_max": (INF, 0.1, None)})
    every_argument_refuses_an_object(anchors.ssd_scales, {"num_maps": 6, "s_min": 0.2, "s_max": 0.9})
    close(torch.tensor(anchors.ssd_scales(np.int64(6))), torch.tensor([0.2 + 0.14 * k for k in range(7)], dtype=torch.float64))
    assert anchors.ssd_scales(1, 0.3, 0.3) == [0.3, 0.3]
    valid = {"feature_sizes": [2, 1], "scales": [0.2, 0.5, 0.8], "aspect_ratios": [[2.0], []]}
    bad_arguments(anchors.prior_boxes, valid, {
        "feature_sizes": ([2], [0, 1], [2.0, 1], "ab", 2, None), "scales": ([0.2, 0.5], [0.2, NAN, 0.8], [0.2, -0.5, 0.8], "abc", 0.5),
        "aspect_ratios": ([[2.0]], [[0.0], []], [[NAN], []], [2.0, 3.0], "ab", None), "clip": (1, "yes", None),
        "dtype": (torch.int64, None)})
    every_argument_refuses_an_object(anchors.prior_boxes, valid)
    priors = anchors.prior_boxes(**valid)
    # brute force: every cell of every map, Caffe's box order
    rows = []
    for m, (f, ratios) in enumerate(zip([2, 1], [[2.0], []])):
        s, s_next = valid["scales"][m], valid["scales"][m + 1]
        shapes_m = [(s, s), (math.sqrt(s * s_next),) * 2] + [b for a in ratios for b in ((s * a**0.5, s / a**0.5), (s / a**0.5, s * a**0.5))]
        rows += [[(x + 0.5) / f, (y + 0.5) / f, w, h] for y in range(f) for x in range(f) for w, h in shapes_m]
    close(priors, torch.tensor(rows, dtype=torch.float64))
    close(anchors.prior_boxes(**valid, clip=True, dtype=torch.float32), torch.tensor(rows).clamp(0, 1), torch.float32)
    assert anchors.prior_boxes([], [0.2], []).shape == (0, 4)


@entry("companion.detection.box_coding.encode_boxes", "companion.detection.box_coding.decode_boxes")
def check_box_coding():
    refs = BOXES[:3]
    targets = refs + torch.tensor([0.5, -0.25, 1.0, 0.5], dtype=torch.float64)
    bad_arguments(box_coding.encode_boxes, {"boxes": targets, "references": refs}, {
        "boxes": NOT_A_TENSOR + (targets.long(), targets[:, :2]), "references": NOT_A_TENSOR + (refs[:2], refs.long()),
        "weights": ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0, 0.0), (1.0, NAN, 1.0, 1.0), "abcd", 1.0, None)})
    every_argument_refuses_an_object(box_coding.encode_boxes, {"boxes": targets, "references": refs, "weights": (1, 1, 1, 1)})
    # float64 formula, one row at a time
    expected = []
    for (x1, y1, x2, y2), (a1, b1, a2, b2) in zip(targets.tolist(), refs.tolist()):
        wa, ha, w, h = a2 - a1, b2 - b1, x2 - x1, y2 - y1
        expected.append([10 * ((x1 + x2) / 2 - (a1 + a2) / 2) / wa, 10 * ((y1 + y2) / 2 - (b1 + b2) / 2) / ha,
                         5 * math.log(w / wa), 5 * math.log(h / ha)])
    for dtype in FLOATS:
        deltas = box_coding.encode_boxes(targets.to(dtype), refs.to(dtype), box_coding.SSD_WEIGHTS)
        close(deltas, torch.tensor(expected, dtype=torch.float64), dtype, **({"rtol": 2e-2, "atol": 5e-2} if dtype in LOW else {}))
    deltas = box_coding.encode_boxes(targets, refs, np.array([10.0, 10.0, 5.0, 5.0]))
    bad_arguments(box_coding.decode_boxes, {"deltas": deltas, "references": refs}, {
        "deltas": NOT_A_TENSOR + (deltas.long(), deltas[:2], deltas[:, :3], deltas[0]), "references": NOT_A_TENSOR + (refs[:2],),
        "weights": ((1.0,), (0.0, 1.0, 1.0, 1.0), object()), "clamp": (NAN, "4", None, object())})
    close(box_coding.decode_boxes(deltas, refs, box_coding.SSD_WEIGHTS), targets)
    close(box_coding.decode_boxes(torch.stack([deltas, deltas]), refs, box_coding.SSD_WEIGHTS), torch.stack([targets, targets]))
    huge = box_coding.decode_boxes(torch.full((1, 4), 1e4, dtype=torch.float64), refs[:1])
    assert torch.isfinite(huge).all()  # the clamp keeps exp finite
    assert box_coding.encode_boxes(refs[:0], refs[:0]).shape == (0, 4) and box_coding.decode_boxes(refs[:0], refs[:0]).shape == (0, 4)


# ----------------------------------------------------------------------------- detection: NMS, matching, output, RPN

NMS_BOXES = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9], [21, 20, 31, 30], [50, 50, 51, 51]], dtype=torch.float64)
NMS_SCORES = torch.tensor([0.9, 0.95, 0.5, 0.9, 0.6, 0.1], dtype=torch.float64)


@entry("companion.detection.nms.nms", "companion.detection.nms.nms_loop", "companion.detection.nms.overlapping_pairs",
       "companion.detection.nms.batched_nms", "companion.detection.nms.top_k_indices")
def check_nms():
    valid = {"boxes": NMS_BOXES, "scores": NMS_SCORES, "iou_threshold": 0.5}
    bad_arguments(nms.nms, valid, {
        "boxes": NOT_A_TENSOR + (NMS_BOXES.long(), NMS_BOXES[:, :3]), "scores": NOT_A_TENSOR + (NMS_SCORES[:3], NMS_SCORES.long(), NMS_SCORES[None]),
        "iou_threshold": (-0.1, 1.5, NAN, "0.5", None)})
    every_argument_refuses_an_object(nms.nms, valid)
    raises(nms.nms, NMS_BOXES, NMS_SCORES.to("meta"), 0.5, name="scores")  # two devices ("meta" stands in for a GPU)
    raises(nms.batched_nms, NMS_BOXES, NMS_SCORES, torch.zeros(6, dtype=torch.int64, device="meta"), 0.5, name="classes")
    pairs_valid = {"boxes": NMS_BOXES, "iou_threshold": 0.5, "slab_size": 4}
    bad_arguments(nms.overlapping_pairs, pairs_valid, {
        "boxes": NOT_A_TENSOR + (NMS_BOXES.long(), NMS_BOXES[:, :3]), "iou_threshold": (-0.1, 1.5, NAN, None),
        "slab_size": (0, 2.0, None)})
    every_argument_refuses_an_object(nms.overlapping_pairs, pairs_valid)
    for t in (0.0, 0.3, 0.5, 0.9, 1.0):
        for dtype in (torch.float32, torch.float64):
            kept = nms.nms(NMS_BOXES.to(dtype), NMS_SCORES.to(dtype), t).tolist()
            assert kept == nms.nms_loop(NMS_BOXES.tolist(), NMS_SCORES.tolist(), t), t
        i, j = nms.overlapping_pairs(NMS_BOXES, t)
        iou = iou_reference(NMS_BOXES, NMS_BOXES)
        expected = sorted((a, b) for a in range(6) for b in range(a + 1, 6) if iou[a, b] > t)
        assert sorted(zip(i.tolist(), j.tolist())) == expected
    assert nms.nms(NMS_BOXES[:0], NMS_SCORES[:0], 0.5).shape == (0,) and nms.nms_loop([], [], 0.5) == []
    classes = torch.tensor([0, 1, 0, 0, 0, 1])
    bad_arguments(nms.batched_nms, {**valid, "classes": classes}, {
        "classes": NOT_A_TENSOR + (classes.double(), classes.bool(), classes[:3]), "boxes": (NMS_BOXES.long(),), "iou_threshold": (2.0,)})
    kept = nms.batched_nms(NMS_BOXES, NMS_SCORES, classes, 0.5).tolist()
    per_class = [k for c in (0, 1) for k in [int(torch.nonzero(classes == c)[i]) for i in
                 nms.nms_loop(NMS_BOXES[classes == c].tolist(), NMS_SCORES[classes == c].tolist(), 0.5)]]
    assert kept == sorted(per_class, key=lambda k: (-NMS_SCORES[k].item(), k))
    assert nms.batched_nms(NMS_BOXES[:0], NMS_SCORES[:0], classes[:0], 0.5).shape == (0,)
    bad_arguments(nms.top_k_indices, {"scores": NMS_SCORES, "k": 2}, {"scores": NOT_A_TENSOR + (NMS_SCORES[None],), "k": (-1, 2.0, None, True)})
    assert nms.top_k_indices(NMS_SCORES, np.int64(3)).tolist() == [1, 0, 3] and nms.top_k_indices(NMS_SCORES, 99).numel() == 6
    assert nms.top_k_indices(NMS_SCORES[:0], 3).shape == (0,)


@entry("companion.detection.matching.label_anchors", "companion.detection.matching.AnchorLabels",
       "companion.detection.matching.sample_anchors")
def check_matching():
    anchors_ = NMS_BOXES
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 21.0, 30.0, 31.0]], dtype=torch.float64)
    valid = {"anchors": anchors_, "gt_boxes": gt}
    bad_arguments(matching.label_anchors, valid, {
        "anchors": NOT_A_TENSOR + (anchors_.long(),), "gt_boxes": NOT_A_TENSOR + (gt[:, :2],),
        "image_size": ((40.0,), (0.0, 40.0), (NAN, 40.0), "ab", 40.0), "high_threshold": (1.5, NAN, None),
        "low_threshold": (-0.1, 0.8, "0.3")})
    every_argument_refuses_an_object(matching.label_anchors, {**valid, "image_size": (40, 40)})
    result = matching.label_anchors(anchors_, gt, image_size=(np.int64(60), 60.0))
    assert isinstance(result, matching.AnchorLabels)
    iou = iou_reference(gt, anchors_)  # (G, A), brute force of rules 1 to 3
    expected = []
    for a in range(len(anchors_)):
        best = float(iou[:, a].max())
        is_best = any(iou[g, a] == iou[g].max() and iou[g].max() > 0 for g in range(len(gt)))
        expected.append(1 if best >= 0.7 or is_best else 0 if best < 0.3 else -1)
    assert result.labels.tolist() == expected and result.matched_index.tolist() == iou.argmax(0).tolist()
    close(result.max_iou, iou.max(0).values)
    assert matching.label_anchors(anchors_, gt, image_size=(40, 40)).labels.tolist() == expected[:5] + [-1]  # outside: ignored
    empty = matching.label_anchors(anchors_, gt[:0], image_size=(60, 60))
    assert empty.labels.tolist() == [0] * 6 and empty.matched_index.tolist() == [-1] * 6 and not empty.max_iou.any()
    assert matching.label_anchors(anchors_[:0], gt).labels.shape == (0,)
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, -1])
    bad_arguments(matching.sample_anchors, {"labels": labels, "generator": gen()}, {
        "labels": NOT_A_TENSOR + (labels.double(), labels[None, None], torch.tensor([0, 2]), torch.tensor([-2, 0])),
        "batch_size": (0, 2.0, None), "positive_fraction": (1.5, NAN, None), "generator": (None, 0)})
    every_argument_refuses_an_object(matching.sample_anchors, {"labels": labels, "generator": gen()})
    for size, fraction in ((4, 0.5), (3, 0.25), (100, 1.0), (2, 0.0)):
        sampled = matching.sample_anchors(labels, size, fraction, generator=gen())
        num_pos = min(3, round(size * fraction))
        assert int((sampled == 1).sum()) == num_pos and int((sampled == 0).sum()) == min(4, size - num_pos)
        assert ((sampled == labels) | (sampled == -1)).all()
    assert matching.sample_anchors(labels[:0], generator=gen()).shape == (0,)
    assert matching.sample_anchors(labels[None].repeat(2, 1), 2, generator=gen()).shape == (2, 8)


@entry("companion.detection.detection_output.detection_output", "companion.detection.detection_output.DetectionOutputConfig",
       "companion.detection.detection_output.detections_to_pixels")
def check_detection_output():
    priors = anchors.prior_boxes([2], [0.3, 0.6], [[]])  # (8, 4)
    deltas, logits = randn(2, 8, 4, scale=0.1), randn(2, 8, 2, seed=1, scale=3.0)
    valid = {"deltas": deltas, "class_logits": logits, "priors": priors}
    bad_arguments(do.detection_output, valid, {
        "deltas": NOT_A_TENSOR + (deltas.long(), deltas[:, :3], deltas[0]), "class_logits": NOT_A_TENSOR + (logits.long(), logits[..., :1]),
        "priors": NOT_A_TENSOR + (priors[:, :2],), "config": (None, {"num_classes": 2})})
    every_argument_refuses_an_object(do.detection_output, valid)
    Config = do.DetectionOutputConfig
    for field, values in {"num_classes": (1, 2.0, None), "background_id": (2, -1, None), "confidence_threshold": (NAN, 1.5),
                          "nms_threshold": (-0.5, NAN, "x"), "top_k": (0, 1.5), "keep_top_k": (0, None)}.items():
        for value in values:
            raises(do.detection_output, **valid, config=Config(**{field: value}), name=f"config.{field}")
    config = Config(confidence_threshold=0.3, nms_threshold=0.45, top_k=5, keep_top_k=3)
    out = do.detection_output(**valid, config=config)
    # brute force per image: decode, softmax, threshold, top_k, nms_loop, keep_top_k
    boxes = box_coding.decode_boxes(deltas, bx.box_convert(priors, "cxcywh", "xyxy"), box_coding.SSD_WEIGHTS)
    probs = logits.softmax(-1)[..., 1]
    rows = []
    for image in range(2):
        candidates = sorted((i for i in range(8) if probs[image, i] > 0.3), key=lambda i: (-probs[image, i].item(), i))[:5]
        kept = nms.nms_loop(boxes[image, candidates].tolist(), probs[image, candidates].tolist(), 0.45)[:3]
        rows += [[image, 1, probs[image, candidates[k]].item(), *boxes[image, candidates[k]].tolist()] for k in kept]
    close(out, torch.tensor(rows, dtype=torch.float64).reshape(1, 1, -1, 7))
    none = do.detection_output(**valid, config=Config(confidence_threshold=1.0))
    close(none, torch.tensor([[0, -1, -1, -1, -1, -1, -1], [1, -1, -1, -1, -1, -1, -1]], dtype=torch.float64)[None, None])
    empty = do.detection_output(deltas[:0], logits[:0], priors)
    assert empty.shape == (1, 1, 0, 7)
    bad_arguments(do.detections_to_pixels, {"detections": out, "width": 40, "height": 20}, {
        "detections": NOT_A_TENSOR + (out[0], out[..., :6], out.long()), "width": (0, NAN, None), "height": (-1.0, "20")})
    close(do.detections_to_pixels(out, 40, np.float32(20)), out[0, 0, :, 3:] * torch.tensor([40.0, 20.0, 40.0, 20.0], dtype=torch.float64))
    assert do.detections_to_pixels(out[:, :, :0], 40, 20).shape == (0, 4)


@entry("companion.detection.rpn.RPNHead")
def check_rpn_head():
    bad_arguments(rpn.RPNHead, {"in_channels": 4, "num_anchors": 3}, {
        "in_channels": (0, 4.0, None, True), "num_anchors": (-1, "3"), "mid_channels": (0, 2.5)})
    every_argument_refuses_an_object(rpn.RPNHead, {"in_channels": 4, "num_anchors": 3, "mid_channels": 5})
    torch.manual_seed(0)
    head = rpn.RPNHead(4, 3, mid_channels=5).double()
    x = randn(2, 4, 3, 5)
    bad_arguments(head, {"features": x}, {"features": NOT_A_TENSOR + (x.float(), x.long(), x[0], x[:, :2])})
    scores, deltas = head(x)
    hidden = F.relu(F.conv2d(x, head.conv.weight, head.conv.bias, padding=1))
    s = F.conv2d(hidden, head.cls_logits.weight, head.cls_logits.bias)  # (N, 2k, H, W), channel 2a + j
    d = F.conv2d(hidden, head.bbox_deltas.weight, head.bbox_deltas.bias)
    expected_s = torch.stack([s[:, 2 * a:2 * a + 2] for a in range(3)], dim=1).permute(0, 3, 4, 1, 2).reshape(2, -1, 2)
    expected_d = torch.stack([d[:, 4 * a:4 * a + 4] for a in range(3)], dim=1).permute(0, 3, 4, 1, 2).reshape(2, -1, 4)
    close(scores, expected_s)
    close(deltas, expected_d)
    assert [t.shape for t in head(x[:0])] == [(0, 45, 2), (0, 45, 4)]


@entry("companion.detection.rpn.rpn_loss", "companion.detection.rpn.RPNLoss", "companion.detection.rpn.RPNLossConfig")
def check_rpn_loss():
    scores, deltas, targets = randn(2, 5, 2), randn(2, 5, 4, seed=1), randn(2, 5, 4, seed=2)
    labels = torch.tensor([[1, 0, -1, 0, 1], [-1, -1, 0, 1, -1]])
    valid = {"scores": scores, "deltas": deltas, "sampled_labels": labels, "target_deltas": targets}
    bad_arguments(rpn.rpn_loss, valid, {
        "scores": NOT_A_TENSOR + (scores.long(), scores[..., :1], scores[0]), "deltas": NOT_A_TENSOR + (deltas.long(), deltas[:, :4]),
        "sampled_labels": NOT_A_TENSOR + (labels.double(), labels[:, :4], labels.clamp(max=0) + 2 * (labels == 1), labels - 1),
        "target_deltas": NOT_A_TENSOR + (targets[..., :3], targets.long()), "config": (None, {"beta": 1.0})})
    every_argument_refuses_an_object(rpn.rpn_loss, valid)
    for field, value in (("beta", NAN), ("beta", -1.0), ("box_weight", "1"), ("box_weight", INF)):
        raises(rpn.rpn_loss, **valid, config=rpn.RPNLossConfig(**{field: value}), name=f"config.{field}")
    config = rpn.RPNLossConfig(box_weight=2.0, beta=0.5)
    result = rpn.rpn_loss(**valid, config=config)
    assert isinstance(result, rpn.RPNLoss)
    sampled, positive = labels != -1, labels == 1
    ce = F.cross_entropy(scores[sampled], labels[sampled], reduction="sum") / sampled.sum()
    box = F.smooth_l1_loss(deltas[positive], targets[positive], beta=0.5, reduction="sum") / sampled.sum()
    close(result.objectness, ce)
    close(result.box, box)
    close(result.total, ce + 2.0 * box)
    targets_nan = torch.where(positive[..., None], targets, NAN)  # targets of non-positives are never read
    close(rpn.rpn_loss(scores, deltas, labels, targets_nan, config).total, ce + 2.0 * box)
    nothing = rpn.rpn_loss(scores, deltas, torch.full_like(labels, -1), targets)
    assert nothing.total.item() == 0.0 and nothing.objectness.item() == 0.0
    empty = rpn.rpn_loss(scores[:0], deltas[:0], labels[:0], targets[:0])
    assert empty.total.item() == 0.0


# ----------------------------------------------------------------------------- data: factor images, multi-label task

@entry("companion.data.make_factor_images", "companion.data.make_multilabel_task")
def check_factor_and_multilabel_data():
    fn = data.make_factor_images
    valid = {"num_samples": 3, "num_factors": 2, "generator": gen()}
    bad_arguments(fn, valid, {
        "num_samples": (0, -1, 2.5, "3", True), "num_factors": (0, 2.0), "size": (1, 8.0, None), "width": (0.0, NAN, INF, "2"),
        "contrast": (-1.0, None), "noise": (-0.1, NAN, INF, "0"), "generator": (None, 0),
        "dtype": (torch.int64, torch.bool, "float32", None, np.float64)})
    every_argument_refuses_an_object(fn, valid)
    images, factors = fn(np.int64(3), np.int32(2), generator=gen(), size=np.int64(6), width=np.float32(1.5), noise=0)
    assert images.shape == (3, 3, 6, 6) and factors.shape == (3, 2) and images.dtype == factors.dtype == torch.float64
    # the formula, from the same draws: lamps, factors, sigmoid(contrast * sum_k f_k spot_k)
    g = gen()
    centres = runtime.uniform((2, 2), 0.0, 5.0, generator=g, dtype=torch.float64)
    colours = runtime.uniform((2, 3), -1.0, 1.0, generator=g, dtype=torch.float64)
    colours = colours / colours.norm(dim=1, keepdim=True)
    f = runtime.uniform((3, 2), -1.0, 1.0, generator=g, dtype=torch.float64)
    expected = torch.empty(3, 3, 6, 6, dtype=torch.float64)
    for n in range(3):
        for r in range(6):
            for c in range(6):
                spots = [math.exp(-((r - centres[k, 0]) ** 2 + (c - centres[k, 1]) ** 2) / (2 * 1.5**2)) for k in range(2)]
                for ch in range(3):
                    z = sum(float(f[n, k] * colours[k, ch]) * spots[k] for k in range(2))
                    expected[n, ch, r, c] = 1 / (1 + math.exp(-4.0 * z))
    close(images, expected)
    close(factors, f)
    assert fn(3, 2, generator=gen(), dtype=torch.float16)[0].dtype == torch.float16
    fn = data.make_multilabel_task
    valid = {"num_samples": 4, "num_labels": 5, "generator": gen()}
    bad_arguments(fn, valid, {
        "num_samples": (-1, 2.5, None), "num_labels": (0, 5.0), "num_features": (0, "32"), "separation": (0.0, NAN),
        "noise": (-1.0, INF), "generator": (None,), "dtype": (torch.int64, torch.bool, None, "float64"),
        "count_probs": (5, "ab", NAN, (NAN, 1.0), (INF, 1.0), (0.2,) * 6, (), (0, 0), (-1.0, 2.0), [[0.5, 0.5]], {"a": 1}, (None, 1.0))})
    every_argument_refuses_an_object(fn, valid)
    x, t = fn(np.int64(50), 5, generator=gen(), count_probs=np.array([0.0, 1.0]), num_features=np.int64(3), noise=np.float32(0.5))
    assert x.shape == (50, 3) and t.shape == (50, 5) and (t.sum(1) == 2).all() and set(t.unique().tolist()) == {0.0, 1.0}
    x2, t2 = fn(50, 5, generator=gen(), count_probs=(0, 1), num_features=3, noise=0.5)
    assert torch.equal(x, x2) and torch.equal(t, t2)
    x0, t0 = fn(0, 5, generator=gen())
    assert x0.shape == (0, 32) and t0.shape == (0, 5)
    assert fn(4, 5, generator=gen(), dtype=torch.float32)[1].dtype == torch.float32


# ----------------------------------------------------------------------------- metric learning

EMB = randn(6, 3)
LABELS = torch.tensor([0, 0, 1, 1, 2, 0])


def distances_reference(e: torch.Tensor) -> torch.Tensor:
    return torch.tensor([[sum((u - v) ** 2 for u, v in zip(a, b)) for b in e.tolist()] for a in e.tolist()], dtype=torch.float64)


def check_embeddings_argument(fn: Callable, name: str = "embeddings", labels: bool = False, **kwargs) -> None:
    valid = {name: EMB, **({"labels": LABELS} if labels else {}), **kwargs}
    bad_arguments(fn, valid, {name: NOT_A_TENSOR + (EMB.long(), EMB[0], EMB[None])})
    if labels:
        bad_arguments(fn, valid, {"labels": NOT_A_TENSOR + (LABELS.double(), LABELS[:3], LABELS[None])})


@entry("companion.metric_learning.l2_normalize", "companion.metric_learning.pairwise_distances",
       "companion.metric_learning.pairwise_distances_np", "companion.metric_learning.triplet_loss")
def check_distances():
    check_embeddings_argument(ml.l2_normalize)
    bad_arguments(ml.l2_normalize, {"embeddings": EMB}, {"eps": (0.0, -1.0, NAN, "1e-12", None)})
    for dtype in FLOATS:
        close(ml.l2_normalize(strided(EMB.to(dtype))), F.normalize(EMB, dim=1), dtype)
    assert not ml.l2_normalize(torch.zeros(2, 3)).any() and ml.l2_normalize(EMB[:0]).shape == (0, 3)
    check_embeddings_argument(ml.pairwise_distances)
    bad_arguments(ml.pairwise_distances, {"embeddings": EMB}, {"squared": (1, "yes", None, object())})
    bad_arguments(ml.pairwise_distances_np, {"embeddings": EMB.numpy()},
                  {"embeddings": NOT_AN_ARRAY + (EMB.numpy()[0], EMB.long().numpy()), "squared": (0, None)})
    d2 = distances_reference(EMB)
    for dtype in (torch.float32, torch.float64):
        close(ml.pairwise_distances(EMB.to(dtype), squared=np.True_), d2, dtype, atol=1e-5 if dtype == torch.float32 else 1e-12)
        close(ml.pairwise_distances(EMB.to(dtype)), d2.sqrt(), dtype, atol=1e-3 if dtype == torch.float32 else 1e-6)
        close(ml.pairwise_distances_np(EMB.to(dtype).numpy(), squared=True), d2, dtype, atol=1e-5 if dtype == torch.float32 else 1e-12)
    assert ml.pairwise_distances(EMB[:0]).shape == (0, 0) and ml.pairwise_distances_np(EMB.numpy()[:0]).shape == (0, 0)
    a, p, n = EMB[:2], EMB[2:4], EMB[4:6]
    for name in ("anchor", "positive", "negative"):
        bad_arguments(ml.triplet_loss, {"anchor": a, "positive": p, "negative": n}, {name: NOT_A_TENSOR + (a.long(), a[:1], a[0])})
    bad_arguments(ml.triplet_loss, {"anchor": a, "positive": p, "negative": n}, {"margin": (-0.1, NAN, INF, "0.2", None)})
    expected = sum(max(0.0, float(((a[i] - p[i]) ** 2).sum() - ((a[i] - n[i]) ** 2).sum()) + 0.5) for i in range(2)) / 2
    close(ml.triplet_loss(a, p, n, margin=np.float32(0.5)), torch.tensor(expected, dtype=torch.float64))


def brute_force_triplets(e, labels, margin, squared=True):
    """Every valid triplet (a, p, n), by loops."""
    d = distances_reference(e)
    d = d if squared else d.sqrt()
    n, y = len(labels), labels.tolist()
    return [(a, p, m, float(d[a, p] - d[a, m] + margin)) for a in range(n) for p in range(n) for m in range(n)
            if a != p and y[a] == y[p] and y[a] != y[m]]


@entry("companion.metric_learning.triplet_masks", "companion.metric_learning.TripletLoss",
       "companion.metric_learning.batch_all_triplet_loss", "companion.metric_learning.batch_hard_triplet_loss",
       "companion.metric_learning.batch_hard_loop", "companion.metric_learning.semi_hard_negatives",
       "companion.metric_learning.semi_hard_triplet_loss")
def check_mined_triplets():
    bad_arguments(ml.triplet_masks, {"labels": LABELS}, {"labels": NOT_A_TENSOR + (LABELS.double(), LABELS[None])})
    positive, negative = ml.triplet_masks(LABELS)
    y = LABELS.tolist()
    assert positive.tolist() == [[i != j and y[i] == y[j] for j in range(6)] for i in range(6)]
    assert negative.tolist() == [[y[i] != y[j] for j in range(6)] for i in range(6)]
    assert ml.triplet_masks(LABELS[:0])[0].shape == (0, 0)
    for fn in (ml.batch_all_triplet_loss, ml.batch_hard_triplet_loss, ml.semi_hard_triplet_loss):
        check_embeddings_argument(fn, labels=True)
        bad_arguments(fn, {"embeddings": EMB, "labels": LABELS}, {"margin": (-1.0, NAN, None), "squared": (1, None)})
        every_argument_refuses_an_object(fn, {"embeddings": EMB, "labels": LABELS, "margin": 0.2, "squared": True})
        empty = fn(EMB[:0], LABELS[:0])
        assert isinstance(empty, ml.TripletLoss) and empty.loss.item() == 0.0 and empty.num_used.item() == 0
    margin = 1.0
    triplets = brute_force_triplets(EMB, LABELS, margin)
    active = [v for *_, v in triplets if v > 0]
    result = ml.batch_all_triplet_loss(EMB, LABELS, margin)
    close(result.loss, torch.tensor(sum(active) / len(active), dtype=torch.float64))
    assert result.num_active.item() == len(active)
    hard = ml.batch_hard_triplet_loss(EMB, LABELS, margin)
    close(hard.loss, torch.tensor(ml.batch_hard_loop(EMB.tolist(), LABELS.tolist(), margin), dtype=torch.float64))
    loop_arguments = {"embeddings": EMB.tolist(), "labels": LABELS.tolist(), "margin": margin}
    bad_arguments(ml.batch_hard_loop, loop_arguments, {"anchors": (-1, 7, 2.0, True, "3")})
    # the first k anchors only: the mean of their hinge losses, from the reference distances
    d = distances_reference(EMB)
    usable = [a for a in range(6) if y.count(y[a]) > 1]  # anchor 4 has no positive: skipped
    for k in (1, 4, 6):
        per_anchor = [max(0.0, max(d[a, j] for j in range(6) if j != a and y[j] == y[a])
                          - min(d[a, j] for j in range(6) if y[j] != y[a]) + margin) for a in usable if a < k]
        assert abs(ml.batch_hard_loop(**loop_arguments, anchors=k) - sum(per_anchor) / len(per_anchor)) < 1e-12
    # semi-hard: for each (a, p), the closest negative farther than p, else the farthest negative
    d = distances_reference(EMB)
    losses = []
    for a in range(6):
        for p in range(6):
            if a == p or y[a] != y[p]:
                continue
            negs = [m for m in range(6) if y[m] != y[a]]
            farther = [m for m in negs if d[a, m] > d[a, p]]
            m = min(farther, key=lambda m: d[a, m]) if farther else max(negs, key=lambda m: d[a, m])
            losses.append(max(0.0, float(d[a, p] - d[a, m]) + margin))
    close(ml.semi_hard_triplet_loss(EMB, LABELS, margin).loss, torch.tensor(sum(losses) / len(losses), dtype=torch.float64))
    bad_arguments(ml.semi_hard_negatives, {"distances": d, "labels": LABELS}, {
        "distances": NOT_A_TENSOR + (d.long(), d[:3], d[0]), "labels": NOT_A_TENSOR + (LABELS[:3], LABELS.double())})


@entry("companion.metric_learning.center_loss", "companion.metric_learning.update_centers")
def check_center_loss():
    centers = randn(3, 3, seed=4)
    valid = {"features": EMB, "labels": LABELS, "centers": centers}
    for fn in (ml.center_loss, ml.update_centers):
        check_embeddings_argument(fn, "features", labels=True, centers=centers)
        bad_arguments(fn, valid, {"centers": NOT_A_TENSOR + (centers.long(), centers[:, :2], centers[0]),
                                  "labels": (LABELS - 1, LABELS + 1)})
        every_argument_refuses_an_object(fn, valid)
    bad_arguments(ml.update_centers, valid, {"alpha": (-0.1, 1.5, NAN, "0.5")})
    expected = sum(float(((EMB[i] - centers[LABELS[i]]) ** 2).sum()) for i in range(6)) / 12
    close(ml.center_loss(**valid), torch.tensor(expected, dtype=torch.float64))
    assert ml.center_loss(EMB[:0], LABELS[:0], centers).item() == 0.0
    new = centers.clone()
    for j in range(3):
        members = [i for i in range(6) if LABELS[i] == j]
        new[j] = centers[j] - 0.5 * sum((centers[j] - EMB[i] for i in members), torch.zeros(3, dtype=torch.float64)) / (1 + len(members))
    close(ml.update_centers(centers, EMB, LABELS, alpha=0.5), new)
    close(ml.update_centers(centers, EMB[:0], LABELS[:0]), centers)


@entry("companion.metric_learning.verification_accuracy", "companion.metric_learning.best_threshold")
def check_verification():
    d = distances_reference(EMB).sqrt()
    valid = {"distances": d, "labels": LABELS}
    for fn, extra in ((ml.verification_accuracy, {"threshold": 1.0}), (ml.best_threshold, {})):
        bad_arguments(fn, {**valid, **extra}, {
            "distances": NOT_A_TENSOR + (d.long(), d[:3], d[0]), "labels": NOT_A_TENSOR + (LABELS[:3], LABELS.double())})
        every_argument_refuses_an_object(fn, {**valid, **extra})
    bad_arguments(ml.verification_accuracy, {**valid, "threshold": 1.0}, {"threshold": (NAN, INF, "1", None)})
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    accuracy = lambda t: sum((d[i, j] <= t) == (LABELS[i] == LABELS[j]) for i, j in pairs).item() / len(pairs)  # noqa: E731
    for t in (0.0, 1.0, 2.5, 1e300):
        close(ml.verification_accuracy(d, LABELS, t), torch.tensor(accuracy(t), dtype=torch.float64))
    threshold, best = ml.best_threshold(d, LABELS)
    assert best == max(accuracy(float(d[i, j])) for i, j in pairs) and accuracy(threshold) == best
    raises(ml.best_threshold, d[:1, :1], LABELS[:1], name="distances")


# ----------------------------------------------------------------------------- latent codes

CODES = randn(12, 3, seed=5) * torch.tensor([3.0, 1.0, 0.2], dtype=torch.float64) + 1.0


def pca_reference(codes: np.ndarray):
    """Mean, covariance eigenvalues (descending) and the covariance, in float64."""
    c = np.asarray(codes, dtype=np.float64)
    cov = np.cov(c, rowvar=False)
    return c.mean(axis=0), np.sort(np.linalg.eigvalsh(cov))[::-1].copy(), cov


@entry("companion.latent_codes.pca", "companion.latent_codes.pca_np", "companion.latent_codes.PCA",
       "companion.latent_codes.explained_variance_ratio")
def check_pca():
    bad_arguments(latent_codes.pca, {"codes": CODES}, {
        "codes": NOT_A_TENSOR + (CODES.long(), CODES[:1], CODES[0], CODES[None]), "method": ("qr", None, object())})
    bad_arguments(latent_codes.pca_np, {"codes": CODES.numpy()}, {
        "codes": NOT_AN_ARRAY + (CODES.long().numpy(), CODES.numpy()[:1]), "method": ("EIGH", 1)})
    raises(latent_codes.pca, CODES[:2], method="svd", name="codes")
    mean, variances, cov = pca_reference(CODES.numpy())
    for method in ("eigh", "svd"):
        for result, dtype in ((latent_codes.pca(CODES, method), torch.float64), (latent_codes.pca(CODES.float(), method), torch.float32),
                              (latent_codes.pca_np(CODES.numpy(), method), torch.float64)):
            assert isinstance(result, latent_codes.PCA)
            as_np = lambda v: v.numpy() if isinstance(v, torch.Tensor) else np.ascontiguousarray(v)  # noqa: E731
            close(as_np(result.mean), mean, dtype)
            close(as_np(result.variances), variances, dtype, atol=1e-4 if dtype == torch.float32 else 1e-10)
            comps = np.asarray(result.components, dtype=np.float64)
            close(comps @ cov @ comps.T, np.diag(variances), dtype, atol=1e-4 if dtype == torch.float32 else 1e-9)  # the eigenvectors
    bad_arguments(latent_codes.explained_variance_ratio, {"variances": torch.tensor([2.0, 1.0])}, {
        "variances": NOT_A_TENSOR + (torch.zeros(2), torch.ones(2, 2), torch.tensor([NAN, 1.0]))})
    close(latent_codes.explained_variance_ratio(torch.tensor([3.0, 1.0], dtype=torch.float64)), torch.tensor([0.75, 0.25], dtype=torch.float64))
    close(latent_codes.explained_variance_ratio(np.array([3.0, 1.0])), np.array([0.75, 0.25]))


@entry("companion.latent_codes.ablation_effect")
def check_ablation_effect():
    weight = randn(4, 3, seed=6)
    decode = lambda z: torch.tanh(z @ weight.T)  # noqa: E731
    valid = {"decode": decode, "codes": CODES}
    bad_arguments(latent_codes.ablation_effect, valid, {
        "decode": (None, "f", 3), "codes": NOT_A_TENSOR + (CODES.long(), CODES[0]), "mode": ("median", None),
        "directions": ("x", torch.eye(3).long(), torch.eye(2, dtype=torch.float64), torch.ones(3, dtype=torch.float64))})
    every_argument_refuses_an_object(latent_codes.ablation_effect, valid)
    directions = torch.linalg.qr(randn(3, 3, seed=7))[0].T[:2]
    for mode in ("mean", "zero"):
        for dirs in (None, directions):
            got = latent_codes.ablation_effect(decode, CODES, dirs, mode=mode)
            v = torch.eye(3, dtype=torch.float64) if dirs is None else dirs
            ref = CODES.mean(0) if mode == "mean" else torch.zeros(3, dtype=torch.float64)
            expected = []
            for k in range(len(v)):
                changed = torch.stack([z - float((z - ref) @ v[k]) * v[k] for z in CODES])
                expected.append(float((decode(changed) - decode(CODES)).pow(2).mean()))
            close(got, torch.tensor(expected, dtype=torch.float64))
    assert latent_codes.ablation_effect(decode, CODES, directions[:0]).shape == (0,)


@entry("companion.latent_codes.random_rotation", "companion.latent_codes.fold_rotation", "companion.latent_codes.fold_rotation_np")
def check_rotation():
    bad_arguments(latent_codes.random_rotation, {"dim": 3, "generator": gen()}, {
        "dim": (0, 3.0, None, True), "generator": (None, 1), "dtype": (torch.int64, "float64", None)})
    every_argument_refuses_an_object(latent_codes.random_rotation, {"dim": 3, "generator": gen()})
    for dtype in FLOATS:
        q = latent_codes.random_rotation(np.int64(4), gen(), dtype=dtype)
        close(q.double() @ q.double().T, torch.eye(4, dtype=torch.float64), dtype, atol=2e-2 if dtype in LOW else 1e-5)
    q = latent_codes.random_rotation(3, gen())
    torch.manual_seed(0)
    enc, dec = nn.Linear(5, 3).double(), nn.Linear(3, 2).double()
    valid = {"encoder_out": enc, "decoder_in": dec, "rotation": q}
    bad_arguments(latent_codes.fold_rotation, valid, {
        "rotation": NOT_A_TENSOR + (q[:2], q.long()), "decoder_in": (nn.Linear(4, 2),), "encoder_out": (nn.Linear(5, 3, bias=False),)})
    every_argument_refuses_an_object(latent_codes.fold_rotation, valid)
    new_enc, new_dec = latent_codes.fold_rotation(**valid)
    h = randn(7, 5, seed=8)
    close(new_dec(new_enc(h)), dec(enc(h)))
    close(new_enc(h), enc(h) @ q.T)
    w, b, wd = enc.weight.detach().numpy(), enc.bias.detach().numpy(), dec.weight.detach().numpy()
    valid = {"encoder_weight": w, "encoder_bias": b, "decoder_weight": wd, "rotation": q.numpy()}
    bad_arguments(latent_codes.fold_rotation_np, valid, {
        "encoder_weight": NOT_AN_ARRAY + (w[0],), "encoder_bias": NOT_AN_ARRAY + (b[:2],), "decoder_weight": NOT_AN_ARRAY + (wd.T,),
        "rotation": NOT_AN_ARRAY + (q.numpy()[:2],)})
    a, c, d = latent_codes.fold_rotation_np(**valid)
    close(a, new_enc.weight)
    close(c, new_enc.bias)
    close(d, new_dec.weight)


# ----------------------------------------------------------------------------- multi-label

ML_TARGETS = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.float64)
ML_LOGITS = randn(4, 4, seed=9, scale=2.0)


@entry("companion.multilabel.normalize_targets", "companion.multilabel.normalize_targets_np", "companion.multilabel.label_count_classes")
def check_normalize_targets():
    bad = NOT_A_TENSOR + (ML_TARGETS.long(), ML_TARGETS[0], ML_TARGETS * 2, ML_TARGETS - 1, torch.full((2, 2), NAN))
    bad_arguments(multilabel.normalize_targets, {"targets": ML_TARGETS}, {"targets": bad})
    bad_arguments(multilabel.normalize_targets_np, {"targets": ML_TARGETS.numpy()},
                  {"targets": NOT_AN_ARRAY + (ML_TARGETS.long().numpy(), ML_TARGETS.numpy() * 2)})
    expected = torch.tensor([[r / max(sum(row), 1) for r in row] for row in ML_TARGETS.tolist()], dtype=torch.float64)
    for dtype in FLOATS:
        close(multilabel.normalize_targets(strided(ML_TARGETS.to(dtype))), expected, dtype)
    close(multilabel.normalize_targets_np(ML_TARGETS.numpy()), expected)
    close(multilabel.normalize_targets_np(ML_TARGETS.numpy().astype(np.float32)), expected, torch.float32)
    assert multilabel.normalize_targets(ML_TARGETS[:0]).shape == (0, 4)
    bad_arguments(multilabel.label_count_classes, {"targets": ML_TARGETS[[0, 1, 3]], "max_count": 3}, {
        "targets": bad + (ML_TARGETS,), "max_count": (0, 2.0, None, True)})
    assert multilabel.label_count_classes(ML_TARGETS[[0, 1, 3]], np.int64(3)).tolist() == [1, 0, 2]
    assert multilabel.label_count_classes(ML_TARGETS[:0], 3).shape == (0,)


@entry("companion.multilabel.soft_target_cross_entropy", "companion.multilabel.soft_target_cross_entropy_np",
       "companion.multilabel.soft_target_cross_entropy_grad")
def check_soft_target_cross_entropy():
    targets = multilabel.normalize_targets(ML_TARGETS)
    for fn in (multilabel.soft_target_cross_entropy, multilabel.soft_target_cross_entropy_grad):
        bad_arguments(fn, {"logits": ML_LOGITS, "targets": targets}, {
            "logits": NOT_A_TENSOR + (ML_LOGITS.long(), ML_LOGITS[0]), "targets": NOT_A_TENSOR + (targets.long(), targets[:2]),
            "reduction": ("avg", None)})
        every_argument_refuses_an_object(fn, {"logits": ML_LOGITS, "targets": targets, "reduction": "mean"})
    raises(multilabel.soft_target_cross_entropy_grad, ML_LOGITS, targets, "none", name="reduction")
    bad_arguments(multilabel.soft_target_cross_entropy_np, {"logits": ML_LOGITS.numpy(), "targets": targets.numpy()}, {
        "logits": NOT_AN_ARRAY + (ML_LOGITS.long().numpy(),), "targets": NOT_AN_ARRAY, "reduction": ("x",)})
    for reduction in ("none", "mean", "sum"):
        expected = F.cross_entropy(ML_LOGITS, targets, reduction=reduction)
        for dtype in FLOATS:
            got = multilabel.soft_target_cross_entropy(ML_LOGITS.to(dtype), targets.to(dtype), reduction)
            close(got, expected, dtype, **({"rtol": 2e-2, "atol": 3e-2} if dtype in LOW else {}))
        close(multilabel.soft_target_cross_entropy_np(ML_LOGITS.numpy(), targets.numpy(), reduction), expected)
    big = torch.tensor([[1000.0, -1000.0], [-INF, 0.0]], dtype=torch.float64)
    close(multilabel.soft_target_cross_entropy(big, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), "none"),
          F.cross_entropy(big, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), reduction="none"))
    for reduction in ("mean", "sum"):
        logits = ML_LOGITS.clone().requires_grad_()
        F.cross_entropy(logits, targets, reduction=reduction).backward()
        close(multilabel.soft_target_cross_entropy_grad(ML_LOGITS, targets, reduction), logits.grad)
    assert multilabel.soft_target_cross_entropy(ML_LOGITS[:0], targets[:0], "sum").item() == 0.0
    assert multilabel.soft_target_cross_entropy_grad(ML_LOGITS[:0], targets[:0]).shape == (0, 4)


@entry("companion.multilabel.cumulative_decode", "companion.multilabel.top_k_decode")
def check_decoders():
    probs = ML_LOGITS.softmax(1)
    bad_arguments(multilabel.cumulative_decode, {"probs": probs, "threshold": 0.5}, {
        "probs": NOT_A_TENSOR + (probs.long(), probs[0]), "threshold": (0.0, -0.1, 1.5, NAN, "0.5", None)})
    every_argument_refuses_an_object(multilabel.cumulative_decode, {"probs": probs, "threshold": 0.5})
    for t in (0.3, 0.5, 0.9, 1.0):
        expected = torch.zeros(4, 4, dtype=torch.bool)
        for n, row in enumerate(probs.tolist()):
            order = sorted(range(4), key=lambda c: (-row[c], c))
            total = 0.0
            for c in order:
                expected[n, c] = True
                total += row[c]
                if total >= t:
                    break
        assert torch.equal(multilabel.cumulative_decode(probs, np.float32(t) if t != 1.0 else 1), expected), t
    bad_arguments(multilabel.top_k_decode, {"scores": ML_LOGITS, "k": 2}, {
        "scores": NOT_A_TENSOR + (ML_LOGITS.long(),), "k": (-1, 5, 2.0, None, torch.tensor([1, 2]), torch.ones(4), torch.tensor([0, 1, 5, 2]))})
    every_argument_refuses_an_object(multilabel.top_k_decode, {"scores": ML_LOGITS, "k": 2})
    ks = torch.tensor([0, 1, 4, 2])
    for k in (0, 2, 4, ks):
        got = multilabel.top_k_decode(ML_LOGITS, k)
        for n, row in enumerate(ML_LOGITS.tolist()):
            kk = int(k[n]) if isinstance(k, torch.Tensor) else k
            assert set(torch.nonzero(got[n]).flatten().tolist()) == set(sorted(range(4), key=lambda c: (-row[c], c))[:kk])
    assert multilabel.top_k_decode(ML_LOGITS[:0], 2).shape == (0, 4) and multilabel.cumulative_decode(probs[:0], 0.5).shape == (0, 4)


@entry("companion.multilabel.multilabel_scores", "companion.multilabel.MultilabelScores")
def check_multilabel_scores():
    predicted = multilabel.top_k_decode(ML_LOGITS, 2)
    valid = {"predicted": predicted, "targets": ML_TARGETS}
    bad_arguments(multilabel.multilabel_scores, valid, {
        "predicted": NOT_A_TENSOR + (predicted.double(), predicted[0], predicted[:2]), "targets": NOT_A_TENSOR + (ML_TARGETS * 2, ML_TARGETS[:2]),
        "average": ("weighted", None)})
    every_argument_refuses_an_object(multilabel.multilabel_scores, valid)
    p, t = predicted.double(), ML_TARGETS
    ratio = lambda a, b: torch.where(b > 0, a / b.clamp(min=1), 0.0)  # noqa: E731
    for average, axis in (("samples", 1), ("macro", 0), ("none", 0), ("micro", (0, 1))):
        tp, np_, nt = (p * t).sum(axis), p.sum(axis), t.sum(axis)
        pr, rc, f1 = ratio(tp, np_), ratio(tp, nt), ratio(2 * tp, np_ + nt)
        if average in ("samples", "macro"):
            pr, rc, f1 = pr.mean(), rc.mean(), f1.mean()
        for targets in (t, t.bool()):
            got = multilabel.multilabel_scores(predicted, targets, average)
            assert isinstance(got, multilabel.MultilabelScores)
            close(got.precision, pr)
            close(got.recall, rc)
            close(got.f1, f1)


# ----------------------------------------------------------------------------- residual

@entry("companion.residual.zero_pad_shortcut", "companion.residual.zero_pad_shortcut_np", "companion.residual.zero_pad_matrix",
       "companion.residual.ZeroPadShortcut")
def check_zero_pad_shortcut():
    x = randn(2, 3, 5, 4)
    for fn, bad_x in ((residual.zero_pad_shortcut, NOT_A_TENSOR + (x.long(), x[0])),
                      (residual.zero_pad_shortcut_np, NOT_AN_ARRAY + (x.long().numpy(), x.numpy()[0]))):
        xx = x if fn is residual.zero_pad_shortcut else x.numpy()
        bad_arguments(fn, {"x": xx, "out_channels": 5}, {"x": bad_x, "out_channels": (2, 0, 5.0, None), "stride": (0, 2.0, None)})
        every_argument_refuses_an_object(fn, {"x": xx, "out_channels": 5, "stride": 2})
        for stride in (1, 2, 3):
            expected = torch.cat([x[:, :, ::stride, ::stride], torch.zeros(2, 2, -(-5 // stride), -(-4 // stride), dtype=torch.float64)], 1)
            close(fn(xx, np.int64(5), stride), expected)
            matrix = residual.zero_pad_matrix(3, 5)
            close(fn(xx, 5, stride), torch.einsum("oc,nchw->nohw", matrix, x[:, :, ::stride, ::stride]))
        assert fn(xx[:0], 5).shape == (0, 5, 5, 4)
    bad_arguments(residual.zero_pad_matrix, {"in_channels": 3, "out_channels": 5}, {
        "in_channels": (0, 3.0), "out_channels": (2, None), "dtype": (torch.int64, "float64", None)})
    every_argument_refuses_an_object(residual.zero_pad_matrix, {"in_channels": 3, "out_channels": 5})
    assert torch.equal(residual.zero_pad_matrix(2, 3, torch.float32), torch.tensor([[1.0, 0], [0, 1], [0, 0]]))
    bad_arguments(residual.ZeroPadShortcut, {"out_channels": 5, "stride": 2}, {"out_channels": (0, 5.0), "stride": (None, -1)})
    module = residual.ZeroPadShortcut(5, 2)
    bad_arguments(module, {"x": x}, {"x": NOT_A_TENSOR + (x.long(), x[:, :, 0])})
    close(module(x), residual.zero_pad_shortcut(x, 5, 2))


@entry("companion.residual.projection_shortcut_np", "companion.residual.projection", "companion.residual.make_shortcut")
def check_projection():
    x, w = randn(2, 3, 5, 4), randn(4, 3, seed=1)
    valid = {"x": x.numpy(), "weight": w.numpy()}
    bad_arguments(residual.projection_shortcut_np, valid, {
        "x": NOT_AN_ARRAY + (x.long().numpy(), x.numpy()[0]), "weight": NOT_AN_ARRAY + (w.numpy()[:, :2], w.numpy()[0]),
        "stride": (0, 1.5, None)})
    every_argument_refuses_an_object(residual.projection_shortcut_np, {**valid, "stride": 1})
    for stride in (1, 2):
        close(residual.projection_shortcut_np(x.numpy(), w.numpy(), stride), F.conv2d(x, w[:, :, None, None], stride=stride))
    assert residual.projection_shortcut_np(x.numpy()[:0], w.numpy()).shape == (0, 4, 5, 4)
    bad_arguments(residual.projection, {"in_channels": 3, "out_channels": 4, "stride": 2}, {
        "in_channels": (0, 3.0, None), "out_channels": (-1, "4"), "stride": (0, 2.0)})
    every_argument_refuses_an_object(residual.projection, {"in_channels": 3, "out_channels": 4, "stride": 2})
    module = residual.projection(3, 4, 2).double().eval()
    close(module(x), F.conv2d(x, module[0].weight, stride=2) / math.sqrt(1 + module[1].eps))
    valid = {"in_channels": 3, "out_channels": 4, "stride": 2, "option": "B"}
    bad_arguments(residual.make_shortcut, valid, {
        "in_channels": (0, 3.0), "out_channels": (None,), "stride": (0,), "option": ("D", "b", None)})
    every_argument_refuses_an_object(residual.make_shortcut, valid)
    assert isinstance(residual.make_shortcut(3, 3, 1, "B"), nn.Identity) and isinstance(residual.make_shortcut(3, 3, 1, "A"), nn.Identity)
    assert isinstance(residual.make_shortcut(3, 4, 2, "A"), residual.ZeroPadShortcut)
    assert isinstance(residual.make_shortcut(3, 3, 1, "C"), nn.Sequential) and isinstance(residual.make_shortcut(3, 4, 1, "B"), nn.Sequential)


@entry("companion.residual.BasicBlock", "companion.residual.Bottleneck")
def check_blocks():
    x = randn(2, 4, 6, 6)
    for block, expansion in ((residual.BasicBlock, 1), (residual.Bottleneck, 4)):
        valid = {"in_channels": 4, "channels": 2, "stride": 2, "shortcut": "A"}
        bad_arguments(block, valid, {"in_channels": (0, 4.0, None), "channels": (-1, "2"), "stride": (0, 1.5), "shortcut": ("D", None)})
        every_argument_refuses_an_object(block, valid)
        torch.manual_seed(0)
        for shortcut in ("A", "B", "C"):
            if shortcut == "A" and expansion * 2 < 4:
                continue
            module = block(4, 2, 2, shortcut).double().eval()
            bad_arguments(module, {"x": x}, {"x": NOT_A_TENSOR + (x.float(), x.long(), x[0], x[:, :3])})
            expected = torch.relu(module.residual(x) + module.shortcut(x))
            out = module(x)
            close(out, expected)
            assert out.shape == (2, 2 * expansion, 3, 3) and module(x[:0]).shape == (0, 2 * expansion, 3, 3)


@entry("companion.residual.resnet", "companion.residual.shortcut_parameters")
def check_resnet():
    bad_arguments(residual.resnet, {"depth": 18}, {
        "depth": (101, 18.0, None, True), "shortcut": ("D", None), "num_classes": (0, 10.0), "in_channels": (0, "3")})
    every_argument_refuses_an_object(residual.resnet, {"depth": 18, "shortcut": "B", "num_classes": 10, "in_channels": 3})
    counts = {}
    for shortcut in ("A", "B", "C"):
        model = residual.resnet(np.int64(18), shortcut, num_classes=10, in_channels=1)
        counts[shortcut] = residual.shortcut_parameters(model)
        # brute force: parameters of every shortcut module, found by name
        assert counts[shortcut] == sum(p.numel() for n, p in model.named_parameters() if ".shortcut." in n)
    assert counts["A"] == 0 < counts["B"] < counts["C"]
    assert sum(p.numel() for p in residual.resnet(18).parameters()) == 11_689_512
    bad_arguments(residual.shortcut_parameters, {"model": nn.Linear(2, 2)}, {"model": (None, "resnet", object(), residual.resnet)})
    assert residual.shortcut_parameters(nn.Linear(2, 2)) == 0


# ----------------------------------------------------------------------------- receptive_field

@entry("companion.receptive_field.LayerSpec", "companion.receptive_field.ReceptiveField",
       "companion.receptive_field.receptive_fields", "companion.receptive_field.field_bounds")
def check_receptive_fields():
    bad_arguments(rf.LayerSpec, {"kernel_size": 3}, {
        "kernel_size": (0, 3.0, None, True), "stride": (0, "2"), "padding": (-1, 1.0), "dilation": (0, np.float64(1.0))})
    every_argument_refuses_an_object(rf.LayerSpec, {"kernel_size": 3, "stride": 1, "padding": 0, "dilation": 1})
    for bad_name in (3, None, object()):  # raises() takes name= itself, so the field "name" is checked here
        with pytest.raises(TypeError, match=r"^name must be a str"):
            rf.LayerSpec(3, name=bad_name)
    spec = rf.LayerSpec(np.int64(3), np.int64(2), np.int64(1))
    assert spec == rf.LayerSpec(3, 2, 1) and type(spec.kernel_size) is int and spec.extent == 3
    bad_arguments(rf.receptive_fields, {"layers": [spec]}, {"layers": (spec, "conv", None, [spec, (3, 1)], {0: spec})})
    fields = rf.receptive_fields((spec, rf.LayerSpec(2, 2, name="pool")))
    assert fields == [rf.ReceptiveField("0", 3, 2, 0.0), rf.ReceptiveField("pool", 5, 4, 1.0)] and rf.receptive_fields([]) == []
    valid = {"field": fields[-1], "index": 1, "input_size": 9}
    bad_arguments(rf.field_bounds, valid, {
        "field": (None, (5, 4, 1.0), spec), "index": (-1, 1.5, None, True, np.array([0.5]), torch.tensor([-1, 2])),
        "input_size": (0, 9.0, "9")})
    every_argument_refuses_an_object(rf.field_bounds, valid)
    assert rf.field_bounds(fields[-1], np.int64(1), np.int64(9)) == (3, 7) and rf.field_bounds(fields[-1], 2, 9) == (7, 8)
    first, last = rf.field_bounds(fields[-1], torch.tensor([[0, 2]], dtype=torch.int32), 9)
    assert first.tolist() == [[0, 7]] and last.tolist() == [[3, 8]]
    assert rf.field_bounds(fields[-1], np.zeros(0, np.uint8))[0].shape == (0,)


@entry("companion.receptive_field.layer_specs", "companion.receptive_field.gradient_footprint",
       "companion.receptive_field.path_counts")
def check_layer_specs():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    bad_arguments(rf.layer_specs, {"model": model}, {
        "model": (None, nn.Conv2d, nn.Sequential(nn.Conv2d(1, 1, 3), nn.Linear(2, 2)),
                  nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv2d(1, 1, 3)), nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular")),
        "axis": (2, -1, 1.0, None)})
    every_argument_refuses_an_object(rf.layer_specs, {"model": model, "axis": 0})
    assert rf.layer_specs(model, np.int64(1)) == [rf.LayerSpec(3, 1, 1, 1, "0"), rf.LayerSpec(2, 2, 0, 1, "2")]
    valid = {"model": model, "input_shape": (1, 8, 8), "unit": (1, 2)}
    bad_arguments(rf.gradient_footprint, valid, {
        "model": (None, nn.Linear(2, 2), nn.MaxPool2d(2, ceil_mode=True)),
        "input_shape": ([1, 8, 8], (1, 8), (1, 0, 8), (1, 8.0, 8), (True, 8, 8), (2, 8, 8)),
        "unit": ((1,), (4, 0), (-1, 0), (1.0, 2), [1, 2], None)})
    every_argument_refuses_an_object(rf.gradient_footprint, valid)
    footprint = rf.gradient_footprint(model, (np.int64(1), 8, 8), (np.int64(1), 2))
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[1:5, 3:7] = True  # two pooled pixels, each with a 3x3 field, padded
    assert torch.equal(footprint, expected)
    assert torch.equal(rf.gradient_footprint(model.to("meta"), (1, 8, 8), (1, 2)), expected)  # geometry only
    assert torch.equal(rf.gradient_footprint(model.double(), (1, 8, 8), (1, 2)), expected)
    bad_arguments(rf.path_counts, valid, {
        "model": (None, nn.Linear(2, 2), nn.MaxPool2d(2, ceil_mode=True)),
        "input_shape": ([1, 8, 8], (1, 8), (1, 0, 8), (2, 8, 8)), "unit": ((1,), (4, 0), (-1, 0), None)})
    every_argument_refuses_an_object(rf.path_counts, valid)
    counts = rf.path_counts(model.to("meta"), (1, 8, 8), (1, 2))
    assert counts.dtype == torch.float64 and torch.equal(counts != 0, expected) and counts.max() == 4  # 2x2 pool over 3x3 windows


# ----------------------------------------------------------------------------- coordinate networks


@entry("companion.coordinate_networks.pixel_coordinates", "companion.coordinate_networks.two_colour_image",
       "companion.coordinate_networks.grid_centres")
def check_coordinate_grids():
    bad_arguments(cn.pixel_coordinates, {"height": 3, "width": 4}, {
        "height": (0, 1.5, None, True, "3"), "width": (-1, np.float64(4.0)), "dtype": (torch.int64, "float64", None)})
    every_argument_refuses_an_object(cn.pixel_coordinates, {"height": 3, "width": 4, "dtype": torch.float32})
    close(cn.pixel_coordinates(np.int64(2), 1), [[0.5, 1.0], [1.0, 1.0]])
    bad_arguments(cn.two_colour_image, {}, {"height": (0, 2.0, None), "width": (True, -3)})
    assert cn.two_colour_image(1, 1).shape == (1, 1)
    bad_arguments(cn.grid_centres, {"per_side": 2}, {"per_side": (0, 2.0, None), "dims": (0, "2"), "dtype": (torch.int32, None)})
    every_argument_refuses_an_object(cn.grid_centres, {"per_side": 2, "dims": 2, "dtype": torch.float64})
    close(cn.grid_centres(np.int64(2), 1, dtype=torch.float32), [[0.25], [0.75]])


@entry("companion.coordinate_networks.gaussian_projection", "companion.coordinate_networks.fourier_features",
       "companion.coordinate_networks.fourier_features_np", "companion.coordinate_networks.FourierFeatures")
def check_fourier_features():
    valid = {"in_features": 2, "num_frequencies": 3, "scale": 2.0, "generator": gen()}
    bad = {"in_features": (0, 2.0, None), "num_frequencies": (-1, True), "scale": (*NOT_A_NUMBER, 0.0, -1.0, *BAD_NUMBERS),
           "generator": (0, None, "seed")}
    for fn in (cn.gaussian_projection, cn.FourierFeatures):
        bad_arguments(fn, valid, bad | {"dtype": (torch.int64, "float32")})
        every_argument_refuses_an_object(fn, valid)
    projection = cn.gaussian_projection(2, np.int64(3), np.float32(2.0), generator=gen(), dtype=torch.float64)
    close(projection, 2.0 * randn(2, 3))  # the tests' randn draws float64 from a seed-0 generator, as runtime.randn does
    x = randn(5, 2, seed=1)
    x[1, 0], x[2, 1], x[3, 0] = NAN, INF, -INF
    angles = 2 * math.pi * (x @ projection)
    expected = torch.cat([angles.cos(), angles.sin()], 1)  # NaN rows where a coordinate is NaN or infinite
    for fn, numpy in ((cn.fourier_features, False), (cn.fourier_features_np, True)):
        to = (lambda a: a.numpy()) if numpy else (lambda a: a)  # noqa: E731
        bad_arguments(fn, {"x": to(x), "projection": to(projection)}, {
            "x": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(x[:, 0]), to(x.long()), to(x[:, :1])),
            "projection": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(projection[0]), to(projection.long()), to(projection[:1]))})
        every_argument_refuses_an_object(fn, {"x": to(x), "projection": to(projection)})
        for dtype in (torch.float16, torch.float32, torch.float64) if numpy else FLOATS:
            xx = x.to(dtype)
            angles = 2 * math.pi * (xx.double() @ projection.to(dtype).double())
            wanted = torch.cat([angles.cos(), angles.sin()], 1)
            got = fn(strided(to(xx)), to(projection.to(dtype)))  # low precision: computed in float32, rounded back
            close(got, wanted, dtype)
            assert got.dtype == (to(xx).dtype)
        rounded = 2 * math.pi * (x @ projection.float().double())
        close(fn(to(x), to(projection.float())), torch.cat([rounded.cos(), rounded.sin()], 1))  # the projection is cast to x's dtype
        assert fn(to(x[:0]), to(projection)).shape == (0, 6)
    meta_agrees(cn.fourier_features, x, projection)
    layer = cn.FourierFeatures(2, 3, 2.0, generator=gen(), dtype=torch.float64)
    bad_arguments(layer, {"x": x}, {"x": NOT_A_TENSOR + (x[:, :1], x.long())})
    close(layer(x), expected)


@entry("companion.coordinate_networks.rbf_features", "companion.coordinate_networks.rbf_features_np",
       "companion.coordinate_networks.RBFFeatures")
def check_rbf_features():
    x, centres = randn(4, 2), cn.grid_centres(2)
    x[1, 0], x[2, 1] = NAN, INF
    squared = ((x[:, None, :] - centres[None]) ** 2).sum(2)
    expected = torch.exp(-squared / (2 * 0.3**2))  # NaN where x is NaN, 0 where x is infinite
    for fn, numpy in ((cn.rbf_features, False), (cn.rbf_features_np, True)):
        to = (lambda a: a.numpy()) if numpy else (lambda a: a)  # noqa: E731
        valid = {"x": to(x), "centres": to(centres), "width": 0.3}
        bad_arguments(fn, valid, {
            "x": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(x[:, 0]), to(x.long()), to(x[:, :1])),
            "centres": (*(NOT_AN_ARRAY if numpy else NOT_A_TENSOR), to(centres[0]), to(centres.long()), to(centres[:, :1])),
            "width": (*NOT_A_NUMBER, 0.0, -0.3, *BAD_NUMBERS, torch.tensor(0.3))})
        every_argument_refuses_an_object(fn, valid)
        for dtype in (torch.float16, torch.float32, torch.float64) if numpy else FLOATS:
            xx = x.to(dtype)
            wanted = torch.exp(-((xx.double()[:, None, :] - centres.to(dtype).double()[None]) ** 2).sum(2) / (2 * 0.3**2))
            got = fn(strided(to(xx)), to(centres.to(dtype)), np.float64(0.3))
            close(got, wanted, dtype, **({"atol": 1e-6, "rtol": 1e-5} if dtype == torch.float32 else {}))
        close(fn(to(x), to(centres.float()), 0.3), expected)
        assert fn(to(x[:0]), to(centres), 0.3).shape == (0, 4)
    meta_agrees(cn.rbf_features, x, centres, 0.3)
    bad_arguments(cn.RBFFeatures, {"centres": centres, "width": 0.3}, {
        "centres": (*NOT_A_TENSOR, centres[0], centres.long()), "width": (0.0, NAN, "0.3")})
    every_argument_refuses_an_object(cn.RBFFeatures, {"centres": centres, "width": 0.3})
    layer = cn.RBFFeatures(centres, 0.3)
    bad_arguments(layer, {"x": x}, {"x": NOT_A_TENSOR + (x[:, :1], x.long())})
    close(layer(x), expected)


@entry("companion.coordinate_networks.coordinate_mlp")
def check_coordinate_mlp():
    encoding = cn.RBFFeatures(cn.grid_centres(2), 0.3)
    valid = {"hidden": [3, 4], "in_features": 2, "out_features": 2, "encoding": encoding, "activation": "tanh"}
    bad_arguments(cn.coordinate_mlp, valid, {
        "hidden": (3, "34", None, [3, 0], [3, 1.5], [True]), "in_features": (0, 2.0, None), "out_features": (-1, "2"),
        "encoding": ("rbf", lambda x: x, nn.Identity(), cn.RBFFeatures(cn.grid_centres(2, 3), 0.3)),
        "activation": ("gelu", "ReLU", None, ["relu"], nn.ReLU)})
    every_argument_refuses_an_object(cn.coordinate_mlp, valid)
    model = cn.coordinate_mlp(np.array([3]).tolist() + [np.int64(4)], encoding=encoding, activation="tanh").double()
    x = randn(5, 2)
    close(model(x), model[5](torch.tanh(model[3](torch.tanh(model[1](cn.rbf_features(x, cn.grid_centres(2), 0.3)))))))
    assert model(x[:0]).shape == (0, 2)
    assert len(cn.coordinate_mlp((), in_features=7)) == 1


# ----------------------------------------------------------------------------- filter similarity, filter grid


@entry("companion.filter_similarity.filter_cosine_similarity", "companion.filter_similarity.match_filters",
       "companion.filter_similarity.FilterMatch")
def check_filter_similarity():
    a, b = randn(5, 1, 3, 3), randn(5, 1, 3, 3, seed=1)
    for fn in (fsim.filter_cosine_similarity, fsim.match_filters):
        bad_arguments(fn, {"a": a, "b": b}, {"a": NOT_A_TENSOR + (a.long(),), "b": NOT_A_TENSOR + (b[:, :, :2],)})
        every_argument_refuses_an_object(fn, {"a": a, "b": b})
    raises(fsim.match_filters, a, b[:4], name="b")
    raises(fsim.match_filters, randn(17, 2), randn(17, 2), name="a")
    raises(fsim.match_filters, a.to("meta"), b.to("meta"), name="a")
    reference = F.cosine_similarity(a.flatten(1)[:, None], b.flatten(1)[None], dim=2)
    for dtype in FLOATS:
        close(fsim.filter_cosine_similarity(strided(a.to(dtype)), b.to(dtype)), reference, dtype)
    assert fsim.filter_cosine_similarity(a, b.float()).dtype == torch.float64  # b takes a's dtype
    close(fsim.filter_cosine_similarity(a, b.float()), fsim.filter_cosine_similarity(a, b.float().double()))
    nan_a = a.clone()
    nan_a[0, 0, 0, 0] = NAN
    cos = fsim.filter_cosine_similarity(nan_a, b)
    assert cos[0].isnan().all() and not cos[1:].isnan().any()  # NaN reaches only its own row
    raises(fsim.match_filters, nan_a, b, name="a")
    assert fsim.filter_cosine_similarity(a[:0], b).shape == (0, 5)
    meta_agrees(fsim.filter_cosine_similarity, a, b)
    match = fsim.match_filters(a, -2 * b.flip(0))
    torch.testing.assert_close(match.similarity, fsim.match_filters(a, b).similarity)  # order, sign and scale do not count
    bad_arguments(match.aligned, {"b": b}, {"b": NOT_A_TENSOR + (b[:4], b[0, 0, 0, 0])})


@entry("companion.filter_similarity.best_assignment_np")
def check_best_assignment():
    scores = randn(4, 4).numpy()
    bad_arguments(fsim.best_assignment_np, {"scores": scores}, {"scores": NOT_AN_ARRAY + (
        scores[:3], scores[0], scores.astype(np.int64), np.full((2, 2), NAN), np.full((2, 2), INF), np.zeros((17, 17)))})
    best = max(scores[np.arange(4), list(p)].sum() for p in __import__("itertools").permutations(range(4)))
    for dtype in (np.float16, np.float32, np.float64):
        p = fsim.best_assignment_np(strided(scores.astype(dtype)))
        close(scores[np.arange(4), p].sum(), best, torch.float16 if dtype == np.float16 else torch.float64)
    assert fsim.best_assignment_np(np.zeros((0, 0))).shape == (0,)


@entry("companion.filter_similarity.oriented_edge_kernels", "companion.filter_similarity.edge_similarity")
def check_edge_kernels():
    bad_arguments(fsim.oriented_edge_kernels, {}, {
        "size": (2, 4, 3.0, None, True), "orientations": (0, 1.5, "8"), "dtype": (torch.int64, "float64", None),
        "device": ("nowhere", 0.5)})
    every_argument_refuses_an_object(fsim.oriented_edge_kernels, {"size": 3, "orientations": 4, "dtype": torch.float64, "device": "cpu"})
    bank = fsim.oriented_edge_kernels(np.int64(3), np.int64(4), dtype=torch.float32)
    assert bank.dtype == torch.float32 and bank.shape == (4, 3, 3)
    close(bank[0], torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    k = randn(3, 2, 3, 3)
    bad_arguments(fsim.edge_similarity, {"kernels": k}, {
        "kernels": NOT_A_TENSOR + (k.long(), k[0, 0, 0], k[..., :2], k[..., :2, :2]), "bank": (bank[:, :2], bank[0], bank[:0], bank.long())})
    every_argument_refuses_an_object(fsim.edge_similarity, {"kernels": k, "bank": bank.double()})
    expected = torch.stack([F.cosine_similarity(k.flatten(-2), b.flatten(), dim=-1).abs()
                            for b in fsim.oriented_edge_kernels(3, 8)], dim=-1).amax(-1)  # (3, 2)
    for dtype in FLOATS:
        out = fsim.edge_similarity(strided(k.to(dtype)))
        assert out.dtype == dtype and out.shape == (3, 2)
        close(out, expected, dtype)
    nan_k = k.clone()
    nan_k[1, 1, 0, 0] = NAN
    assert fsim.edge_similarity(nan_k).isnan().tolist() == [[False, False], [False, True], [False, False]]
    assert fsim.edge_similarity(k[:0]).shape == (0, 2)
    meta_agrees(fsim.edge_similarity, k)


@entry("companion.plotting.filter_grid")
def check_filter_grid():
    pytest.importorskip("matplotlib")  # optional: companion itself does not need it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = randn(4, 1, 3, 3)
    try:
        bad_arguments(plotting.filter_grid, {"weights": w}, {
            "weights": NOT_A_TENSOR + (w.long(), w[0], w[:0], w.numpy().astype(np.int32), torch.full_like(w, NAN), w.to("meta")),
            "ncols": (0, 1.5, "2"), "vmax": (0.0, -1.0, NAN, "1"), "titles": ("abcd", ["a"]), "row_labels": (["a", "b"],),
            "cmap": (3, None), "panel_size": (0, INF), "label": (None, 3), "title": (3,)})
        every_argument_refuses_an_object(plotting.filter_grid, {"weights": w, "ncols": 2, "vmax": 1.0, "titles": list("abcd"),
                                                               "row_labels": ["r0", "r1"], "cmap": "RdBu_r", "panel_size": 1.0,
                                                               "label": "w", "title": "t"})
        assert not plt.get_fignums()  # every check comes before the figure
        for weights in (w, w.half(), w.bfloat16(), strided(w.numpy().astype(np.float32)), np.float32(2.0) * w.numpy()):
            fig = plotting.filter_grid(weights, ncols=np.int64(2), vmax=np.float32(3.0))
            assert {ax.images[0].get_clim() for ax in fig.axes if ax.images} == {(-3.0, 3.0)} and len(fig.axes) == 5
    finally:
        plt.close("all")


@entry("companion.plotting.segmentation_grid")
def check_segmentation_grid():
    pytest.importorskip("matplotlib")  # optional: companion itself does not need it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = randn(2, 3, 4, 4).abs().clamp(0, 1)
    labels = randint(3, 2, 4, 4, seed=1)
    names = ["background", "square", "disc"]
    try:
        bad_arguments(plotting.segmentation_grid, {"images": images, "labels": labels, "class_names": names}, {
            "images": NOT_A_TENSOR + (images.long(), images[0], images[:0], images[:, :2], images.to("meta")),
            "labels": NOT_A_TENSOR + (labels.float(), labels[0], labels[:, :3], labels + 3, labels - 1, labels.to("meta")),
            "class_names": ("abc", [], list("abcdef"), None), "titles": ("ab", ["a"]), "panel_size": (0, INF, "1"),
            "title": (3,)})
        raises(plotting.segmentation_grid, images, labels, labels[:, :3], class_names=names, name="predictions[0]")
        raises(plotting.segmentation_grid, images, labels, labels, labels + 3, class_names=names, name="predictions[1]")
        every_argument_refuses_an_object(plotting.segmentation_grid, {"images": images, "labels": labels, "class_names": names,
                                                                      "titles": ["a", "b"], "panel_size": 1.0, "title": "t"})
        assert not plt.get_fignums()  # every check comes before the figure
        for x in (images, images.half(), images.numpy().astype(np.float32)):
            for y in (labels, labels.int(), labels.numpy().astype(np.uint8)):
                fig = plotting.segmentation_grid(x, y, y, class_names=names)
                assert len(fig.axes) == 2 * 3
    finally:
        plt.close("all")


# ----------------------------------------------------------------------------- normalizers and denoising (chapter 4.5)

from companion import denoising, normalizers as nz  # noqa: E402


@entry("companion.normalizers.MinMaxNormalizer", "companion.normalizers.ZScoreNormalizer",
       "companion.normalizers.QuantileNormalizer")
def check_normalizers():
    x = randn(3, 1, 4, 4) * 10 + 5
    bad_arguments(nz.QuantileNormalizer, {"low": 5.0, "high": 95.0}, {
        "low": (-1.0, 101.0, NAN, "5", None, True), "high": (200.0, INF, "95", None)})
    raises(nz.QuantileNormalizer, 50.0, 50.0, name="low")
    for cls in (nz.MinMaxNormalizer, nz.ZScoreNormalizer, nz.QuantileNormalizer):
        unfitted = cls()
        raises(unfitted.transform, x, name="x")  # before fit: refused, naming what it was asked to map
        raises(unfitted.inverse_transform, x, name="y")
        for bad in NOT_A_TENSOR + (x.long(), x[:0], x.to("meta"), torch.full((3,), 2.0), torch.tensor([1.0, NAN]),
                                    np.array([1.0, INF])):
            raises(cls().fit, bad, name="x")
        fitted = cls().fit(np.int64(1) * x)  # a tensor; the statistics are Python floats
        assert isinstance(fitted.offset, float) and isinstance(fitted.scale, float)
        for method, name in ((fitted.transform, "x"), (fitted.inverse_transform, "y")):
            for bad in NOT_A_TENSOR + (x.long(), x.numpy().astype(np.int32)):
                raises(method, bad, name=name)
        expected = (x - fitted.offset) / fitted.scale
        for dtype in FLOATS:
            out = fitted.transform(x.to(dtype))
            assert out.dtype == dtype
            close(out, expected.to(dtype).double(), dtype)
        close(fitted.transform(strided(x)), expected)
        close(fitted.transform(x.numpy()), expected)
        close(fitted.transform(torch.tensor([NAN, INF, -INF], dtype=torch.float64)),
              torch.tensor([NAN, INF, -INF], dtype=torch.float64))  # the scale is positive
        close(fitted.inverse_transform(fitted.transform(x)), x)
        assert fitted.transform(x[:0]).shape == (0, 1, 4, 4)
        refit = cls().fit(x.half())  # float16 statistics computed in float32
        assert abs(refit.scale - fitted.scale) < 1e-2 * fitted.scale + 1e-2


@entry("companion.normalizers.psnr", "companion.normalizers.psnr_np")
def check_psnr():
    p, t = randn(2, 1, 3, 3), randn(2, 1, 3, 3, seed=1)
    mse = ((p - t) ** 2).mean()
    expected = 10 * torch.log10(4.0 / mse)
    for fn, make in ((nz.psnr, lambda v: v), (nz.psnr_np, lambda v: v.numpy())):
        valid = {"prediction": make(p), "target": make(t), "data_range": 2.0}
        bad_arguments(fn, valid, {
            "prediction": (NOT_A_TENSOR if fn is nz.psnr else NOT_AN_ARRAY) + (make(p.long()),),
            "target": (make(t[:1]), make(t.long()), None),
            "data_range": (0.0, -1.0, NAN, INF, "1", None, True),
            "per_image": ("yes", None, 1)})
        every_argument_refuses_an_object(fn, valid)
        close(fn(**valid), expected)
        close(fn(**{**valid, "data_range": np.float32(2.0)}), expected)
        close(fn(**valid, per_image=True), 10 * torch.log10(4.0 / ((p - t) ** 2).mean(dim=(1, 2, 3))))
        close(fn(make(strided(p)), make(t), 2.0), expected)
        close(fn(make(p[:0]), make(t[:0]), 2.0), torch.tensor(NAN, dtype=torch.float64))
        assert tuple(fn(make(p[:0]), make(t[:0]), 2.0, per_image=True).shape) == (0,)
        close(fn(make(t), make(t), 2.0), torch.tensor(INF, dtype=torch.float64))
        close(fn(make(p.clone().fill_(NAN)), make(t), 2.0), torch.tensor(NAN, dtype=torch.float64))
    for dtype in FLOATS:
        out = nz.psnr(p.to(dtype), t.to(dtype), 2.0)
        assert out.dtype == dtype
        close(out, 10 * torch.log10(4.0 / ((p.to(dtype).double() - t.to(dtype).double()) ** 2).mean()).to(dtype), dtype)
    meta_agrees(nz.psnr, p, t, 2.0)


@entry("companion.denoising.make_denoising_pairs", "companion.denoising.DenoisingAutoencoder")
def check_denoising():
    valid = {"num_images": 2, "generator": gen(), "size": 8}
    bad_arguments(denoising.make_denoising_pairs, valid, {
        "num_images": (-1, 2.0, None), "size": (0, 8.0), "generator": (None, "g"),
        "spots": (-1, 1.5), "background": (-1.0, NAN, 5000.0), "brightness": ((1.0,), (5.0, 1.0), None, ("a", 2.0)),
        "noise": (-1.0, INF), "hot_pixel_rate": (1.5, NAN), "dtype": (torch.int64, "float64")})
    every_argument_refuses_an_object(denoising.make_denoising_pairs, valid)
    clean, noisy = denoising.make_denoising_pairs(np.int64(2), generator=gen(), size=8, dtype=torch.float32)
    assert clean.shape == noisy.shape == (2, 1, 8, 8) and clean.dtype == torch.float32
    assert denoising.make_denoising_pairs(0, generator=gen())[0].shape == (0, 1, 16, 16)
    bad_arguments(denoising.DenoisingAutoencoder, {"channels": 1, "width": 4, "output": "linear"}, {
        "channels": (0, 1.0, None), "width": (0, "4"), "output": ("relu", None, "Sigmoid")})
    model = runtime.init_parameters(denoising.DenoisingAutoencoder(np.int64(1), 4, "sigmoid"), gen()).double()
    x = randn(2, 1, 4, 6)
    bad_arguments(model, {"x": x}, {"x": NOT_A_TENSOR + (x.float(), x.long(), x[0], x[:, :, :3], torch.cat([x, x], 1))})
    out = model(x)
    assert out.shape == x.shape and 0 < out.min() and out.max() < 1
    assert model(x[:0]).shape == (0, 1, 4, 6)
    assert torch.isnan(model(torch.full_like(x, NAN))).all()

# ----------------------------------------------------------------------------- run every entry (keep last)


def _checks() -> dict[Callable[[], None], list[str]]:
    """Each entry once, with the names it covers (the twins of an idea share one)."""
    checks: dict[Callable[[], None], list[str]] = {}
    for name, check in sorted(BATTERY.items()):
        checks.setdefault(check, []).append(name.removeprefix("companion."))
    return checks


@pytest.mark.parametrize("check", list(_checks()), ids=["+".join(names) for names in _checks().values()])
def test_contract(check):
    check()
