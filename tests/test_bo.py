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
