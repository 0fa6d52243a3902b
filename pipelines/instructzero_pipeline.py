"""InstructZero as a ZenML pipeline: wiring only.

The rounds are unrolled: round r has the steps `generate_instructions_round_r`,
`score_instructions_round_r` and `update_gp_round_r`, so every round's
artifacts are separate in the lineage, finished rounds are cache hits on a
rerun, and the DAG is known before the run starts on any orchestrator. Early
stopping makes the remaining rounds empty (no generation, no calls).

Each step gets only the config sections and values it uses: ZenML keys a step's
cache on its parameters, so a change to one section reruns only its users.
"""

from zenml import pipeline

from instructzero.config import RunConfig
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


@pipeline(enable_cache=True)
def instructzero_pipeline(config: RunConfig):
    wb, bb, seed = config.whitebox, config.blackbox, config.seed
    task, _ = load_task(config.task, seed)
    projection = sample_projection(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, seed)
    history, soft_prompts = initial_design(config.bo.strategy, config.bo.n_init, config.projection.intrinsic_dim, seed)
    for r in range(config.bo.n_rounds + 1):
        instructions = generate_instructions(
            wb, config.task.n_exemplars, seed, task, projection, soft_prompts, id=f"generate_instructions_round_{r}"
        )
        candidates = score_instructions(
            bb, config.task.n_validation, seed, task, history, soft_prompts, instructions, r,
            id=f"score_instructions_round_{r}",
        )  # fmt: skip
        history, soft_prompts = update_gp(config.bo, seed, history, candidates, r + 1, id=f"update_gp_round_{r}")
    result = evaluate_on_test(bb, config.evaluation, config.bo.stop_at_score, seed, task, projection, history)
    promote(config, task, result)
    return result
