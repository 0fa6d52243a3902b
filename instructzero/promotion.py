"""When a new best instruction may replace the one in production.

The rule: the new version goes to production only if its test score is strictly
higher than production's on the same test split with the same black box (the
registry re-scores the incumbent when either changed, see `registry.incumbent_score`); ties keep the
incumbent, which has already proven itself in production. A forced promotion
skips the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    new_score: float, incumbent_score: float | None, incumbent_version: str | None = None, force: bool = False
) -> PromotionDecision:
    if force:
        return PromotionDecision(True, "promotion forced (registry.force_promotion)")
    if incumbent_score is None:
        return PromotionDecision(True, "first version in production for this task")
    versus = f"production version {incumbent_version}'s {incumbent_score:.3f}"
    if new_score > incumbent_score:
        return PromotionDecision(True, f"test score {new_score:.3f} beats {versus}")
    return PromotionDecision(False, f"test score {new_score:.3f} does not beat {versus}; kept in staging")
