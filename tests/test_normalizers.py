"""Normalizers against scikit-learn's scalers on one column, round trips, refusal before fit; PSNR against a loop."""

import math

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from companion.normalizers import MinMaxNormalizer, QuantileNormalizer, ZScoreNormalizer, _percentiles_by_selection, psnr, psnr_np

NORMALIZERS = (MinMaxNormalizer, ZScoreNormalizer, QuantileNormalizer)


def images(generator, shape=(5, 2, 7, 6)) -> torch.Tensor:
    """Skewed data with a few outliers, float64."""
    x = torch.randn(shape, generator=generator, dtype=torch.float64).exp() * 100
    x.view(-1)[::37] = 4095.0
    return x


def sklearn_column(x: torch.Tensor) -> np.ndarray:
    return x.cpu().numpy().reshape(-1, 1)  # one column: scikit-learn's per-column statistics become global


@pytest.mark.parametrize("numpy", [False, True])
def test_against_sklearn(generator, device, numpy):
    x = images(generator).to(device)
    data = x.cpu().numpy() if numpy else x
    column = sklearn_column(x)
    expected = {
        MinMaxNormalizer: MinMaxScaler().fit_transform(column),
        ZScoreNormalizer: StandardScaler().fit_transform(column),
    }
    for cls, want in expected.items():
        got = cls().fit_transform(data)
        np.testing.assert_allclose(np.asarray(got.cpu() if not numpy else got).reshape(-1, 1), want, rtol=1e-12, atol=1e-12)
    # RobustScaler divides by the same q95 - q5, but subtracts the median (or nothing) instead of q5
    quantile = QuantileNormalizer(5, 95).fit(data)
    got = np.asarray(quantile.transform(data) if numpy else quantile.transform(data).cpu()).reshape(-1, 1)
    q5, median, q95 = np.percentile(column, [5, 50, 95])
    centred = RobustScaler(quantile_range=(5, 95)).fit_transform(column)
    np.testing.assert_allclose(got - (median - q5) / (q95 - q5), centred, rtol=1e-12, atol=1e-12)
    scaled = RobustScaler(quantile_range=(5, 95), with_centering=False).fit_transform(column)
    np.testing.assert_allclose(got + q5 / (q95 - q5), scaled, rtol=1e-12, atol=1e-12)
    assert quantile.offset == pytest.approx(q5, rel=1e-14) and quantile.scale == pytest.approx(q95 - q5, rel=1e-14)


@pytest.mark.parametrize("low, high", [(5, 95), (0, 100), (25, 75), (1.5, 99.9), (0, 10)])
def test_percentiles_match_numpy(generator, low, high):
    for size in (2, 3, 10, 1001):
        x = torch.randn(size, generator=generator, dtype=torch.float64)
        x[-1] = x[-2] if size > 2 else x[-1]  # a tie
        ours = QuantileNormalizer(low, high).fit(x)
        q_low, q_high = np.percentile(x.numpy(), [low, high])
        assert ours.offset == pytest.approx(q_low, rel=1e-13, abs=1e-15)
        assert ours.scale == pytest.approx(q_high - q_low, rel=1e-12, abs=1e-15)
        twin = QuantileNormalizer(low, high).fit(x.numpy())
        assert (twin.offset, twin.scale) == pytest.approx((ours.offset, ours.scale), rel=1e-13, abs=1e-15)
        # the selection used off the CPU, run here too
        selected = _percentiles_by_selection(x, (low, high))
        assert selected == pytest.approx([q_low, q_high], rel=1e-13, abs=1e-15)


def test_full_range_quantile_is_min_max(generator):
    x = images(generator)
    q, m = QuantileNormalizer(0, 100).fit(x), MinMaxNormalizer().fit(x)
    assert (q.offset, q.scale) == (m.offset, m.scale)


