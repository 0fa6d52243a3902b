"""When a new best instruction may replace the one in production, and when production has regressed.

One rule for both, a paired comparison on the same test examples (see
:mod:`instructzero.registry.comparison`):

- **Promotion**: the new version goes to production only if its test score is
  above the floor (by default the best of the user's baseline instructions, else
  zero) and it beats production by at least `min_improvement` with the lower end
  of the difference's interval above zero. Production's scores are those on the
  same split with the same black box (the registry re-scores the incumbent when
  either changed, see `registry.incumbent_scores`). A forced promotion skips
  both checks.
- **Regression**: a re-check finds production's instruction worse than when it
  was promoted by more than `margin`, with the interval of the drop above zero.
  A dip inside the interval is noise, not a regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instructzero.config.evaluation import EvaluationConfig
from instructzero.registry.comparison import Comparison, compare


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    comparison: Comparison | None = None


def decide_promotion(
    challenger: np.ndarray,
    incumbent: np.ndarray | None,
    *,
    incumbent_version: str | None = None,
    floor: float = 0.0,
    floor_source: str = "zero",
    min_improvement: float = 0.0,
    force: bool = False,
    evaluation: EvaluationConfig = EvaluationConfig(),
    seed: int = 0,
) -> PromotionDecision:
    """Promote `challenger` (its `t` per-example test scores) over `incumbent` (production's, same examples)?"""
    score = float(np.mean(challenger))
    if force:
        return PromotionDecision(True, "promotion forced (registry.force_promotion)")
    if score <= floor:
        return PromotionDecision(False, f"test score {score:.3f} is not above the floor {floor:.3f} ({floor_source});"
                                        " kept in staging")  # fmt: skip
    if incumbent is None:
        return PromotionDecision(True, f"first version in production (test score {score:.3f}, above the floor "
                                       f"{floor:.3f} of {floor_source})")  # fmt: skip
    comparison = compare(challenger, incumbent, paired=True, n_samples=evaluation.bootstrap_samples,
                         confidence=evaluation.confidence, seed=seed)  # fmt: skip
    versus = f"production version {incumbent_version} ({float(np.mean(incumbent)):.3f})"
    if comparison.difference >= min_improvement and comparison.ci_low > 0:
        return PromotionDecision(True, f"test score {score:.3f} beats {versus}: {comparison.describe()}", comparison)
    why = f"less than the required {min_improvement:+.3f}" if comparison.difference < min_improvement else \
        "not beyond noise"  # fmt: skip
    return PromotionDecision(
        False, f"test score {score:.3f} against {versus}: {comparison.describe()}, {why}; kept in staging", comparison
    )


@dataclass(frozen=True)
class RegressionDecision:
    regression: bool
    reason: str
    comparison: Comparison


def detect_regression(
    current: np.ndarray,
    promoted: np.ndarray,
    *,
    paired: bool,
    margin: float,
    evaluation: EvaluationConfig = EvaluationConfig(),
    seed: int = 0,
) -> RegressionDecision:
    """Has production's instruction got worse than when it was promoted (`promoted` per-example scores)?"""
    drop = compare(promoted, current, paired=paired, n_samples=evaluation.bootstrap_samples,
                   confidence=evaluation.confidence, seed=seed)  # fmt: skip
    now, then = float(np.mean(current)), float(np.mean(promoted))
    if drop.difference > margin and drop.ci_low > 0:
        return RegressionDecision(True, f"regression: test score {now:.3f} against {then:.3f} when promoted, a drop of "
                                        f"{drop.describe()}, beyond the margin {margin:.3f}", drop)  # fmt: skip
    why = "within the margin" if drop.difference <= margin else "within noise"
    return RegressionDecision(False, f"no regression: test score {now:.3f} against {then:.3f} when promoted, a drop of "
                                     f"{drop.describe()}, {why} ({margin:.3f})", drop)  # fmt: skip
