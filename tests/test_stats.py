"""The statistics behind every verdict, checked against scipy's reference implementations, known values, and by
simulation with both noise sources known (seed to seed, and which images the test set holds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from conv_workshop.stats import (
    Arm,
    Verdict,
    compare,
    compare_family,
    contrast,
    family_noise,
    holm,
    interval_from_summary,
    mcnemar_by_class,
    mean_interval,
    seed_pools,
    seeds_needed,
    verdict,
)

# --- exact cases: scipy's tests where ours reduces to them ---


def test_without_per_image_data_it_is_welchs_t_test():
    a, b = [0.902, 0.905, 0.899], [0.893, 0.896, 0.887, 0.891]
    result = compare(Arm.of(a), Arm.of(b))
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    low, high = reference.confidence_interval(0.95)
    assert (result.low, result.high) == pytest.approx((low * 100, high * 100), rel=1e-9)
    assert result.difference == pytest.approx((np.mean(a) - np.mean(b)) * 100)
    assert result.test_se == 0


def test_two_arms_in_one_pool_are_students_pooled_t_test():
    a, b = [0.902, 0.905, 0.899], [0.893, 0.896, 0.887, 0.891]
    result = compare(Arm.of(a, pool="same recipe"), Arm.of(b, pool="same recipe"))
    reference = scipy_stats.ttest_ind(a, b, equal_var=True)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == pytest.approx(len(a) + len(b) - 2)


def test_pooling_over_a_family_gives_every_comparison_the_family_s_degrees_of_freedom():
    rng = np.random.default_rng(3)
    arms = [Arm.of(0.9 + rng.normal(0, 0.002, 3), pool="p") for _ in range(15)]
    pools = seed_pools(arms + [arms[0]])  # an arm met twice (a shared reference) counts once
    assert pools["p"].df == 30 and pools["p"].arms == 15
    assert pools["p"].variance == pytest.approx(np.mean([np.var(a.accuracies, ddof=1) for a in arms]))
    assert compare(arms[1], arms[0], pools).df == pytest.approx(30)


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


def test_seed_flips_are_not_counted_twice():
    """Two identical models whose seeds flip images at random, independently: all the test-set variance of the
    seed-averaged correctness is seed noise, which the seed term holds, so the test-set term is (about) zero."""
    rng = np.random.default_rng(4)
    chance = rng.uniform(0.6, 1.0, 3000)  # the same per-image chances in both arms: no true per-image difference
    correct_a, correct_b = (rng.random((7, 3000)) < chance for _ in range(2))
    result = compare(Arm.of(correct_a.mean(1), correct_a), Arm.of(correct_b.mean(1), correct_b))
    uncorrected = np.var(correct_a.mean(0) - correct_b.mean(0), ddof=1) / 3000
    assert result.test_se < 0.25 * math.sqrt(uncorrected) * 100


def test_one_seed_alone_cannot_be_tested_but_can_with_a_pool():
    result = compare(Arm.of([0.9]), Arm.of([0.8, 0.81]))
    assert math.isnan(result.p_value) and math.isnan(result.low)
    assert verdict(result.difference, float("nan"), 1) == Verdict("not resolved", seeds=1)
    pooled = compare(Arm.of([0.9], pool="p"), Arm.of([0.8, 0.81, 0.805], pool="p"))
    assert pooled.df == pytest.approx(2) and pooled.p_value < 0.05


def test_a_contrast_of_four_arms_is_the_interaction():
    rng = np.random.default_rng(5)
    arms = [Arm.of(m + rng.normal(0, 0.003, 5)) for m in (0.83, 0.78, 0.937, 0.89)]
    interaction = contrast(arms, [1, -1, -1, 1])
    lead = [compare(arms[0], arms[1]), compare(arms[2], arms[3])]
    assert interaction.difference == pytest.approx(lead[0].difference - lead[1].difference)
    assert interaction.se == pytest.approx(math.hypot(lead[0].se, lead[1].se))


# --- equivalence, correction, verdicts ---


def test_equivalence_is_two_one_sided_tests():
    a, b = [0.9001, 0.9003, 0.8999, 0.9002], [0.9000, 0.9002, 0.8998, 0.9001]  # 0.01 points apart, tiny noise
    result = compare(Arm.of(a), Arm.of(b))
    assert result.p_equivalent < 0.001
    assert verdict(result.difference, result.p_value, 4, result.p_equivalent) == Verdict("equivalent", margin=0.5)
    noisy = compare(Arm.of([0.90, 0.91, 0.89]), Arm.of([0.905, 0.895, 0.90]))
    assert noisy.p_equivalent > 0.05  # an interval wider than the margin cannot show equivalence
    # TOST at level α is the (1 − 2α) interval inside the margin.
    t = scipy_stats.t.ppf(0.95, result.df)
    inside = result.difference - t * result.se > -0.5 and result.difference + t * result.se < 0.5
    assert inside == (result.p_equivalent < 0.05)


def test_holm_matches_known_values():
    # Holm (1979) step-down: sorted p × (m − rank), made monotone.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02], nan_ok=True)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1
    # A family of 3 of which one test is run: the missing two count as p = 1, never making it less strict.
    assert holm([0.01], family_size=3) == pytest.approx([0.03])
    assert holm([0.01, 0.02], family_size=3) == pytest.approx([0.03, 0.04])


def test_verdicts_say_better_or_worse_only_when_significant():
    assert verdict(+0.5, 0.01, 3) == Verdict("better")
    assert verdict(-0.5, 0.049, 3) == Verdict("worse")
    assert verdict(-0.5, 0.05, 3) == Verdict("not resolved", seeds=3)
    assert verdict(-0.1, 0.6, 7, 0.01) == Verdict("equivalent", margin=0.5)


def test_a_family_is_corrected_together():
    rng = np.random.default_rng(2)
    reference = Arm.of(0.90 + rng.normal(0, 0.002, 3))
    comparisons = {f"v{i}": (Arm.of(0.90 + shift + rng.normal(0, 0.002, 3)), reference)
                   for i, shift in enumerate([0.0, -0.02, 0.001])}
    table = compare_family(comparisons)
    assert (table.p_holm >= table.p_value).all() and table.family_size.iloc[0] == 3
    assert table.set_index("comparison").loc["v1", "verdict"] == Verdict("worse")
    assert compare_family(comparisons, family_size=5).family_size.iloc[0] == 5


def test_mcnemar_per_class_is_scipy_s_exact_binomial_test_on_the_discordant_images():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, 600)
    a, b = rng.random(600) < 0.9, rng.random(600) < 0.8
    table = mcnemar_by_class(a, b, labels, ["x", "y", "z"])
    first = labels == 0
    only_a, only_b = int((a & ~b & first).sum()), int((~a & b & first).sum())
    expected = scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert table.loc[0, "only_a"] == only_a and table.loc[0, "p_value"] == pytest.approx(expected)
    assert (table.p_holm >= table.p_value - 1e-12).all()


def test_seeds_needed_falls_with_the_noise_and_rises_with_the_family():
    quiet = seeds_needed(seed_sd=0.2, test_se=0.1, difference=0.5)
    noisy = seeds_needed(seed_sd=0.4, test_se=0.1, difference=0.5)
    assert quiet < noisy
    assert seeds_needed(0.2, 0.1, 0.5, family_size=10) > quiet


def test_mean_intervals():
    interval = mean_interval([1.0, 2.0, 3.0])
    mean, low, high = interval.mean, interval.low, interval.high
    assert mean == 2.0 and (low, high) == pytest.approx((2 - 2.4841377, 2 + 2.4841377))
    assert interval_from_summary(2.0, 1.0, 3) == pytest.approx((low, high))
    assert all(math.isnan(v) for v in interval_from_summary(2.0, 0.1, 1))


# --- by simulation: both noise sources known ---
#
# A population of 200,000 images; arm x gets image i right with chance μ_x,i (a logistic function of the image's
# difficulty, the arm's skill and the arm's own per-image quirk). One trained seed moves every chance of its arm by
# g · μ(1 − μ), with g uniform and centred, so that averaged over seeds each chance is μ exactly; each image is then
# right or wrong by a coin with that chance. A test set is 2,000 images drawn from the population, and the true
# difference is the population mean of μ_a − μ_b: what a run would approach with infinitely many seeds and images.

POPULATION, IMAGES, REPETITIONS = 200_000, 2_000, 2_000


def _chances(rng: np.random.Generator, skills: list[float]) -> list[np.ndarray]:
    difficulty = rng.normal(size=POPULATION)
    return [1 / (1 + np.exp(-(2.3 + skill + 2.5 * difficulty + 0.8 * rng.normal(size=POPULATION))))
            for skill in skills]


def _arm(rng: np.random.Generator, chance: np.ndarray, seeds: int, pool: str) -> Arm:
    wobble = rng.uniform(-0.22, 0.22, size=(seeds, 1))  # the seed's effect on all of its images
    correct = rng.random((seeds, len(chance))) < chance + wobble * chance * (1 - chance)
    return Arm.of(correct.mean(1), correct, pool)


def _simulate(populations: list[np.ndarray], seeds: int, pooled: bool, seed: int) -> list[list]:
    """Each repetition: a fresh test set and fresh seeds for every arm; arm 1 (the reference) against each other."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(REPETITIONS):
        images = rng.integers(0, POPULATION, IMAGES)
        arms = [_arm(rng, chance[images], seeds, "p" if pooled else "") for chance in populations]
        pools = seed_pools(arms)
        results.append([compare(arm, arms[0], pools) for arm in arms[1:]])
    return results


