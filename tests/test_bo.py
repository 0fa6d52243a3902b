import numpy as np
import pytest

from instructzero.search.bo import _deduplicate, next_soft_prompts, sobol_design, uniform_design

OPTIMUM = np.array([0.3, -0.5, 0.7, -0.2])
WIDTHS = np.array([0.4, 0.6, 0.8, 1.0, 1.2])


def per_example_scores(p: np.ndarray) -> np.ndarray:
    """`n x 5` synthetic 'per-example scores' in [0, 1]; their mean peaks at 1 at OPTIMUM."""
    sq = ((p - OPTIMUM) ** 2).sum(-1, keepdims=True)
    return np.exp(-sq / (2 * WIDTHS**2))


def run(strategy: str, kernel: str, seed: int, n_init=8, rounds=4, q=4) -> float:
    x = sobol_design(n_init, 4, seed) if strategy == "bo" else uniform_design(n_init, 4, seed)
    for r in range(rounds):
        s = per_example_scores(x)
        new = next_soft_prompts(x, s, q=q, seed=seed * 100 + r, strategy=strategy, kernel=kernel,
                                num_restarts=4, raw_samples=128)  # fmt: skip
        assert new.shape == (q, 4) and np.all(np.abs(new) <= 1)
        x = np.concatenate([x, new])
    return float(per_example_scores(x).mean(1).max())


@pytest.mark.parametrize("kernel", ["coupled", "matern"])
def test_bo_beats_random_search_at_equal_budget(kernel):
    bo = [run("bo", kernel, seed) for seed in range(3)]
    rnd = [run("uniform", kernel, seed) for seed in range(3)]
    assert np.mean(bo) > np.mean(rnd) + 0.05, (bo, rnd)
    assert min(bo) > 0.8, bo


def test_proposals_are_deterministic_given_the_seed():
    x = sobol_design(6, 4, 0)
    a = next_soft_prompts(x, per_example_scores(x), q=3, seed=7, num_restarts=2, raw_samples=64)
    b = next_soft_prompts(x, per_example_scores(x), q=3, seed=7, num_restarts=2, raw_samples=64)
    np.testing.assert_array_equal(a, b)


def test_designs_are_seeded_and_in_bounds():
    a, b = sobol_design(25, 10, 3), sobol_design(25, 10, 3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (25, 10) and np.all((a >= -1) & (a <= 1))
    assert not np.array_equal(a, sobol_design(25, 10, 4))
    assert np.all(np.abs(uniform_design(5, 10, 0)) <= 1)


def test_duplicates_of_evaluated_points_are_replaced():
    evaluated = sobol_design(4, 3, 0)
    candidates = np.stack([evaluated[1], evaluated[1], np.full(3, 0.123)])
    kept = _deduplicate(candidates, evaluated, seed=1)
    assert kept.shape == (3, 3)
    rows = np.concatenate([evaluated, kept])
    gaps = np.abs(rows[:, None] - rows[None]).max(-1) + np.eye(len(rows))
    assert gaps.min() > 1e-6
    np.testing.assert_array_equal(kept[2], candidates[2])


def noisy_scores(p: np.ndarray, m: int = 20, seed: int = 0) -> np.ndarray:
    """`n x m` 0/1 per-example scores, each right with the probability of `per_example_scores`' mean."""
    rng = np.random.default_rng(seed)
    return (rng.random((len(p), m)) < per_example_scores(p).mean(1, keepdims=True)).astype(float)


def test_binomial_noise_is_fixed_per_observation_from_the_counts():
    from instructzero.search.bo import binomial_variance, fit_gp

    x = sobol_design(12, 4, 0)
    s = noisy_scores(x)
    variance = binomial_variance(s)
    k = s.sum(1)
    np.testing.assert_allclose(variance, (k + 0.5) / 21 * (1 - (k + 0.5) / 21) / 20)
    model = fit_gp(x, s.mean(1), s, "coupled", noise="binomial")
    # The GP works on standardized targets: its fixed noise is the variance over the targets' variance.
    np.testing.assert_allclose(model.likelihood.noise.detach().numpy(), variance / s.mean(1).var(ddof=1), rtol=1e-6)
    learned = fit_gp(x, s.mean(1), s, "coupled")
    assert learned.likelihood.noise.numel() == 1  # the paper's model: one fitted noise level


@pytest.mark.parametrize("acquisition", ["ei", "thompson"])
def test_the_noise_aware_gp_finds_the_optimum_from_noisy_counts(acquisition):
    def search(strategy: str, seed: int) -> float:
        x = sobol_design(8, 4, seed) if strategy == "bo" else uniform_design(8, 4, seed)
        for r in range(4):
            new = next_soft_prompts(x, noisy_scores(x, seed=seed), q=3, seed=seed * 100 + r, strategy=strategy,
                                    kernel="matern", noise="binomial", acquisition=acquisition, num_restarts=2,
                                    raw_samples=64)  # fmt: skip
            assert new.shape == (3, 4) and np.all(np.abs(new) <= 1)
            x = np.concatenate([x, new])
        return float(per_example_scores(x).mean(1).max())  # the true value of the best point found

    bo, rnd = [search("bo", s) for s in range(3)], [search("uniform", s) for s in range(3)]
    assert np.mean(bo) > np.mean(rnd) + 0.05, (bo, rnd)
