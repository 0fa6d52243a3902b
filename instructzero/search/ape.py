"""APE-style forward generation: the baseline that samples instructions without soft prompts.

APE (Zhou et al., 2023) shows a proposer model a few demonstrations behind the
preamble "I gave a friend an instruction and five inputs…" and samples the
instruction it completes; different exemplar subsets and sampling make the
candidates differ, and the best on the validation subset wins. Here each
candidate is identified by one row of the round's `q x d` random draw (as a
soft prompt identifies an InstructZero candidate): the row seeds its exemplar
subset, so the same config proposes the same candidates on every run.

References:
    Zhou, Y., Muresanu, A. I., Han, Z., Paster, K., Pitis, S., Chan, H., Ba, J.
    Large Language Models Are Human-Level Prompt Engineers. ICLR 2023.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.caller import BlackBoxCaller, Request
from instructzero.config.search import APEConfig
from instructzero.config.whitebox import WhiteBoxConfig
from instructzero.data.task import TaskData
from instructzero.models.loading import load_causal_lm
from instructzero.search.generator import FirstSentenceDone, exemplar_prompt, postprocess_instruction
from instructzero.seeding import seed_from_bytes

#: The response-cache "template" of proposals, so they never mix with zero-shot answers.
PROPOSAL_TEMPLATE = "ape-proposal:{input}"


def row_seed(row: np.ndarray) -> int:
    """A 31-bit seed from one row (or rows) of the round's random draw."""
    return seed_from_bytes(np.ascontiguousarray(row, dtype=np.float64).tobytes())


def ape_prompts(task: TaskData, n_exemplars: int, draws: np.ndarray) -> list[str]:
    """One APE prompt per row of `draws` (`q x d`): κ exemplars from `prompt_gen`, drawn with the row's seed."""
    prompts = []
    for row in draws:
        rng = random.Random(row_seed(row))
        exemplars = rng.sample(task.prompt_gen, min(n_exemplars, len(task.prompt_gen)))
        prompts.append(exemplar_prompt(exemplars, template="ape"))
    return prompts


@torch.inference_mode()
def sample_with_whitebox(
    whitebox: WhiteBoxConfig, ape: APEConfig, prompts: Sequence[str], draws: np.ndarray, progress: bool = False
) -> list[str]:
    """Sampled completions of the white box (temperature, nucleus); each batch's sampling seed comes
    from its rows, so results do not depend on what ran before."""
    lm = load_causal_lm(whitebox.model, whitebox.gguf_file, whitebox.device)
    tokenizer, model = lm.tokenizer, lm.model
    completions: list[str] = []
    for start in tqdm(range(0, len(prompts), whitebox.batch_size), desc="white box (APE)", unit="batch",
                      disable=not progress):  # fmt: skip
        batch = list(prompts[start : start + whitebox.batch_size])
        enc = tokenizer(batch, return_tensors="pt", padding=True).to(lm.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(row_seed(draws[start : start + len(batch)]))
            output = model.generate(
                **enc,
                max_new_tokens=whitebox.max_new_tokens,
                do_sample=True,
                temperature=ape.temperature,
                top_p=ape.top_p,
                no_repeat_ngram_size=whitebox.no_repeat_ngram_size,
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=[FirstSentenceDone(tokenizer, enc.input_ids.shape[1])],
            )
        completions += tokenizer.batch_decode(output[:, enc.input_ids.shape[1] :], skip_special_tokens=True)
    return [postprocess_instruction(c) for c in completions]


def sample_with_blackbox(
    caller: BlackBoxCaller, prompts: Sequence[str], budget: Budget | None = None
) -> tuple[list[str | None], Spend]:
    """The black box's completions of the APE prompts (through the response cache, within `budget`).

    Returns one instruction per prompt (None where the budget refused the request) and what it cost.
    """
    answers = caller.ask([Request(p, PROPOSAL_TEMPLATE, "", p) for p in prompts], budget)
    return [postprocess_instruction(a) if a is not None else None for a in answers.texts], answers.spend
