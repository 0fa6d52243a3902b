"""The re-check pipeline: today's black box and test split against the production instruction and, when that
regressed and the config says so, a full optimization in the same run (wiring only).

It is a dynamic pipeline: whether the optimization runs is decided by the re-check's outcome, so its steps
exist only in a run that needs them. A static DAG would have to start every optimization step on every
re-check and let it no-op when production is healthy: on Kubernetes a pod per step, among them the GPU pod
of generation, every night. ZenML's local and Kubernetes orchestrators both run dynamic pipelines (on
Kubernetes the pipeline function runs in the orchestrator pod, each step in a pod of its own: see
`step_options`), and a schedule of this pipeline carries the whole rule, re-optimization included.
"""

from zenml import pipeline

from instructzero.config.run import RunConfig
from instructzero.pipelines.search import optimize_task
from instructzero.pipelines.settings import step_options
from instructzero.registry.recheck import reoptimization
from instructzero.steps.load_task import load_task
from instructzero.steps.names import LOAD_TASK, RECHECK_PRODUCTION
from instructzero.steps.recheck_production import recheck_production


@pipeline(dynamic=True, enable_cache=False)
def recheck_pipeline(config: RunConfig):
    task, _ = load_task.with_options(**step_options(LOAD_TASK, config.kubernetes))(task=config.task, seed=config.seed)
    check = recheck_production.with_options(**step_options(RECHECK_PRODUCTION, config.kubernetes))(
        model_name=config.registry_model_name, blackbox=config.blackbox, evaluation=config.evaluation,
        recheck=config.recheck, seed=config.seed, task=task,
    )  # fmt: skip
    follow_up = reoptimization(config, check.load())
    if follow_up is not None:
        optimize_task(follow_up, task=task)
