"""The offline black box: a transformers causal LM in the same process, greedy decoding."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from instructzero.blackbox.accounting import Budget
from instructzero.blackbox.base import Completion
from instructzero.models.loading import LoadedModel, load_causal_lm


class LocalBlackBox:
    """A transformers model in-process: the offline default (greedy decoding).

    The model is loaded on the first request, so a black box with nothing to
    answer (everything cached, or an empty round) costs no model load.
    """

    def __init__(
        self,
        model: str,
        gguf_file: str | None = None,
        device: str = "auto",
        max_tokens: int = 16,
        batch_size: int = 16,
        use_chat_template: bool = False,
        namespace: str = "",
    ) -> None:
        self.model_name = model
        self.gguf_file = gguf_file
        self.device = device
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.use_chat_template = use_chat_template
        self.namespace = namespace

    @property
    def lm(self) -> LoadedModel:
        return load_causal_lm(self.model_name, self.gguf_file, self.device)  # memoized per process

    @property
    def identity(self) -> str:
        identity = f"local:{self.model_name}:greedy:max_tokens={self.max_tokens}:chat={self.use_chat_template}"
        return f"{identity}:ns={self.namespace}" if self.namespace else identity

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
        results: list[Completion | None] = [None] * len(prompts)
        if not prompts:
            return results
        tokenizer, model = self.lm.tokenizer, self.lm.model
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
