import json

import pytest

from instructzero.config import TaskConfig
from instructzero.data.load import instruction_induction_tasks, packaged_instruction_induction, read_task
from instructzero.errors import ConfigError, TaskDataError

ALL_TASKS = [
    "active_to_passive", "antonyms", "ascii_word_recognition", "auto_categorization", "auto_debugging",
    "cause_and_effect", "common_concept", "cs_algorithms", "diff", "first_word_letter", "informal_to_formal",
    "larger_animal", "letters_list", "negation", "num_to_verbal", "object_counting", "odd_one_out",
    "orthography_starts_with", "periodic_elements", "rhymes", "second_word_letter", "sentence_similarity",
    "sentiment", "singular_to_plural", "sum", "synonyms", "taxonomy_animal", "translation_en-de",
    "translation_en-es", "translation_en-fr", "word_in_context", "word_sorting", "word_unscrambling",
]  # fmt: skip


def ii(ii_dir, name, **kw):
    """A packaged task, loaded without `data_dir` as a user of the installed package would."""
    return read_task(TaskConfig(source="instruction_induction", name=name, **kw), seed=0)


def test_the_package_holds_exactly_the_33_tasks(ii_dir):
    assert sorted(p.stem for p in (ii_dir / "induce").glob("*.json")) == ALL_TASKS
    assert instruction_induction_tasks() == ALL_TASKS and packaged_instruction_induction() == ii_dir


def test_data_dir_overrides_the_packaged_tasks(ii_dir, tmp_path):
    for split in ("induce", "execute"):
        (tmp_path / split).mkdir()
        records = {str(i): {"input": f"w{i}", "output": f"W{i}"} for i in range(30)}
        (tmp_path / split / "antonyms.json").write_text(json.dumps({"examples": records}))
    mine = read_task(TaskConfig(source="instruction_induction", name="antonyms", data_dir=str(tmp_path)), seed=0)
    assert {e.input for e in mine.test} == {f"w{i}" for i in range(30)}
    assert mine != ii(ii_dir, "antonyms")


@pytest.mark.parametrize("name", ALL_TASKS)
def test_every_task_loads_with_non_empty_disjoint_splits(ii_dir, name):
    task = ii(ii_dir, name)
    assert task.prompt_gen and task.validation and task.test
    assert all(ex.input.strip() and ex.output.strip() for split in (task.prompt_gen, task.validation) for ex in split)
    assert len(task.test) <= 100
    induce = json.loads((ii_dir / "induce" / f"{name}.json").read_text())["examples"]
    if (ii_dir / "execute" / f"{name}.json").exists():
        assert len(task.prompt_gen) + len(task.validation) == len(induce)
    else:  # a third of induce is held out as test (then capped at 100)
        assert len(task.prompt_gen) + len(task.validation) == len(induce) - len(induce) // 3


def test_splits_are_seeded(ii_dir):
    a, b = ii(ii_dir, "antonyms"), ii(ii_dir, "antonyms")
    c = read_task(TaskConfig(source="instruction_induction", name="antonyms"), seed=1)
    assert a == b
    assert a.validation != c.validation
    assert a.validation_subset(20, seed=0) == b.validation_subset(20, seed=0)
    assert len(a.validation_subset(20, seed=0)) == 20
    assert len(a.exemplars(5, seed=0)) == 5


def test_cause_and_effect_presents_both_sentences_and_answers_the_cause(ii_dir):
    task = ii(ii_dir, "cause_and_effect")
    raw = json.loads((ii_dir / "induce" / "cause_and_effect.json").read_text())["examples"]
    causes = {r["cause"] for r in raw.values()}
    orders = set()
    for ex in task.prompt_gen + task.validation:
        assert ex.input.startswith("Sentence 1: ") and " Sentence 2: " in ex.input
        assert ex.answers[0] in causes and ex.answers[0] in ex.input
        orders.add(ex.input.startswith(f"Sentence 1: {ex.answers[0]}"))
    assert orders == {True, False}  # both orders occur


