"""Image helpers and scikit-learn's estimator checks."""

import numpy as np
import pytest

import lca
from conftest import unit_rows


def test_extract_patches_matches_scikit_learns_layout():
    fe = pytest.importorskip("sklearn.feature_extraction.image")
    rng = np.random.default_rng(0)
    for img in (rng.random((9, 11)).astype(np.float32), rng.random((9, 11, 3)).astype(np.float32)):
        ours, pos = lca.extract_patches(img, 4, stride=1, return_positions=True)
        ref = fe.extract_patches_2d(img, (4, 4)).reshape(len(ours), -1)
        np.testing.assert_array_equal(ours, ref)
        assert pos.shape == (len(ours), 2) and tuple(pos[-1]) == (7, 5)


def test_extract_patches_normalized_and_covering_grid():
    rng = np.random.default_rng(1)
    img = rng.random((20, 21)).astype(np.float32)
    P, pos = lca.extract_patches(img, 8, normalize=True, return_positions=True)
    # Stride 4 plus a last tile flush with each border.
    assert sorted(set(pos[:, 0])) == [0, 4, 8, 12, 13] and sorted(set(pos[:, 1])) == [0, 4, 8, 12]
    np.testing.assert_allclose(P.mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="stride"):
        lca.extract_patches(img, 8, stride=9)


def test_reconstruct_image_with_a_complete_dictionary_is_near_exact():
    rng = np.random.default_rng(2)
    img = rng.random((24, 24)).astype(np.float32)
    D = unit_rows(np.eye(16) + 0.01)
    rec, codes, psnr = lca.reconstruct_image(img, D, alpha=1e-4, return_codes=True)
    assert rec.shape == img.shape and codes.shape[1] == 16
    assert psnr > 50


def test_check_estimator_sparse_coder():
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    rng = np.random.default_rng(0)
    # Like scikit-learn's own SparseCoder, ours is stateless with a fixed
    # dictionary, which fixes n_features (3 here, what most checks use). The
    # checks below fit data of another width (2, 4, 5 or 10 features, or 1),
    # so they cannot apply; every other check runs and must pass.
    D = unit_rows(rng.standard_normal((6, 3)))
    other_width = "fits data with another number of features than the fixed dictionary's 3"
    expected = {name: other_width for name in (
        "check_estimators_overwrite_params", "check_estimators_fit_returns_self", "check_readonly_memmap_input",
        "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit", "check_estimators_dtypes",
        "check_dtype_object", "check_transformers_unfitted_stateless", "check_fit2d_1sample",
        "check_fit2d_1feature", "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    )}
    expected["check_transformer_n_iter"] = ("max_iter bounds each sample's solver dynamics; a stateless coder "
                                            "has no fit iterations to report in n_iter_")
    checks.check_estimator(lca.SparseCoder(D), expected_failed_checks=expected, on_fail="raise")


def test_check_estimator_dictionary_learning():
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    est = lca.DictionaryLearning(n_components=3, n_steps=5, batch_size=16)
    checks.check_estimator(est, expected_failed_checks={}, on_fail="raise")
