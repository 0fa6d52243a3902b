"""One ZenML step per pipeline stage; each adapts types and calls `instructzero`."""

from instructzero.steps.evaluate_on_test import evaluate_on_test
from instructzero.steps.generate_instructions import generate_instructions
from instructzero.steps.initial_design import initial_design
from instructzero.steps.load_task import load_task
from instructzero.steps.promote import promote
from instructzero.steps.sample_projection import sample_projection
from instructzero.steps.score_instructions import score_instructions
from instructzero.steps.select_instruction import select_instruction
from instructzero.steps.update_gp import update_gp

__all__ = [
    "evaluate_on_test",
    "generate_instructions",
    "initial_design",
    "load_task",
    "promote",
    "sample_projection",
    "score_instructions",
    "select_instruction",
    "update_gp",
]