@pytest.mark.parametrize("cls", NORMALIZERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_and_shape(generator, device, cls, dtype):
    x = images(generator).to(device, dtype)
    normalizer = cls().fit(x)
    y = normalizer.transform(x)
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    tol = dict(rtol=1e-5, atol=1e-3) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(normalizer.inverse_transform(y), x, **tol)
    y_np = normalizer.transform(x.cpu().numpy())  # a fitted normalizer maps arrays and tensors alike
    np.testing.assert_allclose(y_np, y.cpu().numpy(), rtol=1e-6)
    assert normalizer.transform(x[:0]).shape == x[:0].shape  # empty in, empty out


def test_statistics_are_global_and_what_they_say(generator):
    x = images(generator)
    flat = x.numpy().ravel()
    z = ZScoreNormalizer().fit(x)
    assert z.offset == pytest.approx(flat.mean(), rel=1e-13) and z.scale == pytest.approx(flat.std(ddof=0), rel=1e-13)
    assert z.transform(x).mean().abs() < 1e-12 and abs(z.transform(x).std(correction=0) - 1) < 1e-12
    m = MinMaxNormalizer().fit(x)
    assert (m.transform(x).min(), m.transform(x).max()) == (0.0, 1.0)
    q = QuantileNormalizer().fit(x)
    below, above = (q.transform(x) < 0).double().mean(), (q.transform(x) > 1).double().mean()
    assert abs(below - 0.05) < 0.01 and abs(above - 0.05) < 0.01  # not clipped


@pytest.mark.parametrize("cls", NORMALIZERS)
def test_refuses_before_fit(cls):
    normalizer = cls()
    assert not normalizer.fitted and "not fitted" in repr(normalizer)
    for method in (normalizer.transform, normalizer.inverse_transform):
        with pytest.raises(ValueError, match="not fitted: call fit"):
            method(torch.zeros(3))
    normalizer.fit(torch.tensor([0.0, 1.0, 2.0, 5.0]))
    assert normalizer.fitted


@pytest.mark.parametrize("cls", NORMALIZERS)
def test_bad_fit_input(cls):
    for bad, error, words in (
        (torch.zeros(0), ValueError, "at least one value"),
        (torch.tensor([1.0, math.nan]), ValueError, "finite"),
        (np.array([1.0, math.inf]), ValueError, "finite"),
        (torch.full((4,), 3.0), ValueError, "constant"),
        (torch.tensor([1, 2]), TypeError, "floating-point"),
        ([1.0, 2.0], TypeError, "torch.Tensor or a numpy.ndarray"),
    ):
        with pytest.raises(error, match=words):
            cls().fit(bad)
    fitted = cls().fit(torch.tensor([0.0, 1.0, 3.0]))
    with pytest.raises(TypeError, match="y must be"):
        fitted.inverse_transform([0.5])


def test_quantile_arguments():
    for low, high in ((95, 5), (5, 5), (-1, 50), (5, 101)):
        with pytest.raises(ValueError, match="low|high"):
            QuantileNormalizer(low, high)
    with pytest.raises(TypeError, match="low"):
        QuantileNormalizer("5", 95)


def test_nan_passes_through_transform():
    n = ZScoreNormalizer().fit(torch.tensor([0.0, 2.0]))
    assert torch.isnan(n.transform(torch.tensor([math.nan]))).all()


# ----------------------------------------------------------------------------- PSNR


def psnr_loop(prediction: np.ndarray, target: np.ndarray, data_range: float) -> float:
    total = 0.0
    for p, t in zip(prediction.ravel().tolist(), target.ravel().tolist()):
        total += (p - t) ** 2
    return 10 * math.log10(data_range**2 / (total / prediction.size))


@pytest.mark.parametrize("data_range", [1.0, 255, 4095.0])
def test_psnr_against_loop(generator, device, data_range):
    target = torch.rand(3, 1, 5, 4, generator=generator, dtype=torch.float64) * data_range
    prediction = target + 0.05 * data_range * torch.randn(target.shape, generator=generator, dtype=torch.float64)
    whole = psnr_loop(prediction.numpy(), target.numpy(), data_range)
    per = [psnr_loop(p, t, data_range) for p, t in zip(prediction.numpy(), target.numpy())]
    assert psnr(prediction.to(device), target.to(device), data_range).item() == pytest.approx(whole, rel=1e-12)
    assert float(psnr_np(prediction.numpy(), target.numpy(), data_range)) == pytest.approx(whole, rel=1e-12)
    np.testing.assert_allclose(psnr(prediction.to(device), target.to(device), data_range, per_image=True).cpu(), per, rtol=1e-12)
    np.testing.assert_allclose(psnr_np(prediction.numpy(), target.numpy(), data_range, per_image=True), per, rtol=1e-12)


def test_psnr_edge_cases():
    x = torch.ones(2, 3)
    assert psnr(x, x, 1.0).item() == math.inf
    assert math.isnan(psnr(x[:0], x[:0], 1.0).item())
    assert psnr(x[:0], x[:0], 1.0, per_image=True).shape == (0,)
    assert np.isnan(psnr_np(np.zeros(0), np.zeros(0), 1.0))
    assert psnr(x.half(), (x * 0.5).half(), 1.0).dtype == torch.float16
    # 10 log10(1 / 0.25) = 6.02 dB: an error of half the range
    assert psnr(x, x * 0.5, 1.0).item() == pytest.approx(10 * math.log10(4))


def test_psnr_bad_input():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:1], 1.0)
    with pytest.raises(ValueError, match="data_range"):
        psnr(x, x, 0.0)
    with pytest.raises(TypeError, match="data_range"):
        psnr(x, x, None)
    with pytest.raises(TypeError, match="target"):
        psnr(x, x.numpy(), 1.0)
    with pytest.raises(TypeError, match="prediction"):
        psnr_np(x, x.numpy(), 1.0)
    with pytest.raises(TypeError, match="per_image"):
        psnr(x, x, 1.0, per_image="yes")
    with pytest.raises(TypeError, match="prediction"):
        psnr(x.long(), x, 1.0)
