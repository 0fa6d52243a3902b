"""The re-check pipeline: today's black box and test split against each task's production instruction and,
for a task that regressed when its config says so, a full optimization in the same run (wiring only).

It is a dynamic pipeline: whether a task's optimization runs is decided by its re-check's outcome, so those
steps exist only in a run that needs them. A static DAG would have to start every optimization step on every
re-check and let it no-op when production is healthy: on Kubernetes a pod per step, among them the GPU pod
of generation, every night. ZenML's local and Kubernetes orchestrators both run dynamic pipelines (on
Kubernetes the pipeline function runs in the orchestrator pod, each step in a pod of its own: see
`step_options`), and a schedule of this pipeline carries the whole rule, re-optimization included.

The tasks of a fleet are re-checked one after another (a re-check is the test split's calls; an optimization
after a regression is rare). A task whose step fails does not stop the others; the run fails at the end,
naming the tasks that did.
"""

from zenml import pipeline
from zenml.exceptions import RunStoppedException

from instructzero.config.fleet import Fleet
from instructzero.config.run import RunConfig
from instructzero.errors import PipelineRunError
from instructzero.pipelines.search import optimize_task
from instructzero.pipelines.settings import prepare_dynamic_run, step_options
from instructzero.registry.recheck import reoptimization
from instructzero.steps.load_task import load_task
from instructzero.steps.names import LOAD_TASK, RECHECK_PRODUCTION, in_branch
from instructzero.steps.recheck_production import recheck_production


@pipeline(dynamic=True, enable_cache=False)
def recheck_pipeline(fleet: Fleet):
    prepare_dynamic_run()
    failed = []
    for name, config in fleet.tasks.items():
        try:
            recheck_task(config, branch=fleet.branch(name))
        except RunStoppedException:
            raise
        except Exception:  # noqa: BLE001 - ZenML has recorded the failed step; the other tasks go on
            failed.append(name)
    if failed:
        raise PipelineRunError(f"the re-check of {', '.join(failed)} failed (see its failed step)")


def recheck_task(config: RunConfig, branch: str = "") -> None:
    """One task's re-check and, when it calls for one, its optimization (steps `<branch>.<step>`)."""
    task, _ = load_task.with_options(**step_options(LOAD_TASK, config.kubernetes))(
        task=config.task, seed=config.seed, id=in_branch(branch, LOAD_TASK))  # fmt: skip
    check = recheck_production.with_options(**step_options(RECHECK_PRODUCTION, config.kubernetes))(
        model_name=config.registry_model_name, blackbox=config.blackbox, evaluation=config.evaluation,
        recheck=config.recheck, seed=config.seed, task=task, id=in_branch(branch, RECHECK_PRODUCTION),
    )  # fmt: skip
    follow_up = reoptimization(config, check.load())
    if follow_up is not None:
        optimize_task(follow_up, branch=branch, task=task)
