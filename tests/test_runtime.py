"""Device choice, seeding, and random draws that are the same on every CPU."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from companion.runtime import default_device, init_parameters, numpy_rng, randn, seed_everything, spawn, uniform


def test_seed_everything_makes_cpu_draws_repeatable():
    a = seed_everything(3)
    first = (torch.randn(3, generator=a), torch.randn(3))
    b = seed_everything(3)
    second = (torch.randn(3, generator=b), torch.randn(3))
    assert all(torch.equal(p, q) for p, q in zip(first, second))
    with pytest.raises(TypeError, match="seed must be an int; got float"):
        seed_everything(1.5)
    with pytest.raises(ValueError, match="seed must be >= 0; got -1"):
        seed_everything(-1)  # NumPy would refuse it after Python and PyTorch were already seeded


def test_default_device_follows_cuda_availability():
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


# What the portability test draws, run in this process and in a child process
# that is restricted to PyTorch's baseline kernels (as on an older CPU).
DRAWS = """
import hashlib, json, torch
from torch import nn
from companion.data import make_blobs
from companion.segmentation_data import make_segmentation_data
from companion.runtime import init_parameters, randn, uniform
from companion.unet import UNet

def digest(*tensors):
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()

g = torch.Generator().manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10), nn.Embedding(40, 16))
out = {
    "capability": torch.backends.cpu.get_cpu_capability(),
    "randn": digest(randn((1000, 100), generator=g), randn(257, generator=g, dtype=torch.float64)),
    "uniform": digest(uniform((1000, 100), -0.3, 0.3, generator=g)),
    "init_parameters": digest(*init_parameters(net, g).parameters()),
    "unet": digest(*init_parameters(UNet(3, 5, width=8), g).parameters()),
    "blobs": digest(*make_blobs(500, 3, generator=g)),
    "segmentation": digest(*make_segmentation_data(64, generator=g)),
}
print(json.dumps(out))
"""


# what torch.backends.cpu.get_cpu_capability() calls the kernels without vector instructions
BASELINE_NAMES = ("DEFAULT", "NO AVX")  # "NO AVX" in PyTorch 2.1


def _draws(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", DRAWS], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_draws_have_the_same_bits_under_every_cpu_kernel_family():
    native = _draws({})
    baseline = _draws({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"})
    assert baseline.pop("capability") in BASELINE_NAMES
    native.pop("capability")
    assert native == baseline


def test_the_plain_torch_draws_do_depend_on_the_cpu_kernels():
    """The reason the helpers exist: float32 randn and uniform_ differ between kernel families."""
    code = (
        "import torch, hashlib; g = torch.Generator().manual_seed(0); "
        "print(hashlib.sha1(torch.randn(1000, generator=g).numpy().tobytes()).hexdigest())"
    )
    runs = {
        cap: subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "ATEN_CPU_CAPABILITY": cap},
            capture_output=True, text=True, check=True,
        ).stdout
        for cap in ("default", "avx2")
    }
    if torch.backends.cpu.get_cpu_capability() in BASELINE_NAMES:
        pytest.skip("this CPU has no vector kernels to compare with")
    assert runs["default"] != runs["avx2"]


def test_randn_and_uniform_have_the_requested_distribution_and_dtype():
    g = torch.Generator().manual_seed(1)
    z = randn((200_000,), generator=g)
    u = uniform((200_000,), -2.0, 3.0, generator=g, dtype=torch.float64)
    assert z.dtype == torch.float32 and u.dtype == torch.float64
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
    assert u.min().item() >= -2.0 and u.max().item() < 3.0 and abs(u.mean().item() - 0.5) < 0.02
    assert abs(u.var().item() - 25 / 12) < 0.03


def test_random_draws_refuse_bad_arguments():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(TypeError, match="dtype must be a floating-point torch.dtype; got torch.int64"):
        randn(3, generator=g, dtype=torch.int64)
    with pytest.raises(ValueError, match="low must be <= high; got low=1.0, high=0.0"):
        uniform(3, 1.0, 0.0, generator=g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        randn(3, generator=None)
    with pytest.raises(ValueError, match="size must be >= 0"):
        randn((2, -1), generator=g)


def test_init_parameters_draws_pytorchs_default_distribution():
    g = torch.Generator().manual_seed(0)
    layer = init_parameters(nn.Conv2d(16, 32, 3), g)
    fan_in = 16 * 3 * 3
    bound = 1 / fan_in**0.5
    w = layer.weight.detach()
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.99 * bound
    assert abs(w.var().item() - bound**2 / 3) < 0.05 * bound**2  # variance of U(-b, b) is b^2 / 3
    assert layer.bias.abs().max().item() <= bound
    reference = nn.Conv2d(16, 32, 3)  # PyTorch's own draw: same bound
    assert reference.weight.abs().max().item() <= bound


def test_init_parameters_resets_norms_and_refuses_unknown_layers():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    with torch.no_grad():
        net[1].weight.fill_(3.0)
    init_parameters(net, g)
    assert torch.equal(net[1].weight, torch.ones(4))
    with pytest.raises(TypeError, match="does not know how PyTorch initialises LSTM"):
        init_parameters(nn.LSTM(4, 4), g)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module; got int"):
        init_parameters(3, g)


def test_init_parameters_keeps_the_constants_a_module_resets():
    from companion.mixing import GatedMix

    mix = init_parameters(nn.Sequential(nn.Linear(3, 6), GatedMix(6, hidden=4)), torch.Generator().manual_seed(0))
    first, last = mix[1].gate[0], mix[1].gate[-1]
    assert torch.count_nonzero(first.weight) == first.weight.numel()  # drawn
    assert torch.count_nonzero(last.weight) == 0 and torch.count_nonzero(last.bias) == 0  # reset to zero after the draws


def test_init_parameters_keeps_dtype_and_is_repeatable():
    a = init_parameters(nn.Linear(5, 3).double(), torch.Generator().manual_seed(4))
    b = init_parameters(nn.Linear(5, 3).double(), torch.Generator().manual_seed(4))
    assert a.weight.dtype == torch.float64
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_spawned_generators_follow_the_parent_seed_and_are_independent_streams():
    a, b = seed_everything(5), seed_everything(5)
    child_a, child_b = spawn(a), spawn(b)
    assert torch.equal(torch.rand(4, generator=child_a), torch.rand(4, generator=child_b))
    assert np.array_equal(numpy_rng(a).random(3), numpy_rng(b).random(3))
    other = spawn(seed_everything(6))
    assert not torch.equal(torch.rand(4, generator=spawn(seed_everything(5))), torch.rand(4, generator=other))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        spawn(np.random.default_rng(0))
