"""The offline black box: a transformers causal LM in the same process, greedy decoding."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from instructzero.blackbox.base import Backend, Completion, OnAnswer, logprob_text, register_backend

if TYPE_CHECKING:
    from instructzero.config.blackbox import BlackBoxConfig
    from instructzero.models.loading import LoadedModel


@register_backend("local")
class LocalBackend(Backend):
    """A transformers model in-process: the offline default (greedy decoding, batches of `batch_size`).

    The model is loaded on the first request, so a black box with nothing to
    answer (everything cached, or an empty round) costs no model load.
    """

    supports_logprobs = True

    def __init__(
        self,
        model: str,
        *,
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

    @classmethod
    def from_config(cls, config: BlackBoxConfig) -> LocalBackend:
        return cls(
            config.model,
            gguf_file=config.gguf_file,
            device=config.device,
            max_tokens=config.max_tokens,
            batch_size=config.batch_size,
            use_chat_template=config.use_chat_template,
            namespace=config.cache_namespace,
        )

    @property
    def lm(self) -> LoadedModel:
        from instructzero.models.loading import load_causal_lm

        return load_causal_lm(self.model_name, self.gguf_file, self.device)  # memoized per process

    @property
    def identity(self) -> str:
        identity = f"local:{self.model_name}:greedy:max_tokens={self.max_tokens}:chat={self.use_chat_template}"
        return f"{identity}:ns={self.namespace}" if self.namespace else identity

    def check(self, probe: bool) -> None:
        from instructzero.models.files import model_source

        model_source(self.model_name, self.gguf_file)  # the shipped model's files, without loading them

    def _format(self, prompt: str) -> str:
        if not self.use_chat_template:
            return prompt
        return self.lm.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def answer(self, requests: Iterable[tuple[int, str]], on_answer: OnAnswer) -> None:
        import torch

        requests = iter(requests)
        with torch.inference_mode():
            while batch := list(itertools.islice(requests, self.batch_size)):
                tokenizer, model = self.lm.tokenizer, self.lm.model
                enc = tokenizer([self._format(p) for _, p in batch], return_tensors="pt", padding=True).to(self.lm.device)
                output = model.generate(
                    **enc, max_new_tokens=self.max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
                new_tokens = output[:, enc.input_ids.shape[1] :]
                texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
                prompt_lengths = enc.attention_mask.sum(dim=1).tolist()
                new_lengths = (new_tokens != tokenizer.pad_token_id).sum(dim=1).tolist()
                for (index, _), text, n_prompt, n_new in zip(batch, texts, prompt_lengths, new_lengths):
                    on_answer(index, Completion(text, int(n_prompt), int(n_new)))

    def logprobs(self, requests: Iterable[tuple[int, str, str]], on_answer: OnAnswer) -> None:
        """Mean token log-probability of each continuation after its (formatted) prompt: one forward pass per
        batch, no generation. Left padding puts every row's continuation at the end of the row."""
        import torch

        requests = iter(requests)
        with torch.inference_mode():
            while batch := list(itertools.islice(requests, self.batch_size)):
                tokenizer, model = self.lm.tokenizer, self.lm.model
                prompts = [self._format(p) for _, p, _ in batch]
                conts = [c.lstrip() if self.use_chat_template else c for _, _, c in batch]
                n_prompt = [len(tokenizer(p).input_ids) for p in prompts]
                enc = tokenizer([p + c for p, c in zip(prompts, conts)], return_tensors="pt", padding=True)
                enc = enc.to(self.lm.device)
                positions = (enc.attention_mask.cumsum(dim=1) - 1).clamp(min=0)
                logits = model(**enc, position_ids=positions).logits.float()
                token_logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(
                    -1, enc.input_ids[:, 1:].unsqueeze(-1)
                ).squeeze(-1)  # `b x (L - 1)`: log p(token t | tokens < t), for t = 1 .. L - 1
                lengths = enc.attention_mask.sum(dim=1).tolist()
                for row, ((index, _, _), n_first, length) in enumerate(zip(batch, n_prompt, lengths)):
                    n_cont = max(1, int(length) - n_first)  # tokens of the continuation (at least the last one)
                    value = token_logprobs[row, -n_cont:].mean().item()
                    on_answer(index, Completion(logprob_text(value), int(length), 0))
