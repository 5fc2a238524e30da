"""The statistics behind every verdict, checked against scipy's reference implementations and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from conv_workshop.stats import Arm, compare, compare_family, holm, interval_from_summary, mean_interval, verdict


def test_without_per_image_data_it_is_welchs_t_test():
    a, b = [0.902, 0.905, 0.899], [0.893, 0.896, 0.887, 0.891]
    result = compare(Arm.of(a), Arm.of(b))
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    low, high = reference.confidence_interval(0.95)
    assert (result.low, result.high) == pytest.approx((low * 100, high * 100), rel=1e-9)
    assert result.difference == pytest.approx((np.mean(a) - np.mean(b)) * 100)
    assert result.test_se == 0


def test_without_seed_noise_it_is_the_paired_t_test_over_test_images():
    rng = np.random.default_rng(0)
    correct_a = np.tile(rng.random(500) < 0.9, (3, 1))  # three seeds that agree on every image: no seed variance
    correct_b = np.tile(rng.random(500) < 0.85, (3, 1))
    a, b = Arm.of(correct_a.mean(1), correct_a), Arm.of(correct_b.mean(1), correct_b)
    result = compare(a, b)
    per_image = correct_a.mean(0) - correct_b.mean(0)
    reference = scipy_stats.ttest_1samp(per_image, 0.0)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == pytest.approx(len(per_image) - 1)


def test_both_noise_sources_add_and_widen_the_interval():
    rng = np.random.default_rng(1)
    correct_a, correct_b = rng.random((3, 2000)) < 0.90, rng.random((3, 2000)) < 0.89
    accuracies_a, accuracies_b = correct_a.mean(1), correct_b.mean(1)
    seeds_only = compare(Arm.of(accuracies_a), Arm.of(accuracies_b))
    both = compare(Arm.of(accuracies_a, correct_a), Arm.of(accuracies_b, correct_b))
    assert both.high - both.low > seeds_only.high - seeds_only.low
    assert math.hypot(both.seed_se, both.test_se) == pytest.approx(
        (both.high - both.low) / 2 / scipy_stats.t.ppf(0.975, both.df))


def test_one_seed_cannot_be_tested():
    result = compare(Arm.of([0.9]), Arm.of([0.8, 0.81]))
    assert math.isnan(result.p_value) and math.isnan(result.low)
    assert verdict(result.difference, float("nan"), 1) == "not resolved with 1 seed"


def test_holm_matches_known_values():
    # Holm (1979) step-down: sorted p × (m − rank), made monotone.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02], nan_ok=True)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_verdicts_say_better_or_worse_only_when_significant():
    assert verdict(+0.5, 0.01, 3) == "better"
    assert verdict(-0.5, 0.049, 3) == "worse"
    assert verdict(-0.5, 0.05, 3) == "not resolved with 3 seeds"


def test_a_family_is_corrected_together():
    rng = np.random.default_rng(2)
    reference = Arm.of(0.90 + rng.normal(0, 0.002, 3))
    comparisons = {f"v{i}": (Arm.of(0.90 + shift + rng.normal(0, 0.002, 3)), reference)
                   for i, shift in enumerate([0.0, -0.02, 0.001])}
    table = compare_family(comparisons)
    assert (table.p_holm >= table.p_value).all() and table.family_size.iloc[0] == 3
    assert table.set_index("comparison").loc["v1", "verdict"] == "worse"


def test_mean_intervals():
    interval = mean_interval([1.0, 2.0, 3.0])
    mean, low, high = interval.mean, interval.low, interval.high
    assert mean == 2.0 and (low, high) == pytest.approx((2 - 2.4841377, 2 + 2.4841377))
    assert interval_from_summary(2.0, 1.0, 3) == pytest.approx((low, high))
    assert all(math.isnan(v) for v in interval_from_summary(2.0, 0.1, 1))
