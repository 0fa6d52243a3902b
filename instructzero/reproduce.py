"""Reproducing a run: a rerun's numbers beside the original's, and the first place they part.

`instructzero reproduce` rebuilds a finished run from its lineage, runs it again
(`instructzero.pipelines.reproduce`) and hands both runs here as :class:`RunOutcome`.

A *replay* answers every black-box request from the original run's stored
answers, so everything downstream of them is determined: the rerun must match
number for number (exact float equality, no tolerance) -- task data, projection
`A`, every round's soft prompts, instructions, answers and scores, the
selection stage, the winner and its test score. :func:`first_difference` walks
the run in the order the pipeline produced it and names the first place the two
part (which round, which item, original vs rerun): the cause of every later
difference. A *fresh* rerun asks the black box again; :func:`drift` says how each
instruction's score moved and whether the winner changed.

Example:
    >>> reproduction = Reproduction(original=old, rerun=new, fresh=False)
    >>> print(reproduction.describe())
    >>> sys.exit(reproduction.exit_code)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from instructzero.data.task import TaskData
from instructzero.result import OptimizationResult, TestResult

if TYPE_CHECKING:
    from instructzero.search.projection import SoftPromptProjection

#: Exit code of a replay that did not reproduce the run exactly (errors a user can fix exit 2).
NOT_REPRODUCED = 1
#: Instructions listed one per line in a drift report, largest change first: enough to see the pattern, short
#: enough to read (the paper's budget scores 100 instructions; the count of all changes is always printed).
DRIFT_ROWS_SHOWN = 15
#: Width of an instruction or answer quoted in a report column.
QUOTE_WIDTH = 38


@dataclass(frozen=True)
class RunOutcome:
    """What one run produced that a reproduction compares."""

    run_id: str
    run_name: str
    task: TaskData
    projection: SoftPromptProjection
    result: OptimizationResult


@dataclass(frozen=True)
class Difference:
    """Where a rerun first parts from the original, and the two values there."""

    where: str
    original: str
    rerun: str

    def describe(self) -> str:
        return f"{self.where}: {self.original} (original) vs {self.rerun} (rerun)"


def first_difference(original: RunOutcome, rerun: RunOutcome) -> Difference | None:
    """The first difference in pipeline order (task, projection, rounds, selection, test, baselines), or None
    when the rerun matches the original number for number."""
    return next(chain.from_iterable(part(original, rerun) for _, part in _parts(original, rerun)), None)


@dataclass(frozen=True)
class ScoreChange:
    """One instruction scored by both runs on the same validation examples, with its two mean scores."""

    round: int
    item: int
    instruction: str
    original: float
    rerun: float

    @property
    def delta(self) -> float:
        return self.rerun - self.original


@dataclass(frozen=True)
class Drift:
    """How a fresh rerun's scores moved against the original's."""

    #: Instructions both runs scored on the same examples: `changes` holds those whose scores moved.
    shared: int
    changes: list[ScoreChange]
    #: Instructions only one of the runs scored (its search took another path after a score moved).
    only_original: int
    only_rerun: int
    winner_changed: bool
    #: `t` per-example test scores of the winner that moved; None when the winners differ.
    test_examples_changed: int | None

    def describe(self, original: OptimizationResult, rerun: OptimizationResult) -> list[str]:
        lines = [f"drift: {len(self.changes)} of {self.shared} instructions scored by both runs changed their "
                 f"validation score" + (f" (mean |change| {np.mean([abs(c.delta) for c in self.changes]):.3f}):"
                                        if self.changes else "")]  # fmt: skip
        for change in sorted(self.changes, key=lambda c: -abs(c.delta))[:DRIFT_ROWS_SHOWN]:
            lines.append(f"  round {change.round} item {change.item + 1:<3} {_quote(change.instruction):<{QUOTE_WIDTH + 2}}"
                         f" {change.original:.3f} -> {change.rerun:.3f} ({change.delta:+.3f})")  # fmt: skip
        if len(self.changes) > DRIFT_ROWS_SHOWN:
            lines.append(f"  ... and {len(self.changes) - DRIFT_ROWS_SHOWN} more")
        if self.only_original or self.only_rerun:
            lines.append(f"search path: {self.only_original} instructions only in the original, {self.only_rerun} "
                         "only in the rerun")  # fmt: skip
        test = f"test score {original.test.score:.3f} -> {rerun.test.score:.3f}"
        if self.winner_changed:
            lines.append(f"winner: CHANGED, {_quote(original.best_instruction)} -> {_quote(rerun.best_instruction)}; "
                         f"{test}")  # fmt: skip
        else:
            lines.append(f"winner: unchanged, {_quote(rerun.best_instruction)}; {test} ({self.test_examples_changed} "
                         f"of {len(rerun.test.per_example)} test examples scored differently)")  # fmt: skip
        return lines


def drift(original: OptimizationResult, rerun: OptimizationResult) -> Drift:
    """Per-instruction score changes between two runs: each instruction scored by both on the same example
    block is compared (by text, not position: after the first moved score the searches may take other paths)."""

    def scored(result: OptimizationResult) -> dict[tuple[str, int], tuple[int, int, np.ndarray]]:
        found: dict[tuple[str, int], tuple[int, int, np.ndarray]] = {}
        for batch in result.history.batches:
            for i, (instruction, block) in enumerate(zip(batch.instructions, batch.block_of_row)):
                found.setdefault((instruction, int(block)), (batch.round, i, batch.scores[i]))
        return found

    old, new = scored(original), scored(rerun)
    shared = [key for key in old if key in new]
    changes = [ScoreChange(round=new[key][0], item=new[key][1], instruction=key[0],
                           original=float(old[key][2].mean()), rerun=float(new[key][2].mean()))
               for key in shared if not np.array_equal(old[key][2], new[key][2])]  # fmt: skip
    same_winner = original.best_instruction == rerun.best_instruction
    return Drift(
        shared=len(shared), changes=changes, only_original=len(old) - len(shared), only_rerun=len(new) - len(shared),
        winner_changed=not same_winner,
        test_examples_changed=int(np.sum(original.test.per_example != rerun.test.per_example))
        if same_winner and len(original.test.per_example) == len(rerun.test.per_example) else None,
    )  # fmt: skip


@dataclass(frozen=True)
class Reproduction:
    """A run and its rerun: the side-by-side report and the exit code of `instructzero reproduce`."""

    original: RunOutcome
    rerun: RunOutcome
    #: The rerun asked the black box afresh (else it replayed the original's stored answers).
    fresh: bool
    #: Answers a replay had to ask the black box for because the stored answers lacked them.
    replay_calls: int = 0
    #: Lines printed before the comparison: the code versions, where the answers came from.
    notes: list[str] = field(default_factory=list)

    @property
    def difference(self) -> Difference | None:
        return first_difference(self.original, self.rerun)

    @property
    def exact(self) -> bool:
        """Number for number the same, from stored answers alone."""
        return self.difference is None and self.replay_calls == 0

    @property
    def exit_code(self) -> int:
        """0 for an exact replay or any fresh rerun (drift is reported, not an error), else NOT_REPRODUCED."""
        return 0 if self.fresh or self.exact else NOT_REPRODUCED

    def describe(self) -> str:
        old, new = self.original, self.rerun
        mode = "fresh answers from the black box" if self.fresh else "replay of the stored answers"
        lines = [f"reproduce:         task {old.task.name} of run {old.run_name} ({old.run_id})",
                 f"rerun:             run {new.run_name} ({new.run_id}), step cache off, {mode}", *self.notes, "",
                 *side_by_side(old, new), ""]  # fmt: skip
        difference = self.difference
        if difference is not None:
            lines.append(f"first difference:  {difference.describe()}")
        if self.fresh:
            lines += drift(old.result, new.result).describe(old.result, new.result)
        elif self.replay_calls:
            n = self.replay_calls
            lines.append(f"NOT REPRODUCED: the replay had to ask the black box for {n} answer{'s' * (n != 1)} the "
                         "stored answers lack (deleted, or kept elsewhere): its numbers do not come from them alone")  # fmt: skip
        elif difference is not None:
            lines.append("NOT REPRODUCED: a replay must match number for number; everything after the first "
                         "difference follows from it")  # fmt: skip
        else:
            lines.append("REPRODUCED: every soft prompt, instruction, answer and score, the selection, the winner "
                         "and its test score match number for number")  # fmt: skip
        return "\n".join(lines)


def side_by_side(original: RunOutcome, rerun: RunOutcome) -> list[str]:
    """One row per part of the run: the original's summary, the rerun's, and whether the part matches exactly."""
    width = QUOTE_WIDTH + 10  # a quoted instruction and its score
    rows = [f"{'':<18} {'original':<{width}} {'rerun':<{width}}"]
    for label, part in _parts(original, rerun):
        same = next(iter(part(original, rerun)), None) is None
        old, new = (_summary(label, outcome) for outcome in (original, rerun))
        rows.append(f"{label:<18} {old:<{width}} {new:<{width}} {'same' if same else 'DIFFERS'}")
    return rows


Part = Callable[[RunOutcome, RunOutcome], Iterator[Difference]]


def _parts(original: RunOutcome, rerun: RunOutcome) -> list[tuple[str, Part]]:
    """The run's parts in the order the pipeline produces them."""
    n_rounds = max(len(original.result.history.batches), len(rerun.result.history.batches))
    rounds = [(f"batch {k}", _batch_part(k)) for k in range(n_rounds)]
    return [("task data", _task), ("projection A", _projection), *rounds, ("selection", _selection),
            ("winner", _winner), ("test score", _test), ("baselines", _baselines), ("stopped", _stopped)]  # fmt: skip


