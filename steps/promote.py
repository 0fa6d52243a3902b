from typing import Annotated, Any

from zenml import ArtifactConfig, get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages

from instructzero import evaluation, promotion
from instructzero.blackbox import make_blackbox
from instructzero.config import RunConfig
from instructzero.data import TaskData
from instructzero.evaluation import evaluate_on_test
from instructzero.loop import OptimizationResult
from instructzero.promotion import decide_promotion, split_fingerprint
from steps.caching import depends_on
from steps.response_cache import step_response_cache


@step(cache_policy=depends_on(promotion, evaluation), enable_cache=False)
def promote(
    config: RunConfig, task: TaskData, result: OptimizationResult
) -> Annotated[str, ArtifactConfig(name="best_instruction")]:
    """Register the best instruction on this run's model version and promote it if it beats production.

    Works on the step context's model version (this run's own), never on "latest", which
    a concurrent run could have created. Never cached: production may have changed.
    """
    version = get_step_context().model
    fingerprint = split_fingerprint(task.test, task.metric)
    blackbox = make_blackbox(config.blackbox)
    identity = blackbox.identity
    metadata = registry_metadata(config, result, fingerprint, identity, str(get_step_context().pipeline_run.id))
    version.log_metadata(metadata)

    incumbent = _production(version.name)
    incumbent_score = incumbent_version = None
    if incumbent is not None and incumbent.id != version.id:
        incumbent_version = str(incumbent.number)
        meta = incumbent.run_metadata
        incumbent_score = float(meta.get("test_score", 0.0))
        if meta.get("test_fingerprint") != fingerprint or meta.get("blackbox_identity") != identity:
            # Not comparable as stored: re-score production's instruction on this split and black box.
            with step_response_cache(config.blackbox) as cache:
                rescored = evaluate_on_test(str(meta["instruction"]), task.test, blackbox,
                                            task.metric, cache, n_bootstrap=10)  # fmt: skip
            incumbent_score = rescored.score
            incumbent_version += " (re-scored)"
    decision = decide_promotion(result.test.score, incumbent_score, incumbent_version, config.registry.force_promotion)
    stage = ModelStages.PRODUCTION if decision.promote else ModelStages.STAGING
    version.set_stage(stage, force=True)  # force: the previous production version is archived
    version.log_metadata({"promotion": decision.reason, "promoted": decision.promote})
    log_metadata({"model": version.name, "version": str(version.number), "stage": stage.value,
                  "reason": decision.reason})  # fmt: skip
    print(f"registry: {version.name} version {version.number} -> {stage.value}: {decision.reason}")
    return result.best_instruction


def registry_metadata(
    config: RunConfig, result: OptimizationResult, fingerprint: str, identity: str, run_id: str
) -> dict[str, Any]:
    t = result.test
    return {
        "instruction": result.best_instruction,
        "task": result.task,
        "metric": result.metric,
        "validation_score": result.validation_score,
        "test_score": t.score,
        "test_ci_low": t.ci_low,
        "test_ci_high": t.ci_high,
        "test_examples": len(t.per_example),
        "test_fingerprint": fingerprint,
        "blackbox_model": config.blackbox.model,
        "blackbox_identity": identity,
        "whitebox_model": config.whitebox.model,
        "budget_instructions": config.max_instructions,
        "blackbox_calls": result.blackbox_calls,
        "cost_usd": result.cost_usd,
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "run_id": run_id,
    }


def _production(model_name: str):
    """The production version, or None; a stage with no version raises KeyError in ZenML."""
    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None
