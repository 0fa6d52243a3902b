import numpy as np
import pytest
from fake_openai import FakeOpenAIServer

from instructzero import optimize
from instructzero.config import parse_config

SMALL = {
    "seed": 3,
    "task": {"source": "builtin", "name": "sum", "n_validation": 6, "max_test": 12},
    "whitebox": {"max_new_tokens": 16},
    "bo": {"n_init": 4, "n_rounds": 1, "q": 2, "num_restarts": 2, "raw_samples": 32},
    "evaluation": {"bootstrap_samples": 200},
}


@pytest.mark.slow
def test_optimize_end_to_end_with_smollm2_on_the_builtin_task(tmp_path):
    config = parse_config({**SMALL, "blackbox": {"cache_path": str(tmp_path / "cache.sqlite")}})
    result = optimize(config)
    history = result.history
    assert [b.round for b in history.batches] == [0, 1]
    assert history.soft_prompts.shape == (6, 10) and history.scores.shape == (6, 6)
    assert all(v.startswith("Output") for v in history.instructions)  # the default form: imperative, begun "Output"
    # The default selection stage re-scored the best distinct instructions on fresh validation examples and chose
    # the winner on its pooled evidence, the search's best validation score first among the candidates.
    selection = result.selection
    assert selection.candidates[0] == history.instructions[history.best_index] and len(selection.rungs) >= 1
    assert result.best_instruction == selection.winner_instruction in history.instructions
    assert result.pick_score == selection.pooled_means.max() and result.validation_score <= history.means.max()
    assert len(result.test.per_example) == 12
    assert result.test.ci_low <= result.test.score <= result.test.ci_high
    unique_prompts = len(set(history.instructions)) * 6 + 12 + selection.cost.calls
    assert result.blackbox_calls <= unique_prompts
    assert "best instruction:" in result.summary() and "black-box calls:" in result.summary()

    rerun = optimize(config)  # same seed, same cache file: identical and free
    assert rerun.history.instructions == history.instructions
    np.testing.assert_array_equal(rerun.history.soft_prompts, history.soft_prompts)
    np.testing.assert_array_equal(rerun.history.scores, history.scores)
    assert rerun.blackbox_calls == 0


def test_uniform_baseline_and_matern_ablation_run_with_tiny_models(tiny_lm_dir):
    common = {**SMALL, "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 6},
              "blackbox": {"model": str(tiny_lm_dir), "max_tokens": 4}}  # fmt: skip
    for bo in ({"strategy": "uniform"}, {"kernel": "matern"}):
        config = parse_config({**common, "bo": {**SMALL["bo"], **bo}})
        result = optimize(config)
        assert len(result.history.instructions) == 6
        assert result.blackbox_calls > 0


@pytest.mark.parametrize(("always_right", "batches"), [(True, 1), (False, 4)])
def test_openai_backend_and_early_stop_on_a_perfect_score(tiny_lm_dir, always_right, batches):
    def answer(prompt: str) -> str:
        a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
        return str(a + b) if always_right else "no idea"

    with FakeOpenAIServer(answer) as server:
        config = parse_config({
            **SMALL,
            "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 4},
            "blackbox": {"backend": "openai", "base_url": server.base_url, "model": "stub-model", "api_key_env": None},
            "bo": {**SMALL["bo"], "n_rounds": 3},
        })  # fmt: skip
        result = optimize(config)
    assert len(result.history.batches) == batches
    assert result.validation_score == (1.0 if always_right else 0.0)
    assert result.test.score == (1.0 if always_right else 0.0)
    assert result.blackbox_calls == len(server.requests)


def test_ape_samples_varied_instructions_from_exemplar_subsets_reproducibly(tiny_lm_dir):
    config = parse_config({**SMALL, "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 6},
                           "blackbox": {"model": str(tiny_lm_dir), "max_tokens": 4},
                           "bo": {**SMALL["bo"], "strategy": "ape"}})  # fmt: skip
    first, second = optimize(config), optimize(config)
    instructions = first.history.instructions
    assert len(instructions) == 6 and len(set(instructions)) > 3
    # Handed over in the default imperative form: "The instruction was to" (APE's template ends with it) dropped,
    # the first letter upper-case; nothing of the template itself.
    assert all(v[:1].isupper() and not v.startswith("The instruction was") and "I gave a friend" not in v
               for v in instructions), instructions
    described = optimize(config.model_copy(update={"whitebox": config.whitebox.model_copy(
        update={"instruction_form": "description"})})).history.instructions  # fmt: skip
    assert all(v.startswith("The instruction was to") for v in described)
    assert second.history.instructions == instructions


def test_ape_prompts_draw_their_exemplars_from_each_row():
    from instructzero.config import TaskConfig
    from instructzero.data.load import read_task
    from instructzero.search.ape import ape_prompts
    from instructzero.search.bo import uniform_design

    task = read_task(TaskConfig(source="builtin", name="sum"), seed=0)
    draws = uniform_design(4, 10, seed=1)
    prompts = ape_prompts(task, 5, draws)
    assert len(set(prompts)) == 4 and prompts == ape_prompts(task, 5, draws.copy())
    assert all(p.startswith("I gave a friend an instruction and five inputs.") for p in prompts)
    assert all(p.endswith("The instruction was to") and p.count("Input: ") == 5 for p in prompts)
