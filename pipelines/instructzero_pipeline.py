"""InstructZero as a ZenML pipeline: wiring only.

The rounds are unrolled: round r has the steps `generate_instructions_round_r`,
`score_instructions_round_r` and `update_gp_round_r`, so every round's
artifacts are separate in the lineage, finished rounds are cache hits on a
rerun, and the DAG is known before the run starts on any orchestrator. Early
stopping makes the remaining rounds empty (no generation, no calls).
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
    task, _ = load_task(config)
    projection = sample_projection(config)
    history, soft_prompts = initial_design(config)
    for r in range(config.bo.n_rounds + 1):
        instructions = generate_instructions(config, task, projection, soft_prompts, id=f"generate_instructions_round_{r}")
        candidates = score_instructions(
            config, task, history, soft_prompts, instructions, r, id=f"score_instructions_round_{r}"
        )
        history, soft_prompts = update_gp(config, history, candidates, r + 1, id=f"update_gp_round_{r}")
    result = evaluate_on_test(config, task, projection, history)
    promote(config, task, result)
    return result
