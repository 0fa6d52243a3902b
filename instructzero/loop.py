"""The whole InstructZero loop in one process: the reference the pipeline must match.

Each stage is a function of the run config and a derived seed, so the ZenML
steps call exactly these functions and reproduce `optimize` number for number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from instructzero.accounting import Budget
from instructzero.blackbox import BlackBox, make_blackbox
from instructzero.bo import next_soft_prompts, sobol_design, uniform_design
from instructzero.config import RunConfig
from instructzero.data import Example, TaskData, read_raw_splits, task_from_raw
from instructzero.errors import BlackBoxError, ConfigError
from instructzero.evaluation import TestResult, evaluate_on_test
from instructzero.generator import InstructionGenerator, exemplar_prompt
from instructzero.history import Candidates, History
from instructzero.models import SMOLLM2, LoadedModel, load_causal_lm, smollm2_location
from instructzero.projection import SoftPromptProjection, sample_projection
from instructzero.scoring import ResponseCache, score_instructions
from instructzero.seeding import derive_seed
from instructzero.validation import DataValidationReport, check_task_data

logger = logging.getLogger(__name__)


def load_validated_task(config: RunConfig) -> tuple[TaskData, DataValidationReport | None]:
    """Read the task, run the data checks on its raw splits (unless disabled), then parse it.

    Raises :class:`DataValidationError` (with the report) when a check fails.
    """
    name, raw = read_raw_splits(config.task, config.seed)
    report = check_task_data(config.task, name, raw) if config.task.validation.enabled else None
    return task_from_raw(config.task, name, raw), report


def preflight(config: RunConfig) -> TaskData:
    """Fail fast, before any step, model load or spending, on errors a user can fix.

    Task data (its expectations) and metric, a budget too small to score one
    instruction and test it, and for an endpoint: the key variable, then one
    cheap probe (URL, key, model). Returns the validated task.
    """
    task, _ = load_validated_task(config)
    bb = config.blackbox
    n_validation = len(validation_examples(config, task))
    needed = n_validation + len(task.test)
    if bb.max_calls is not None and bb.max_calls < needed:
        raise ConfigError(
            f"blackbox.max_calls={bb.max_calls} cannot score even one instruction ({n_validation}"
            f" validation calls) and test it ({len(task.test)} calls): raise it to at least {needed}."
        )
    if bb.backend == "openai":
        blackbox = make_blackbox(bb)  # checks that the key variable is set
        if bb.probe:
            blackbox.probe()
    for model in (config.whitebox.model, config.blackbox.model if config.blackbox.backend == "local" else None):
        if model == SMOLLM2:
            smollm2_location()
    return task


def load_whitebox(config: RunConfig) -> LoadedModel:
    wb = config.whitebox
    return load_causal_lm(wb.model, wb.gguf_file, wb.device)


def build_projection(config: RunConfig, lm: LoadedModel) -> SoftPromptProjection:
    """A for this run: its seed derives from the run seed, its width from the white box."""
    return sample_projection(
        d=config.projection.intrinsic_dim,
        n_tokens=config.whitebox.n_soft_tokens,
        hidden=lm.hidden_size,
        seed=derive_seed(config.seed, "projection"),
        distribution=config.projection.distribution,
        embedding_std=lm.embedding_std() if config.projection.distribution == "normal" else None,
    )


def build_generator(config: RunConfig, projection: SoftPromptProjection) -> InstructionGenerator:
    wb = config.whitebox
    return InstructionGenerator(
        load_whitebox(config), projection, wb.max_new_tokens, wb.batch_size, wb.use_chat_template
    )


def generation_text(config: RunConfig, task: TaskData) -> str:
    return exemplar_prompt(task.exemplars(config.task.n_exemplars, config.seed))


def validation_examples(config: RunConfig, task: TaskData) -> tuple[Example, ...]:
    return task.validation_subset(config.task.n_validation, config.seed)


def initial_soft_prompts(config: RunConfig) -> np.ndarray:
    """`n_init x d` starting design: Sobol for BO, i.i.d. uniform for the baseline."""
    design = sobol_design if config.bo.strategy == "bo" else uniform_design
    return design(config.bo.n_init, config.projection.intrinsic_dim, derive_seed(config.seed, "init"))


def propose_round(config: RunConfig, history: History, round_index: int) -> np.ndarray:
    """`q x d` soft prompts for round `round_index` (≥ 1) from everything evaluated so far."""
    bo = config.bo
    return next_soft_prompts(
        history.soft_prompts,
        history.scores,
        q=bo.batch_size,
        seed=derive_seed(config.seed, "bo", round_index),
        strategy=bo.strategy,
        kernel=bo.kernel,
        num_restarts=bo.num_restarts,
        raw_samples=bo.raw_samples,
    )


def make_budget(config: RunConfig, task: TaskData, history: History) -> Budget:
    """The run's caps, minus what `history` spent, holding back the test evaluation's calls."""
    bb = config.blackbox
    return Budget(bb.max_calls, bb.max_cost_usd, bb.price, spent=history.spend, reserve_calls=len(task.test))


def score_candidates(
    round_index: int,
    soft_prompts: np.ndarray,
    instructions: Sequence[str],
    examples: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    progress: bool = False,
    budget: Budget | None = None,
) -> Candidates:
    """Score a batch; instructions the budget cut short are dropped with their soft prompts."""
    report = score_instructions(instructions, examples, blackbox, metric, cache, progress=progress, budget=budget)
    if report.budget_exhausted:
        logger.warning(
            "budget (%s) reached in round %d: %d of %d instructions scored; the run stops after this round",
            budget.describe(), round_index, len(report.kept), len(instructions),
        )  # fmt: skip
    return Candidates(
        round=round_index,
        soft_prompts=np.asarray(soft_prompts, dtype=np.float64)[report.kept],
        instructions=[instructions[i] for i in report.kept],
        scores=report.scores,
        answers=report.answers,
        calls=report.calls,
        cache_hits=report.cache_hits,
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        retries=report.retries,
        cost_usd=report.cost_usd,
        budget_exhausted=report.budget_exhausted,
    )


def should_stop(config: RunConfig, history: History) -> bool:
    """Stop early on a perfect validation score (it cannot be improved on) or a spent budget."""
    return history.budget_exhausted or (bool(history.instructions) and history.best_score >= config.bo.stop_at_score)


def evaluate_best(
    config: RunConfig,
    task: TaskData,
    history: History,
    blackbox: BlackBox,
    cache: ResponseCache,
    progress: bool = False,
) -> TestResult:
    if not history.instructions:
        raise BlackBoxError(
            "the budget ran out before any instruction was fully scored: raise blackbox.max_calls or max_cost_usd."
        )
    ev = config.evaluation
    return evaluate_on_test(
        history.best_instruction,
        task.test,
        blackbox,
        task.metric,
        cache,
        n_bootstrap=ev.bootstrap_samples,
        confidence=ev.confidence,
        seed=derive_seed(config.seed, "bootstrap"),
        progress=progress,
        price=config.blackbox.price,
    )


@dataclass
class OptimizationResult:
    """Everything a run produced: the full history, the winner, its test score, the cost."""

    config: RunConfig
    task: str
    metric: str
    history: History
    test: TestResult
    projection_seed: int
    wall_time_s: float

    @property
    def best_instruction(self) -> str:
        return self.history.best_instruction

    @property
    def validation_score(self) -> float:
        return self.history.best_score

    @property
    def blackbox_calls(self) -> int:
        return self.history.calls + self.test.calls

    @property
    def cost_usd(self) -> float:
        return self.history.spend.cost_usd + self.test.cost_usd

    @property
    def tokens(self) -> tuple[int, int]:
        (p, c), t = self.history.tokens, self.test
        return p + t.prompt_tokens, c + t.completion_tokens

    @property
    def stop_reason(self) -> str:
        if self.history.budget_exhausted:
            bb = self.config.blackbox
            return f"budget reached ({Budget(bb.max_calls, bb.max_cost_usd).describe()})"
        if self.validation_score >= self.config.bo.stop_at_score:
            return f"validation score reached {self.config.bo.stop_at_score:g}"
        return "all rounds done"

    def summary(self) -> str:
        t = self.test
        pct = round(t.confidence * 100)
        return "\n".join(
            [
                f"task:              {self.task} (metric {self.metric})",
                f"best instruction:  {self.best_instruction}",
                f"validation score:  {self.validation_score:.3f} "
                f"(best of {len(self.history.instructions)} instructions)",
                f"test score:        {t.score:.3f} ({pct}% CI {t.ci_low:.3f}-{t.ci_high:.3f}, "
                f"{len(t.per_example)} examples)",
                f"black-box calls:   {self.blackbox_calls} "
                f"({self.history.cache_hits} answers reused from cache, {self.history.retries + t.retries} retries)",
                f"tokens, cost:      {self.tokens[0]} prompt + {self.tokens[1]} completion, ${self.cost_usd:.4f}",
                f"stopped:           {self.stop_reason}",
                f"wall time:         {self.wall_time_s:.1f} s",
            ]
        )


def optimize(config: RunConfig, progress: bool = False) -> OptimizationResult:
    """Run InstructZero end to end: initial design → BO rounds → best instruction → test score."""
    start = time.perf_counter()
    task = preflight(config)
    lm = load_whitebox(config)
    projection = build_projection(config, lm)
    generator = build_generator(config, projection)
    text = generation_text(config, task)
    examples = validation_examples(config, task)
    blackbox = make_blackbox(config.blackbox)
    cache = ResponseCache(config.blackbox.cache_path)

    history = History()
    soft_prompts = initial_soft_prompts(config)
    for round_index in range(config.bo.n_rounds + 1):
        if round_index > 0:
            soft_prompts = propose_round(config, history, round_index)
        instructions = generator.generate(torch.as_tensor(soft_prompts), text, progress=progress)
        budget = make_budget(config, task, history)
        batch = score_candidates(
            round_index, soft_prompts, instructions, examples, blackbox, task.metric, cache, progress, budget
        )
        history = history.append(batch)
        logger.info(
            "round %d: %d instructions, best so far %.3f, %d calls",
            round_index,
            len(batch.instructions),
            history.best_score if history.instructions else 0.0,
            history.calls,
        )
        if should_stop(config, history):
            break

    test = evaluate_best(config, task, history, blackbox, cache, progress)
    return OptimizationResult(
        config=config,
        task=task.name,
        metric=task.metric,
        history=history,
        test=test,
        projection_seed=projection.seed,
        wall_time_s=time.perf_counter() - start,
    )