def _binomial_slack(rate: float) -> float:
    return 2 * math.sqrt(rate * (1 - rate) / REPETITIONS)  # two standard errors of a simulated proportion


@pytest.mark.parametrize("seeds", [3, 7])
@pytest.mark.parametrize("pooled", [False, True], ids=["Welch", "pooled over 6 arms"])
def test_the_95_interval_covers_the_true_difference_93_to_97_percent_of_the_time(seeds, pooled):
    rng = np.random.default_rng(seeds)
    populations = _chances(rng, [0.0, -0.1] + ([0.05, 0.1, -0.05, 0.15] if pooled else []))
    truth = (populations[1].mean() - populations[0].mean()) * 100
    differences = [row[0] for row in _simulate(populations, seeds, pooled, seed=10 + seeds)]
    coverage = np.mean([d.low <= truth <= d.high for d in differences])
    assert 0.93 <= coverage <= 0.97, coverage
    # Both sources matter in this simulation, as in the real runs: neither standard error dwarfs the other.
    ratio = np.median([d.test_se / d.seed_se for d in differences])
    assert 0.2 < ratio < 5, ratio


@pytest.mark.parametrize("seeds", [3, 7])
def test_a_true_zero_is_called_a_difference_at_most_5_percent_of_the_time(seeds):
    rng = np.random.default_rng(100 + seeds)
    chance = _chances(rng, [0.0])[0]
    # The same chances, shuffled over images: equal population means, real per-image differences.
    differences = [row[0] for row in _simulate([chance, rng.permutation(chance)], seeds, False, seed=20 + seeds)]
    false_positives = np.mean([d.p_value < 0.05 for d in differences])
    assert false_positives <= 0.05 + _binomial_slack(0.05), false_positives


def test_holm_keeps_the_chance_of_any_false_call_in_a_family_at_5_percent():
    rng = np.random.default_rng(7)
    chance = _chances(rng, [0.0])[0]
    populations = [chance] + [rng.permutation(chance) for _ in range(5)]  # five variants, none truly different
    rows = _simulate(populations, 3, True, seed=30)
    any_false = np.mean([min(holm([d.p_value for d in row])) < 0.05 for row in rows])
    assert any_false <= 0.05 + _binomial_slack(0.05), any_false


def test_family_noise_refuses_a_family_size_that_is_not_a_count():
    with pytest.raises(ValueError, match="family_size is nan"):
        family_noise({}, None, float("nan"))


def test_the_accuracy_interval_of_one_model_is_the_binomial_one():
    from conv_workshop.stats import accuracy_interval

    low, high = accuracy_interval(9_360, 10_000)
    assert low < 0.936 < high and abs((high - low) / 2 - 1.96 * (0.936 * 0.064 / 10_000) ** 0.5) < 2e-4
    assert accuracy_interval(10, 10)[1] == 1.0 and accuracy_interval(10, 10)[0] > 0.6  # no interval past 100 %
