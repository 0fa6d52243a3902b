"""The re-check pipeline: today's black box and test split against each task's production instruction and,
for a task that regressed when its config says so, a full optimization in the same run (wiring only).

It is a dynamic pipeline: whether a task's optimization runs is decided by its re-check's outcome, so those
steps exist only in a run that needs them. A static DAG would have to start every optimization step on every
re-check and let it no-op when production is healthy: on Kubernetes a pod per step, among them the GPU pod
of generation, every night. ZenML's local and Kubernetes orchestrators both run dynamic pipelines (on
Kubernetes the pipeline function runs in the orchestrator pod, each step in a pod of its own: see
`step_options`), and a schedule of this pipeline carries the whole rule, re-optimization included.

On Kubernetes the tasks' re-checks run side by side, each step in its own pod, at most
`kubernetes.max_parallel_pods` tasks at a time; locally one after another (ZenML's local orchestrator would run
concurrent steps as threads of one process). The optimizations of the tasks that regressed follow, one after
another (a regression is rare; each optimization is a chain of steps). A task whose step fails does not stop the
others; the run fails at the end, naming the tasks that did.
"""

from contextlib import contextmanager

from zenml import pipeline
from zenml.exceptions import RunStoppedException

from instructzero.config.fleet import Fleet
from instructzero.config.run import RunConfig
from instructzero.errors import PipelineRunError
from instructzero.pipelines.search import optimize_task
from instructzero.pipelines.settings import on_kubernetes, prepare_dynamic_run, step_options
from instructzero.registry.recheck import reoptimization
from instructzero.steps.load_task import load_task
from instructzero.steps.names import LOAD_TASK, RECHECK_PRODUCTION, in_branch
from instructzero.steps.recheck_production import recheck_production


@pipeline(dynamic=True, enable_cache=False)
def recheck_pipeline(fleet: Fleet):
    prepare_dynamic_run()
    names = list(fleet.tasks)
    side_by_side = on_kubernetes()
    wave = (fleet.kubernetes.max_parallel_pods or len(names)) if side_by_side else 1
    failed, regressed = TaskFailures(), []
    for start in range(0, len(names), wave):
        started = {}
        for name in names[start : start + wave]:
            with failed.of(name):
                started[name] = start_recheck(fleet.tasks[name], branch=fleet.branch(name), concurrent=side_by_side)
        for name, (task, check) in started.items():
            with failed.of(name):
                follow_up = reoptimization(fleet.tasks[name], check.load())
                if follow_up is not None:
                    regressed.append((name, follow_up, task))
    for name, follow_up, task in regressed:
        with failed.of(name):
            optimize_task(follow_up, branch=fleet.branch(name), task=task)
    if failed:
        raise PipelineRunError(f"the re-check of {', '.join(sorted(failed))} failed (see its failed step)")


class TaskFailures(list):
    """The names of the tasks whose step failed: `with failures.of(name):` records that task's failure and lets
    the run go on with the other tasks. ZenML has recorded the failed step itself (a submitted step's failure
    surfaces at `.load()`); a stopped run stops here too."""

    @contextmanager
    def of(self, name: str):
        try:
            yield
        except RunStoppedException:
            raise
        except Exception:  # noqa: BLE001 - any failure of one task's steps is that task's alone
            self.append(name)


def start_recheck(config: RunConfig, *, branch: str = "", concurrent: bool = False):
    """Start one task's load and re-check (steps `<branch>.<step>`); returns the task's artifact and the check's
    step output (`.load()` gives the `Recheck`), or their futures when `concurrent` (ZenML's `step.submit`)."""
    load = load_task.with_options(**step_options(LOAD_TASK, config.kubernetes))
    recheck = recheck_production.with_options(**step_options(RECHECK_PRODUCTION, config.kubernetes))
    load, recheck = (load.submit, recheck.submit) if concurrent else (load, recheck)
    task, _ = load(task=config.task, seed=config.seed, id=in_branch(branch, LOAD_TASK))
    check = recheck(
        model_name=config.registry_model_name, blackbox=config.blackbox, evaluation=config.evaluation,
        recheck=config.recheck, seed=config.seed, task=task, id=in_branch(branch, RECHECK_PRODUCTION),
    )  # fmt: skip
    return task, check