def test_multi_answer_tasks_keep_every_gold_answer(ii_dir):
    common = ii(ii_dir, "common_concept")
    assert all(", " in ex.input for ex in common.test)
    assert any(len(ex.answers) > 1 for ex in common.test)
    for name, field in [("rhymes", "other_rhymes"), ("translation_en-de", "possible_translations"),
                        ("word_in_context", "possible_outputs")]:  # fmt: skip
        raw = json.loads((ii_dir / "execute" / f"{name}.json").read_text())["examples"]
        by_input = {r["input"]: r for r in raw.values()}
        ex = ii(ii_dir, name).test[0]
        assert ex.answers[0] == by_input[ex.input]["output"]
        assert set(by_input[ex.input][field]) <= set(ex.answers)


def test_task_default_metrics_and_override(ii_dir):
    assert ii(ii_dir, "synonyms").metric == "contains"
    assert ii(ii_dir, "common_concept").metric == "f1"
    assert ii(ii_dir, "synonyms", metric="exact_match").metric == "exact_match"
    with pytest.raises(ConfigError, match="unknown metric"):
        ii(ii_dir, "synonyms", metric="bleu")


def test_missing_task_names_file_and_known_tasks(ii_dir):
    with pytest.raises(TaskDataError, match=r"antonym\.json not found.*antonyms"):
        ii(ii_dir, "antonym")


def test_malformed_json_names_the_file(tmp_path):
    (tmp_path / "induce").mkdir()
    (tmp_path / "induce" / "broken.json").write_text('{"examples": {"1": ')
    with pytest.raises(TaskDataError, match=r"broken\.json is not valid JSON"):
        read_task(TaskConfig(source="instruction_induction", data_dir=str(tmp_path), name="broken"), 0)


def test_user_jsonl_with_extra_answers(tmp_path):
    path = tmp_path / "capitals.jsonl"
    rows = [{"input": f"country {i}", "output": f"city {i}", "answers": [f"town {i}"]} for i in range(30)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task = read_task(TaskConfig(source="file", path=str(path)), seed=0)
    assert len(task.test) == 9 and len(task.prompt_gen) + len(task.validation) == 21
    assert all(len(ex.answers) == 2 and ex.answers[1].startswith("town") for ex in task.test)


def test_user_csv_with_separate_test_file(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("input,output,answers\n" + "".join(f"a{i},b{i},c{i}|d{i}\n" for i in range(10)))
    test.write_text("input,output\nx,y\n")
    task = read_task(TaskConfig(source="file", path=str(train), test_path=str(test)), seed=0)
    assert [ex.answers for ex in task.test] == [("y",)]
    assert len(task.prompt_gen) == len(task.validation) == 5
    assert all(len(ex.answers) == 3 for ex in task.validation)


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("input,label\nx,y\n", ".csv", r"missing column\(s\) output"),
        ('{"input": "x", "output": "y"}\n{"input": \n', ".jsonl", r":2 is not valid JSON"),
        ("", ".jsonl", "has no examples"),
        ("x\ty\n", ".tsv", "must end in .jsonl or .csv"),
    ],
)
def test_bad_user_files_fail_with_one_clear_message(tmp_path, content, suffix, message):
    path = tmp_path / f"task{suffix}"
    path.write_text(content)
    with pytest.raises(TaskDataError, match=message):
        read_task(TaskConfig(source="file", path=str(path)), seed=0)


def test_missing_user_file(tmp_path):
    with pytest.raises(TaskDataError, match="not found"):
        read_task(TaskConfig(source="file", path=str(tmp_path / "nope.jsonl")), seed=0)


def test_empty_split_is_reported(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"input": "x", "output": "y"}\n')
    with pytest.raises(TaskDataError, match="split is empty"):
        read_task(TaskConfig(source="file", path=str(path)), seed=0)


def test_builtin_sum_is_correct_and_self_contained():
    task = read_task(TaskConfig(source="builtin", name="sum"), seed=0)
    examples = task.prompt_gen + task.validation + task.test
    assert len(examples) == 100 and len({ex.input for ex in examples}) == 100
    for ex in examples:
        a, b = map(int, ex.input.split())
        assert ex.answers == (str(a + b),)
    with pytest.raises(TaskDataError, match="unknown built-in task"):
        read_task(TaskConfig(source="builtin", name="nope"), seed=0)
