import pytest
import torch

from instructzero.data.task import Example
from instructzero.models.loading import load_causal_lm
from instructzero.search.bo import sobol_design
from instructzero.search.generator import (
    INSTRUCTION_PREFIX,
    InstructionGenerator,
    exemplar_prompt,
    postprocess_instruction,
)
from instructzero.search.projection import draw_projection

EXEMPLARS = [Example(input=f"{a} {b}", answers=(str(a + b),)) for a, b in [(1, 2), (4, 4), (7, 1)]]


@pytest.mark.parametrize(
    ("completion", "instruction"),
    [
        (" add the two numbers. Then stop.", "The instruction was to add the two numbers."),
        (" add them\nInput: 3", "The instruction was to add them"),
        (" sum the inputs Comment: easy", "The instruction was to sum the inputs"),
        ("", "The instruction was to"),
        (" output 3.5 times x! More", "The instruction was to output 3.5 times x!"),
    ],
)
def test_postprocess(completion, instruction):
    assert postprocess_instruction(completion) == instruction


def test_exemplar_prompt_format():
    assert exemplar_prompt(EXEMPLARS[:2]) == "Input: 1 2\nOutput: 3\n\nInput: 4 4\nOutput: 8\n\nThe instruction was to"


def test_tiny_model_generates_deterministic_non_empty_instructions(tiny_lm_dir):
    lm = load_causal_lm(str(tiny_lm_dir))
    assert lm.device.type in ("cpu", "cuda") and lm.tokenizer.padding_side == "left"
    gen = InstructionGenerator(lm, draw_projection(10, 5, lm.hidden_size, seed=0), max_new_tokens=8, batch_size=3)
    p = torch.as_tensor(sobol_design(5, 10, seed=0))
    first = gen.generate(p, exemplar_prompt(EXEMPLARS))
    assert len(first) == 5
    assert all(v.startswith(INSTRUCTION_PREFIX) and len(v) > len(INSTRUCTION_PREFIX) for v in first)
    assert first == gen.generate(p, exemplar_prompt(EXEMPLARS))
    assert len(set(first)) > 1  # the soft prompt changes what the model writes


def test_projection_must_match_model_width(tiny_lm_dir):
    lm = load_causal_lm(str(tiny_lm_dir))
    with pytest.raises(ValueError, match="does not match model"):
        InstructionGenerator(lm, draw_projection(10, 5, lm.hidden_size + 1, seed=0))


@pytest.mark.slow
def test_smollm2_writes_instructions_and_batching_matches_single_rows():
    lm = load_causal_lm("smollm2")
    assert lm.hidden_size == 576
    gen = InstructionGenerator(lm, draw_projection(10, 5, lm.hidden_size, seed=0), max_new_tokens=24, batch_size=4)
    p = torch.as_tensor(sobol_design(3, 10, seed=1))
    texts = [exemplar_prompt(EXEMPLARS), exemplar_prompt(EXEMPLARS[:1]), exemplar_prompt(EXEMPLARS[1:])]
    batched = gen.generate(p, texts)  # rows of different length: left padding in play
    single = [gen.generate(p[i : i + 1], texts[i])[0] for i in range(3)]
    assert batched == single
    words = [v.removeprefix(INSTRUCTION_PREFIX).split() for v in batched]
    assert all(len(w) >= 2 for w in words), batched
