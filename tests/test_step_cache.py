"""Step caches follow the code and the config a step uses, and nothing else."""

import pytest
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer, tiny_config

import instructzero.steps.caching
from instructzero.steps.caching import import_closure

STEP_MODULES = {"load_task", "sample_projection", "initial_design", "generate_instructions", "score_instructions",
                "update_gp", "select_instruction", "evaluate_on_test", "promote"}  # fmt: skip


def step_module(step_name: str) -> str:
    return "steps." + next(m for m in STEP_MODULES if step_name == m or step_name.startswith(f"{m}_round_"))


#: Never cached: `load_task` reads files its key cannot see; `promote` compares with today's production.
ALWAYS_RUN = {"load_task", "promote"}


def ran(run) -> set[str]:
    """Steps that executed (not served from the cache), besides those that always run."""
    from zenml.enums import ExecutionStatus

    assert run.status == ExecutionStatus.COMPLETED
    assert all(run.steps[name].status == ExecutionStatus.COMPLETED for name in ALWAYS_RUN)
    return {name for name, s in run.steps.items() if s.status != ExecutionStatus.CACHED} - ALWAYS_RUN


def with_section(config, section: str, **values):
    return config.model_copy(update={section: getattr(config, section).model_copy(update=values)})


@pytest.fixture
def edited_source(monkeypatch, tmp_path):
    """Make the cache policy see an edited copy of a core module (the tree itself stays as it is)."""

    def edit(module: str) -> None:
        original = instructzero.steps.caching._source_file(module)
        copy = tmp_path / f"{module}.py"
        copy.write_text(original.read_text() + "\n# an edit\n")
        real = instructzero.steps.caching._source_file
        monkeypatch.setattr(instructzero.steps.caching, "_source_file", lambda name: copy if name == module else real(name))

    return edit


def test_only_steps_that_use_a_changed_config_field_or_module_rerun(zenml_store, tiny_lm_dir, tmp_path, edited_source):
    from zenml.client import Client

    from instructzero.pipelines.run import run_pipeline

    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite")

        def rerun(config):
            _, run_id = run_pipeline(config)
            return Client().get_pipeline_run(run_id)

        first = rerun(config)
        every_step = set(first.steps) - ALWAYS_RUN
        assert ran(first) == every_step
        paid = len(server.requests)

        confidence = rerun(with_section(config, "evaluation", confidence=0.9))
        assert ran(confidence) == {"evaluate_on_test"}
        assert confidence.steps["evaluate_on_test"].outputs["result"][0].load().test.confidence == 0.9

        force = rerun(with_section(config, "registry", force_promotion=True))
        assert ran(force) == set()
        assert "forced" in force.steps["promote"].run_metadata["reason"]

        edited_source("instructzero.search.kernel")  # the GP's kernel: initial design, GP steps and the pick
        kernel = rerun(config)
        expected = {s for s in every_step if "instructzero.search.kernel" in import_closure(step_module(s))}
        # The pick can rank by the GP (`selection.rank_by`); its rerun answers from the response cache, so its
        # record (paid calls -> cache hits) changes and the test evaluation downstream reruns too.
        assert ran(kernel) == expected | {"evaluate_on_test"}
        assert expected == {"initial_design", "select_instruction"} | {f"update_gp_round_{r}" for r in range(3)}

        edited_source("instructzero.search.generator")  # the white box's prompt code: generation only
        generator = rerun(config)
        assert ran(generator) == {f"generate_instructions_round_{r}" for r in range(3)}
        assert len(server.requests) == paid  # same instructions: scoring stayed cached, nothing paid again

        edited_source("instructzero.config.kubernetes")  # pod settings: read by the pipeline, run by no step
        assert ran(rerun(config)) == set()

        edited_source("instructzero.blackbox.scoring")  # scoring: never the GPU generation step
        scoring = rerun(config)
        # Rescored batches book their answers as cache hits, so the histories after them differ (GP steps rerun);
        # generation does not read the history unless the black box proposes.
        assert ran(scoring) == {f"{s}_round_{r}" for s in ("score_instructions", "update_gp") for r in range(3)} | {
            "select_instruction", "evaluate_on_test"}
        assert len(server.requests) == paid  # the rerun scores came from the response cache
