"""A round's candidate instructions, whatever the strategy: the one place instructions come from.

`bo` and `uniform` turn soft prompts into instructions with the white box
(:mod:`instructzero.search.generator`); `ape` samples them from varied exemplar subsets
(:mod:`instructzero.search.ape`), with the white box or, as in the APE paper, the black box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.search import APEConfig
from instructzero.config.whitebox import WhiteBoxConfig
from instructzero.data.task import TaskData
from instructzero.search.ape import ape_prompts, sample_with_blackbox, sample_with_whitebox
from instructzero.search.generator import exemplar_prompt, in_form, instructions_from_soft_prompts
from instructzero.search.history import Proposals
from instructzero.search.projection import SoftPromptProjection


def propose_instructions(
    strategy: str,
    soft_prompts: np.ndarray,
    *,
    whitebox: WhiteBoxConfig,
    ape: APEConfig,
    projection: SoftPromptProjection,
    task: TaskData,
    n_exemplars: int,
    seed: int,
    instructions: Sequence[str] = (),
    proposer: BlackBoxConfig | None = None,
    cache: ResponseCache | None = None,
    budget: Budget | None = None,
    progress: bool = False,
) -> Proposals:
    """The candidates of one round.

    Args:
        soft_prompts: `q x d` soft prompts (`bo`, `uniform`) or random draws identifying APE
            candidates (`ape`); `q = 0` (a round after the run stopped) proposes nothing at no cost.
        instructions: the user's own instructions, which the white box reads as a first draft when
            `whitebox.show_instructions` is on (`bo`, `uniform`).
        proposer: the black box, when it proposes (`ape.proposer: blackbox`); needs `cache` and `budget`.
    """
    if len(soft_prompts) == 0:
        return Proposals([])
    spend = Spend()
    if strategy != "ape":
        drafts = instructions if whitebox.show_instructions else ()
        text = exemplar_prompt(task.exemplars(n_exemplars, seed), whitebox.template, whitebox.instruction_start,
                               drafts=drafts)  # fmt: skip
        instructions = instructions_from_soft_prompts(whitebox, projection, torch.as_tensor(soft_prompts), text, progress)
    elif ape.proposer == "whitebox":
        instructions = sample_with_whitebox(whitebox, ape, ape_prompts(task, n_exemplars, soft_prompts), soft_prompts,
                                            progress)  # fmt: skip
    else:
        if proposer is None or cache is None:
            raise ValueError("APE with the black box as proposer needs its config and a response cache")
        sampler = proposer.model_copy(update={"temperature": ape.temperature, "max_tokens": whitebox.max_new_tokens})
        caller = BlackBoxCaller.for_config(sampler, cache, progress=progress)
        instructions, spend = sample_with_blackbox(caller, ape_prompts(task, n_exemplars, soft_prompts), budget)
    return Proposals([None if v is None else in_form(v, whitebox.instruction_form) for v in instructions], spend)


def proposer_blackbox(strategy: str, ape: APEConfig, blackbox: BlackBoxConfig) -> BlackBoxConfig | None:
    """The black box's config when it proposes instructions, else None (so generation does not depend on it)."""
    return blackbox if strategy == "ape" and ape.proposer == "blackbox" else None
