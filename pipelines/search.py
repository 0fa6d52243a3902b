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

from instructzero.config.run import RunConfig
from instructzero.search.proposals import proposer_blackbox
from pipelines.settings import step_options
from steps import (
    evaluate_on_test,
    generate_instructions,
    initial_design,
    load_task,
    promote,
    sample_projection,
    score_instructions,
    update_gp,
)
from steps.names import GENERATE_INSTRUCTIONS, SCORE_INSTRUCTIONS, UPDATE_GP, round_step


@pipeline(enable_cache=True)
def instructzero_pipeline(config: RunConfig, warm_start_from: str | None = None):
    """`warm_start_from`: the id of a comparable earlier run's `result` artifact (see `pipelines.registry`)."""
    wb, bb, bo, seed = config.whitebox, config.blackbox, config.bo, config.seed
    n_validation = config.task.n_validation
    # Calls held back for the baselines matter only under a spending cap: without one, editing the
    # baselines must not rerun the search.
    capped = bb.max_calls is not None or bb.max_cost_usd is not None
    n_baselines = len(config.baseline_instructions) if capped else 0
    proposer = proposer_blackbox(bo.strategy, config.ape, bb)
    ape = config.ape if bo.strategy == "ape" else type(config.ape)()  # unused otherwise: keep it out of the key
    # Pod resources, placement and retries per step kind (on a Kubernetes stack; nothing locally).
    load, draw, design, generate, score, gp, evaluate, register = (
        s.with_options(**step_options(s.name, config.kubernetes)) for s in (
            load_task, sample_projection, initial_design, generate_instructions, score_instructions, update_gp,
            evaluate_on_test, promote))  # fmt: skip
    task, _ = load(config.task, seed)
    projection = draw(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, seed)
    prior = Client().get_artifact_version(warm_start_from) if warm_start_from else None  # lineage: an input
    history, soft_prompts = design(bo, config.projection.intrinsic_dim, seed, prior=prior)
    for r in range(bo.n_rounds + 1):
        instructions = generate(
            bo.strategy, wb, ape, proposer, config.task.n_exemplars, n_validation if proposer else 0,
            n_baselines if proposer else 0, seed, task, projection, history if proposer else None, soft_prompts,
            id=round_step(GENERATE_INSTRUCTIONS, r),
        )  # fmt: skip
        candidates = score(
            bb, n_validation, n_baselines, seed, task, history, soft_prompts, instructions, r,
            id=round_step(SCORE_INSTRUCTIONS, r),
        )  # fmt: skip
        history, soft_prompts = gp(bo, seed, history, candidates, r + 1, id=round_step(UPDATE_GP, r))
    result = evaluate(
        bb, config.evaluation, bo.stop_at_score, n_validation, config.baseline_instructions, seed, task, projection,
        history,
    )  # fmt: skip
    register(config, task, result)
    return result
