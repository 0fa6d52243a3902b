"""The search pipeline (InstructZero and its baseline strategies) in ZenML: wiring only.

The rounds are unrolled: round r has the steps `generate_instructions_round_r`,
`score_instructions_round_r` and `update_gp_round_r`, so every round's
artifacts are separate in the lineage, finished rounds are cache hits on a
rerun, and the DAG is known before the run starts on any orchestrator. Early
stopping makes the remaining rounds empty (no generation, no calls).

Each step gets only the config sections and values it uses: ZenML keys a step's
cache on its parameters, so a change to one section reruns only its users.
"""

from zenml import pipeline
from zenml.client import Client

from instructzero.config.fleet import Fleet
from instructzero.config.run import RunConfig
from instructzero.pipelines.settings import step_options
from instructzero.search.proposals import proposer_blackbox
from instructzero.selection import reserved_for_selection, selection_calls
from instructzero.steps.evaluate_on_test import evaluate_on_test
from instructzero.steps.generate_instructions import generate_instructions
from instructzero.steps.initial_design import initial_design
from instructzero.steps.load_task import load_task
from instructzero.steps.model_registry import registry_model
from instructzero.steps.names import (
    EVALUATE_ON_TEST,
    GENERATE_INSTRUCTIONS,
    INITIAL_DESIGN,
    LOAD_TASK,
    PROMOTE,
    SAMPLE_PROJECTION,
    SCORE_INSTRUCTIONS,
    SELECT_INSTRUCTION,
    UPDATE_GP,
    in_branch,
    round_step,
)
from instructzero.steps.promote import promote
from instructzero.steps.sample_projection import sample_projection
from instructzero.steps.score_instructions import score_instructions
from instructzero.steps.select_instruction import select_instruction
from instructzero.steps.update_gp import update_gp


@pipeline(enable_cache=True)
def instructzero_pipeline(config: RunConfig, warm_start_from: str | None = None):
    """One task's optimization (a plain run config).

    `warm_start_from`: the id of a comparable earlier run's `result` artifact (see `instructzero.pipelines.registry`)."""
    return optimize_task(config, warm_start_from=warm_start_from)


@pipeline(enable_cache=True)
def fleet_pipeline(fleet: Fleet, warm_start_from: dict[str, str] | None = None):
    """Every task of a fleet in its own branch of steps, named `<task>.<step>`. The branches share no step, so
    an orchestrator may run them side by side (Kubernetes: up to `kubernetes.max_parallel_pods` step pods;
    locally one step after another), and a failed step stops only its own branch (ZenML's execution mode
    `continue_on_failure`).

    `warm_start_from`: task name -> the id of a comparable earlier run's `result` artifact."""
    for name, config in fleet.tasks.items():
        optimize_task(config, branch=fleet.branch(name), warm_start_from=(warm_start_from or {}).get(name))


def optimize_task(config: RunConfig, *, branch: str = "", task=None, warm_start_from: str | None = None):
    """Wire one task's optimization: load (unless `task`, its artifact, is given), search, evaluate, promote.

    Every step registers on the task's registry model (its own version per run), so one run may hold
    several tasks' optimizations. `branch` names them apart: its steps are `<branch>.<step>` (plain step
    names when empty). Static pipelines call it at compile time, the dynamic re-check pipeline at run time.
    """
    wb, bb, bo, seed = config.whitebox, config.blackbox, config.bo, config.seed
    n_validation = config.task.n_validation
    # Calls held back for the baselines matter only under a spending cap: without one, editing the
    # baselines must not rerun the search.
    capped = bb.max_calls is not None or bb.max_cost_usd is not None
    n_baselines = len(config.task.instructions) if capped else 0
    held_for_selection = selection_calls(config)
    proposer = proposer_blackbox(bo.strategy, config.ape, bb)
    ape = config.ape if bo.strategy == "ape" else type(config.ape)()  # unused otherwise: keep it out of the key
    model = registry_model(config)
    # Pod resources, placement and retries per step kind (on a Kubernetes stack; nothing locally).
    load, draw, design, generate, score, gp, select, evaluate, register = (
        s.with_options(model=model, **step_options(s.name, config.kubernetes)) for s in (
            load_task, sample_projection, initial_design, generate_instructions, score_instructions, update_gp,
            select_instruction, evaluate_on_test, promote))  # fmt: skip

    def named(step: str, round_index: int | None = None) -> str:
        return in_branch(branch, step if round_index is None else round_step(step, round_index))

    if task is None:
        task, _ = load(task=config.task, seed=seed, id=named(LOAD_TASK))
    projection = draw(model=wb.model, gguf_file=wb.gguf_file, n_soft_tokens=wb.n_soft_tokens,
                      projection=config.projection, seed=seed, id=named(SAMPLE_PROJECTION))  # fmt: skip
    prior = Client().get_artifact_version(warm_start_from) if warm_start_from else None  # lineage: an input
    history, soft_prompts = design(bo=bo, intrinsic_dim=config.projection.intrinsic_dim, seed=seed, prior=prior,
                                   id=named(INITIAL_DESIGN))  # fmt: skip
    for r in range(bo.n_rounds + 1):
        instructions = generate(
            strategy=bo.strategy, whitebox=wb, ape=ape, proposer=proposer, n_exemplars=config.task.n_exemplars,
            instructions=config.task.instructions if wb.show_instructions else [],
            n_validation=n_validation if proposer else 0, n_baselines=n_baselines if proposer else 0,
            selection_calls=held_for_selection if proposer else 0, seed=seed,
            task=task, projection=projection, history=history if proposer else None, soft_prompts=soft_prompts,
            id=named(GENERATE_INSTRUCTIONS, r),
        )  # fmt: skip
        candidates = score(
            blackbox=bb, n_validation=n_validation, n_baselines=n_baselines, selection_calls=held_for_selection,
            repeats=bo.repeats, reserved_for_selection=reserved_for_selection(config),
            objective=config.task.objective, seed=seed, task=task,
            history=history, soft_prompts=soft_prompts, instructions=instructions, round_index=r,
            id=named(SCORE_INSTRUCTIONS, r),
        )  # fmt: skip
        history, soft_prompts = gp(bo=bo, seed=seed, history=history, candidates=candidates, next_round=r + 1,
                                   id=named(UPDATE_GP, r))  # fmt: skip
    chosen = select(blackbox=bb, selection=config.selection, bo=bo, n_validation=n_validation,
                    n_baselines=n_baselines, user_instructions=config.user_instructions,
                    objective=config.task.objective, seed=seed, task=task,
                    history=history, id=named(SELECT_INSTRUCTION))  # fmt: skip
    result = evaluate(
        blackbox=bb, evaluation=config.evaluation, stop_at_score=bo.stop_at_score, n_validation=n_validation,
        baseline_instructions=config.task.instructions, seed=seed, task=task, projection=projection,
        history=history, selection=chosen, id=named(EVALUATE_ON_TEST),
    )  # fmt: skip
    register(config=config, task=task, result=result, branch=branch, id=named(PROMOTE))
    return result
