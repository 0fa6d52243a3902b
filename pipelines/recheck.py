"""The re-check pipeline: today's black box and test split against the production instruction (wiring only)."""

from zenml import pipeline

from instructzero.config.run import RunConfig
from instructzero.pipelines.settings import step_options
from instructzero.steps.load_task import load_task
from instructzero.steps.names import LOAD_TASK, RECHECK_PRODUCTION
from instructzero.steps.recheck_production import recheck_production


@pipeline(enable_cache=False)
def recheck_pipeline(config: RunConfig):
    task, _ = load_task.with_options(**step_options(LOAD_TASK, config.kubernetes))(task=config.task, seed=config.seed)
    return recheck_production.with_options(**step_options(RECHECK_PRODUCTION, config.kubernetes))(
        model_name=config.registry_model_name, blackbox=config.blackbox, evaluation=config.evaluation,
        recheck=config.recheck, seed=config.seed, task=task,
    )
