"""Black-box LLM backends: the model whose zero-shot accuracy an instruction is judged by.

Both backends answer a batch of prompts with :class:`Completion` objects and
expose an ``identity`` (endpoint, model, decoding settings) that keys the
response cache, so answers paid for once are reused by every later run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from tqdm.auto import tqdm

from instructzero.accounting import Budget
from instructzero.config import BlackBoxConfig
from instructzero.models import LoadedModel, load_causal_lm

#: Zero-shot query of the reference evaluation.
ZERO_SHOT_TEMPLATE = "Instruction: {instruction}\n\nInput: {input}\n\nOutput:"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Requests it took (1 + retries).
    attempts: int = 1


class BlackBox(Protocol):
    """Anything that answers prompts deterministically enough to be cached."""

    @property
    def identity(self) -> str: ...

    def complete(
        self,
        prompts: Sequence[str],
        progress: bool = False,
        on_result: Callable[[int, Completion], None] | None = None,
        budget: Budget | None = None,
    ) -> list[Completion | None]:
        """Answers in prompt order, each also handed to `on_result(index, completion)` as soon as it
        exists; None for prompts the `budget` refused (those are never sent)."""
        ...


class LocalBlackBox:
    """A transformers model in-process: the offline default (greedy decoding)."""

    def __init__(
        self, lm: LoadedModel, max_tokens: int = 16, batch_size: int = 16, use_chat_template: bool = False
    ) -> None:
        self.lm = lm
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.use_chat_template = use_chat_template

    @property
    def identity(self) -> str:
        return f"local:{self.lm.name}:greedy:max_tokens={self.max_tokens}:chat={self.use_chat_template}"

    def _format(self, prompt: str) -> str:
        if not self.use_chat_template:
            return prompt
        return self.lm.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    @torch.inference_mode()
    def complete(
        self,
        prompts: Sequence[str],
        progress: bool = False,
        on_result: Callable[[int, Completion], None] | None = None,
        budget: Budget | None = None,
    ) -> list[Completion | None]:
        tokenizer, model = self.lm.tokenizer, self.lm.model
        results: list[Completion | None] = [None] * len(prompts)
        starts = range(0, len(prompts), self.batch_size)
        for start in tqdm(starts, desc="black box", unit="batch", disable=not progress):
            batch = list(prompts[start : start + self.batch_size])
            if budget is not None:
                allowed = 0
                while allowed < len(batch) and budget.try_reserve():
                    allowed += 1
                batch = batch[:allowed]
            if not batch:
                break
            batch = [self._format(p) for p in batch]
            enc = tokenizer(batch, return_tensors="pt", padding=True).to(self.lm.device)
            output = model.generate(
                **enc, max_new_tokens=self.max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            new_tokens = output[:, enc.input_ids.shape[1] :]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            prompt_lengths = enc.attention_mask.sum(dim=1).tolist()
            new_lengths = (new_tokens != tokenizer.pad_token_id).sum(dim=1).tolist()
            for offset, (text, n_prompt, n_new) in enumerate(zip(texts, prompt_lengths, new_lengths)):
                completion = Completion(text, int(n_prompt), int(n_new))
                if budget is not None:
                    budget.settle(completion.prompt_tokens, completion.completion_tokens)
                results[start + offset] = completion
                if on_result is not None:
                    on_result(start + offset, completion)
        return results


def make_blackbox(config: BlackBoxConfig) -> BlackBox:
    """The backend a run config names."""
    if config.backend == "local":
        lm = load_causal_lm(config.model, config.gguf_file, config.device)
        return LocalBlackBox(lm, config.max_tokens, config.batch_size, config.use_chat_template)
    from instructzero.openai_backend import OpenAIBlackBox, RetryPolicy

    return OpenAIBlackBox(
        base_url=config.base_url or "",
        model=config.model,
        api_key_env=config.api_key_env,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        max_concurrency=config.max_concurrency,
        timeout_s=config.timeout_s,
        retry=RetryPolicy(config.max_retries, config.retry_base_s, config.retry_max_s),
        requests_per_minute=config.requests_per_minute,
        tokens_per_minute=config.tokens_per_minute,
    )
