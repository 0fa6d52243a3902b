"""Names of the steps and artifacts that code outside a step looks up (pipelines, the registry, the CLI).

A pipeline run's steps are found by these names (`run.steps[EVALUATE_ON_TEST]`),
its artifacts by their output names, and the registry's versions by
`BEST_INSTRUCTION`: one definition each, so renaming a step cannot silently
break a lookup.
"""

LOAD_TASK = "load_task"
SAMPLE_PROJECTION = "sample_projection"
INITIAL_DESIGN = "initial_design"
GENERATE_INSTRUCTIONS = "generate_instructions"
SCORE_INSTRUCTIONS = "score_instructions"
UPDATE_GP = "update_gp"
SELECT_INSTRUCTION = "select_instruction"
EVALUATE_ON_TEST = "evaluate_on_test"
PROMOTE = "promote"
RECHECK_PRODUCTION = "recheck_production"

#: Output (artifact) names.
TASK = "task"
DATA_VALIDATION = "data_validation"
PROJECTION = "projection"
HISTORY = "history"
SOFT_PROMPTS = "soft_prompts"
INSTRUCTIONS = "instructions"
CANDIDATES = "candidates"
SELECTION = "selection"
RESULT = "result"
BEST_INSTRUCTION = "best_instruction"
RECHECK = "recheck"
#: The report of task data that failed its checks (saved outside any run: the run never starts).
FAILED_DATA_VALIDATION = "data_validation_failed"


def round_step(step: str, round_index: int) -> str:
    """The id of a round's step in the unrolled pipeline, e.g. `score_instructions_round_2`."""
    return f"{step}_round_{round_index}"


def in_branch(branch: str, step: str) -> str:
    """The id of a step in one task's branch of a run, e.g. `antonyms.promote`; plain `step` outside a branch."""
    return f"{branch}.{step}" if branch else step
