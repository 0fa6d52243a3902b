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

import hashlib
import random
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import BlackBox, Completion
from instructzero.config import APEConfig, WhiteBoxConfig
from instructzero.search.generator import exemplar_prompt, postprocess_instruction
from instructzero.models.loading import load_causal_lm
from instructzero.blackbox.cache import ResponseCache
from instructzero.data.task import TaskData

#: The response-cache "template" of proposals, so they never mix with zero-shot answers.
PROPOSAL_TEMPLATE = "ape-proposal:{input}"


def row_seed(row: np.ndarray) -> int:
    """A 31-bit seed from one row of the round's random draw."""
    return int.from_bytes(hashlib.sha256(np.ascontiguousarray(row, dtype=np.float64).tobytes()).digest()[:4], "big") >> 1


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
            )
        completions += tokenizer.batch_decode(output[:, enc.input_ids.shape[1] :], skip_special_tokens=True)
    return [postprocess_instruction(c) for c in completions]


def sample_with_blackbox(
    blackbox: BlackBox, prompts: Sequence[str], cache: ResponseCache, budget: Budget | None = None
) -> tuple[list[str | None], Spend]:
    """The black box's completions of the APE prompts, through the response cache.

    Returns one instruction per prompt (None where the budget refused the request) and what it cost.
    """
    keys = [cache.key(blackbox.identity, PROPOSAL_TEMPLATE, "", p) for p in prompts]
    known = cache.get_many(keys)
    todo = [i for i, k in enumerate(keys) if k not in known]
    paid: list[Completion] = []

    def store(index: int, completion: Completion) -> None:
        key = keys[todo[index]]
        cache.put_many([(key, completion.text, completion.prompt_tokens, completion.completion_tokens)])
        known[key] = completion.text
        paid.append(completion)

    if todo:
        blackbox.complete([prompts[i] for i in todo], on_result=store, budget=budget)
    prompt_tokens = sum(c.prompt_tokens for c in paid)
    completion_tokens = sum(c.completion_tokens for c in paid)
    spend = Spend(
        calls=len(paid),
        cache_hits=len(prompts) - len(todo),
        retries=sum(c.attempts - 1 for c in paid),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=budget.price.cost(prompt_tokens, completion_tokens) if budget is not None else 0.0,
    )
    return [postprocess_instruction(known[k]) if k in known else None for k in keys], spend