def _summary(label: str, outcome: RunOutcome) -> str:
    result = outcome.result
    if label == "task data":
        task = outcome.task
        return f"{task.name}: {len(task.prompt_gen)}/{len(task.validation)}/{len(task.test)} examples"
    if label == "projection A":
        return f"{tuple(outcome.projection.matrix.shape)}, seed {outcome.projection.seed}"
    if label.startswith("batch "):
        k = int(label.split()[1])
        if k >= len(result.history.batches):
            return "-"
        batch = result.history.batches[k]
        best = f", best {batch.means.max():.3f}" if batch.instructions else ""
        return f"round {batch.round}: {len(batch.instructions)} instructions{best}"
    if label == "selection":
        selection = result.selection
        return f"{len(selection.candidates)} candidates, {len(selection.rungs)} rungs" if selection else "none"
    if label == "winner":
        return f"{_quote(result.best_instruction)} ({result.validation_score:.3f})"
    if label == "test score":
        return f"{result.test.score:.3f} (CI {result.test.ci_low:.3f}-{result.test.ci_high:.3f})"
    if label == "baselines":
        return ", ".join(f"{b.test.score:.3f}" for b in result.baselines) or "none"
    return result.stop_reason


def _task(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    a, b = original.task, rerun.task
    yield from _values("task name and metric", (a.name, a.metric), (b.name, b.metric))
    for split in ("prompt_gen", "validation", "test"):
        yield from _sequence(lambda i, s=split: f"task data, {s} example {i + 1}", getattr(a, split),
                             getattr(b, split), show=lambda e: _quote(f"{e.input} -> {' | '.join(e.answers)}"))  # fmt: skip


def _projection(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    a, b = original.projection, rerun.projection
    yield from _values("projection A (n_tokens, hidden, seed, distribution)", (a.n_tokens, a.hidden, a.seed,
                       a.distribution), (b.n_tokens, b.hidden, b.seed, b.distribution))  # fmt: skip
    yield from _array("projection A", a.matrix.detach().cpu().numpy(), b.matrix.detach().cpu().numpy())


def _batch_part(k: int) -> Part:
    def part(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
        batches = original.result.history.batches, rerun.result.history.batches
        if k >= len(batches[0]) or k >= len(batches[1]):
            yield Difference(f"batch {k}", *(f"{len(b)} batches" for b in batches))
            return
        a, b = batches[0][k], batches[1][k]
        where = f"round {a.round}"
        yield from _values(f"batch {k}: round", a.round, b.round)
        yield from _values(f"{where}: number of instructions", len(a.instructions), len(b.instructions))
        for i in range(min(len(a.instructions), len(b.instructions))):  # the soft prompts come first, all of them
            yield from _array(f"{where}, item {i + 1}: soft prompt", a.soft_prompts[i], b.soft_prompts[i],
                              label="coordinate")  # fmt: skip
        yield from _sequence(lambda i: f"{where}, item {i + 1}: instruction", a.instructions, b.instructions)
        yield from _sequence(lambda i: f"{where}, item {i + 1}: example block", list(a.block_of_row),
                             list(b.block_of_row))  # fmt: skip
        for i, instruction in enumerate(a.instructions):
            item = f"{where}, item {i + 1} {_quote(instruction)}"
            yield from _sequence(lambda j: f"{item}, validation example {j + 1}: answer", a.answers[i], b.answers[i])
            yield from _array(f"{item}: score", a.scores[i], b.scores[i], label="validation example")
        yield from _values(f"{where}: budget exhausted", a.budget_exhausted, b.budget_exhausted)

    return part


def _selection(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    a, b = original.result.selection, rerun.result.selection
    if a is None or b is None:
        yield from _values("selection stage", a is not None, b is not None)
        return
    yield from _sequence(lambda i: f"selection: candidate {i + 1}", a.candidates, b.candidates)
    for name in ("validation_scores", "validation_counts", "selection_sums", "selection_n"):
        yield from _array(f"selection: {name.replace('_', ' ')}", np.asarray(getattr(a, name), dtype=float),
                          np.asarray(getattr(b, name), dtype=float), label="candidate")  # fmt: skip
    yield from _sequence(lambda r: f"selection: rung {r + 1} (candidates alive)", a.rungs, b.rungs)
    yield from _values("selection: winner (candidate index)", a.winner, b.winner)


def _winner(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    a, b = original.result, rerun.result
    yield from _values("winner", a.best_instruction, b.best_instruction, show=_quote)
    yield from _values("winner's validation score", a.validation_score, b.validation_score)


def _test(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    yield from _test_result("test", original.result.test, rerun.result.test)


def _test_result(where: str, a: TestResult, b: TestResult) -> Iterator[Difference]:
    yield from _sequence(lambda j: f"{where} example {j + 1}: answer", a.answers, b.answers)
    yield from _array(f"{where}: score", a.per_example, b.per_example, label="example")
    yield from _values(f"{where} score and interval", (a.score, a.ci_low, a.ci_high), (b.score, b.ci_low, b.ci_high))


def _baselines(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    a, b = original.result.baselines, rerun.result.baselines
    yield from _sequence(lambda i: f"baseline {i + 1}: instruction", [x.instruction for x in a],
                         [x.instruction for x in b])  # fmt: skip
    for i, (x, y) in enumerate(zip(a, b)):
        yield from _array(f"baseline {i + 1}: validation score", x.validation_per_example, y.validation_per_example,
                          label="example")  # fmt: skip
        yield from _test_result(f"baseline {i + 1} test", x.test, y.test)


def _stopped(original: RunOutcome, rerun: RunOutcome) -> Iterator[Difference]:
    yield from _values("stop reason", original.result.stop_reason, rerun.result.stop_reason)


def _values(where: str, a: Any, b: Any, show: Callable[[Any], str] = repr) -> Iterator[Difference]:
    if a != b:
        yield Difference(where, show(a), show(b))


def _sequence(where: Callable[[int], str], a: Sequence, b: Sequence, show: Callable[[Any], str] = repr
              ) -> Iterator[Difference]:  # fmt: skip
    """The first index where two sequences differ, or their lengths."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            yield Difference(where(i), show(x), show(y))
            return
    if len(a) != len(b):
        yield Difference(where(min(len(a), len(b))), *(f"{len(s)} in all" for s in (a, b)))


def _array(where: str, a: np.ndarray, b: np.ndarray, label: str = "entry") -> Iterator[Difference]:
    """Exact equality of two float arrays (NaN equals NaN); names the first entry that differs, in full precision."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        yield Difference(f"{where}: shape", str(a.shape), str(b.shape))
        return
    differ = np.argwhere(~((a == b) | (np.isnan(a) & np.isnan(b))))
    if len(differ):
        index = tuple(int(i) for i in differ[0])
        at = f"{label} {index[0] + 1}" if len(index) == 1 else f"entry {index}"
        yield Difference(f"{where}, {at}", repr(float(a[index])), repr(float(b[index])))


def _quote(text: str) -> str:
    text = repr(text)
    return text if len(text) <= QUOTE_WIDTH else text[: QUOTE_WIDTH - 4] + "...'"
