"""Is one instruction better than another beyond noise? One paired comparison for promotion and regression.

Both instructions are scored on the same test examples, so the comparison is
paired: the per-example differences `d_i = a_i - b_i` are resampled (bootstrap
over examples) and the percentile interval of their mean decides. Pairing
removes the examples' own difficulty from the noise: with 30 test examples the
interval of one score alone spans about ±0.15, while two instructions that
differ on one example get an interval of their difference around [0, 0.1].
When the examples differ (the test split changed), the two scores are resampled
independently instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instructzero.stats import DEFAULT_BOOTSTRAP_SAMPLES, bootstrap_means, percentile_interval


@dataclass(frozen=True)
class Comparison:
    """`a` minus `b`: the mean difference and its bootstrap interval."""

    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    paired: bool

    def describe(self) -> str:
        kind = "paired examples" if self.paired else "examples, unpaired"
        return (f"{self.difference:+.3f} ({round(self.confidence * 100)}% CI {self.ci_low:+.3f} to "
                f"{self.ci_high:+.3f}, {self.n} {kind})")  # fmt: skip


def compare(
    a: np.ndarray,
    b: np.ndarray,
    paired: bool = True,
    n_samples: int = DEFAULT_BOOTSTRAP_SAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Mean of `a` minus mean of `b` with a percentile bootstrap interval.

    Args:
        a, b: per-example scores; with `paired`, both `t`-dim on the same examples in the same order.
        paired: resample example indices jointly (same test split) or each sample on its own.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if paired and a.shape != b.shape:
        raise ValueError(f"a paired comparison needs scores on the same examples ({a.shape} vs {b.shape})")
    rng = np.random.default_rng(seed)
    if paired:
        samples = bootstrap_means(a - b, n_samples, rng)
    else:
        samples = bootstrap_means(a, n_samples, rng) - bootstrap_means(b, n_samples, rng)
    low, high = percentile_interval(samples, confidence)
    return Comparison(float(a.mean() - b.mean()), float(low), float(high), confidence, len(a), paired)
