"""PCA of codes, ablation and the rotation symmetry: against scikit-learn's PCA and brute-force loops."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SklearnPCA
from torch import nn

from companion.latent_codes import (
    ablation_effect,
    explained_variance_ratio,
    fold_rotation,
    fold_rotation_np,
    pca,
    pca_np,
    random_rotation,
)
from companion.runtime import init_parameters, randn


def correlated_codes(generator, n=200, d=6):
    scales = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.1], dtype=torch.float64)[:d]
    mixing = random_rotation(d, generator)
    return (randn((n, d), generator=generator, dtype=torch.float64) * scales) @ mixing + 1.0


@pytest.mark.parametrize("method", ["eigh", "svd"])
def test_pca_matches_scikit_learn(device, generator, method):
    codes = correlated_codes(generator)
    reference = SklearnPCA(svd_solver="full").fit(codes.numpy())
    ours = pca(codes.to(device), method)
    ours_np = pca_np(codes.numpy(), method)
    np.testing.assert_allclose(ours.variances.cpu().numpy(), reference.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours_np.variances, reference.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(explained_variance_ratio(ours.variances).cpu().numpy(), reference.explained_variance_ratio_,
                               rtol=1e-10)
    np.testing.assert_allclose(ours.mean.cpu().numpy(), reference.mean_, rtol=1e-12)
    # directions agree up to sign; ours have their largest entry positive
    signs = np.sign(np.sum(ours.components.cpu().numpy() * reference.components_, axis=1))
    np.testing.assert_allclose(ours.components.cpu().numpy(), reference.components_ * signs[:, None], atol=1e-8)
    np.testing.assert_allclose(ours_np.components, ours.components.cpu().numpy(), atol=1e-8)


def test_eigh_and_svd_agree(generator):
    codes = correlated_codes(generator)
    a, b = pca(codes, "eigh"), pca(codes, "svd")
    torch.testing.assert_close(a.variances, b.variances)
    torch.testing.assert_close(a.components, b.components)


def test_rank_deficient_codes_give_zero_variances(generator):
    codes = randn((50, 2), generator=generator, dtype=torch.float64) @ randn((2, 5), generator=generator, dtype=torch.float64)
    variances = pca(codes).variances
    assert (variances >= 0).all() and variances[2:].max() < 1e-12 * variances[0]


def ablation_loop(decode, codes, directions, mode):
    reference = codes.mean(0) if mode == "mean" else torch.zeros(codes.shape[1], dtype=codes.dtype)
    base = decode(codes)
    out = []
    for v in directions:
        changed = torch.stack([decode((z - ((z - reference) @ v) * v)[None])[0] for z in codes])
        out.append(((changed - base) ** 2).mean())
    return torch.stack(out)


@pytest.mark.parametrize("mode", ["mean", "zero"])
def test_ablation_matches_a_loop(device, generator, mode):
    decoder = init_parameters(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 5)), generator).double()
    codes = randn((12, 4), generator=generator, dtype=torch.float64)
    with torch.no_grad():
        expected = ablation_loop(decoder, codes, torch.eye(4, dtype=torch.float64), mode)
        rotated = random_rotation(4, generator)
        expected_dirs = ablation_loop(decoder, codes, rotated, mode)
    decoder = decoder.to(device)
    torch.testing.assert_close(ablation_effect(decoder, codes.to(device), mode=mode).cpu(), expected)
    torch.testing.assert_close(ablation_effect(decoder, codes.to(device), rotated.to(device), mode).cpu(), expected_dirs)


def test_ablating_a_constant_unit_with_its_mean_changes_nothing(generator):
    decoder = init_parameters(nn.Linear(3, 4), generator).double()
    codes = randn((10, 3), generator=generator, dtype=torch.float64)
    codes[:, 1] = 0.7
    effect = ablation_effect(decoder, codes)
    assert effect[1] == 0 and (effect[[0, 2]] > 0).all()


def test_random_rotation_is_orthogonal(generator):
    q = random_rotation(7, generator)
    torch.testing.assert_close(q @ q.T, torch.eye(7, dtype=torch.float64))


def test_fold_rotation_keeps_the_function_and_changes_the_code(device, generator):
    encoder = init_parameters(nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(6, 4)), generator).double().to(device)
    decoder = init_parameters(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 10)), generator).double().to(device)
    q = random_rotation(4, generator).to(device)
    new_out, new_in = fold_rotation(encoder[2], decoder[0], q)
    rotated_encoder, rotated_decoder = nn.Sequential(encoder[0], encoder[1], new_out), nn.Sequential(new_in, *decoder[1:])
    x = randn((16, 10), generator=generator, dtype=torch.float64).to(device)
    with torch.no_grad():
        torch.testing.assert_close(rotated_encoder(x), encoder(x) @ q.T)
        torch.testing.assert_close(rotated_decoder(rotated_encoder(x)), decoder(encoder(x)))
        assert not torch.allclose(rotated_encoder(x), encoder(x))
    w, b, w_dec = fold_rotation_np(encoder[2].weight.detach().cpu().numpy(), encoder[2].bias.detach().cpu().numpy(),
                                   decoder[0].weight.detach().cpu().numpy(), q.cpu().numpy())
    np.testing.assert_allclose(w, new_out.weight.detach().cpu().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b, new_out.bias.detach().cpu().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w_dec, new_in.weight.detach().cpu().numpy(), rtol=1e-12)


def test_empty_directions(generator):
    codes = randn((5, 3), generator=generator, dtype=torch.float64)
    assert ablation_effect(lambda z: z, codes, torch.zeros(0, 3, dtype=torch.float64)).shape == (0,)


def test_bad_input():
    with pytest.raises(ValueError, match=r"codes must have shape \(N, D\); got shape \(5,\)"):
        pca(torch.zeros(5))
    with pytest.raises(ValueError, match="codes must have at least 2 rows"):
        pca(torch.zeros(1, 3))
    with pytest.raises(TypeError, match="codes must be a numpy.ndarray"):
        pca_np(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="method must be one of"):
        pca(torch.zeros(4, 3), "qr")
    with pytest.raises(ValueError, match="method 'svd' needs at least D = 5 rows"):
        pca(torch.zeros(3, 5), "svd")
    with pytest.raises(ValueError, match="variances must have a positive sum"):
        explained_variance_ratio(torch.zeros(3))
    with pytest.raises(ValueError, match=r"directions must have shape \(K, D\) with D = 3"):
        ablation_effect(lambda z: z, torch.zeros(4, 3), torch.eye(2))
    with pytest.raises(ValueError, match="mode must be one of"):
        ablation_effect(lambda z: z, torch.zeros(4, 3), mode="median")
    with pytest.raises(ValueError, match=r"rotation must have shape \(D, D\) = \(4, 4\)"):
        fold_rotation(nn.Linear(3, 4), nn.Linear(4, 3), torch.eye(3))
    with pytest.raises(TypeError, match="encoder_out and decoder_in must be nn.Linear"):
        fold_rotation(nn.Conv2d(3, 4, 1), nn.Linear(4, 3), torch.eye(4))
