import pytest
import torch

from instructzero.data.task import Example
from instructzero.models.loading import load_causal_lm
from instructzero.search import generator
from instructzero.search.bo import sobol_design
from instructzero.search.generator import (
    INSTRUCTION_PREFIX,
    FirstSentenceDone,
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


@pytest.mark.parametrize(
    ("new_text", "done"),
    [
        (" add the two numbers", False),
        (" add the two numbers.", False),  # "3.5" or "e.g." may still follow: the cut is not decided yet
        (" add the two numbers. Then", True),
        (" output 3.5 times", False),
        ("\n add them", False),  # leading whitespace is stripped before the cut, as in postprocess_instruction
        (" add them\nInput", True),
        (" sum Comment:", True),
    ],
)
def test_first_sentence_done_exactly_when_the_cut_is_decided(tiny_lm_dir, new_text, done):
    tokenizer = load_causal_lm(str(tiny_lm_dir)).tokenizer
    prompt = tokenizer("Input: 1 2", return_tensors="pt").input_ids
    ids = torch.cat([prompt, tokenizer(new_text, return_tensors="pt", add_special_tokens=False).input_ids], dim=1)
    assert FirstSentenceDone(tokenizer, prompt.shape[1])(ids, None).tolist() == [done]


def test_stopping_at_the_first_sentence_changes_no_instruction(monkeypatch):
    lm = load_causal_lm("smollm2")
    gen = InstructionGenerator(lm, draw_projection(10, 5, lm.hidden_size, seed=0), max_new_tokens=32, batch_size=4)
    p = torch.as_tensor(sobol_design(4, 10, seed=2))
    steps = []

    class Counting(FirstSentenceDone):
        def __call__(self, input_ids, scores, **kwargs):
            steps.append(input_ids.shape[1])
            return super().__call__(input_ids, scores, **kwargs)

    class Never(FirstSentenceDone):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.zeros(input_ids.shape[0], dtype=torch.bool)

    monkeypatch.setattr(generator, "FirstSentenceDone", Counting)
    stopped = gen.generate(p, exemplar_prompt(EXEMPLARS))
    monkeypatch.setattr(generator, "FirstSentenceDone", Never)
    assert stopped == gen.generate(p, exemplar_prompt(EXEMPLARS))
    assert max(steps) < 32  # every row had ended its first sentence before the token limit


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


@pytest.mark.parametrize(
    ("form", "instruction"),
    [("description", "The instruction was to find the opposite of a word."), ("imperative", "Find the opposite of a word.")],
)
def test_instruction_forms(form, instruction):
    from instructzero.search.generator import in_form

    assert in_form("The instruction was to find the opposite of a word.", form) == instruction
    assert in_form(INSTRUCTION_PREFIX, form) == INSTRUCTION_PREFIX  # nothing generated: nothing to rephrase


def test_a_run_hands_the_black_box_the_configured_form(tiny_lm_dir):
    from instructzero.config import APEConfig, ProjectionConfig, TaskConfig
    from instructzero.config.whitebox import WhiteBoxConfig
    from instructzero.data.load import read_task
    from instructzero.search.projection import projection_for_model
    from instructzero.search.proposals import propose_instructions

    task = read_task(TaskConfig(source="builtin", name="sum"), seed=0)
    p = sobol_design(3, 10, seed=0)
    forms = {}
    for form in ("description", "imperative"):
        wb = WhiteBoxConfig(model=str(tiny_lm_dir), max_new_tokens=5, instruction_form=form)
        projection = projection_for_model(wb.model, None, wb.n_soft_tokens, ProjectionConfig(), seed=0)
        forms[form] = propose_instructions("bo", p, whitebox=wb, ape=APEConfig(), projection=projection, task=task,
                                           n_exemplars=3, seed=0).instructions  # fmt: skip
    assert all(v.startswith(INSTRUCTION_PREFIX) for v in forms["description"])
    assert [v.removeprefix(INSTRUCTION_PREFIX).strip().lower() for v in forms["description"]] == [
        v.lower() for v in forms["imperative"]
    ]


def test_exemplar_prompt_begins_the_instruction_with_the_configured_start():
    text = exemplar_prompt(EXEMPLARS[:1], start=" output ")
    assert text == "Input: 1 2\nOutput: 3\n\nThe instruction was to output"
    assert generator.split_lead(text) == ("Input: 1 2\nOutput: 3", "The instruction was to output")
    assert exemplar_prompt(EXEMPLARS[:1], start="") == exemplar_prompt(EXEMPLARS[:1])


def test_a_configured_start_is_part_of_every_instruction(tiny_lm_dir):
    lm = load_causal_lm(str(tiny_lm_dir))
    gen = InstructionGenerator(lm, draw_projection(10, 5, lm.hidden_size, seed=0), max_new_tokens=6, batch_size=3)
    p = torch.as_tensor(sobol_design(3, 10, seed=0))
    started = gen.generate(p, exemplar_prompt(EXEMPLARS, start="output"))
    assert all(v.startswith(f"{INSTRUCTION_PREFIX} output") and len(v) > len(f"{INSTRUCTION_PREFIX} output") for v in started)
    imperative = [generator.in_form(v, "imperative") for v in started]
    assert all(v.startswith("Output") for v in imperative), imperative
    # The start changes what the model is asked to continue, not only the label in front of it.
    assert started != [f"{INSTRUCTION_PREFIX} output {v.removeprefix(INSTRUCTION_PREFIX).strip()}"
                       for v in gen.generate(p, exemplar_prompt(EXEMPLARS))]  # fmt: skip
