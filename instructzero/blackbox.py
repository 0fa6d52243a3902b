"""Black-box LLM backends: the model whose zero-shot accuracy an instruction is judged by.

Both backends answer a batch of prompts with :class:`Completion` objects and
expose an ``identity`` (endpoint, model, decoding settings) that keys the
response cache, so answers paid for once are reused by every later run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from tqdm.auto import tqdm

from instructzero.config import BlackBoxConfig
from instructzero.errors import BlackBoxError
from instructzero.models import LoadedModel, load_causal_lm

#: Zero-shot query of the reference evaluation.
ZERO_SHOT_TEMPLATE = "Instruction: {instruction}\n\nInput: {input}\n\nOutput:"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class BlackBox(Protocol):
    """Anything that answers prompts deterministically enough to be cached."""

    @property
    def identity(self) -> str: ...

    def complete(self, prompts: Sequence[str], progress: bool = False) -> list[Completion]: ...


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
    def complete(self, prompts: Sequence[str], progress: bool = False) -> list[Completion]:
        tokenizer, model = self.lm.tokenizer, self.lm.model
        results: list[Completion] = []
        starts = range(0, len(prompts), self.batch_size)
        for start in tqdm(starts, desc="black box", unit="batch", disable=not progress):
            batch = [self._format(p) for p in prompts[start : start + self.batch_size]]
            enc = tokenizer(batch, return_tensors="pt", padding=True).to(self.lm.device)
            output = model.generate(
                **enc, max_new_tokens=self.max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            new_tokens = output[:, enc.input_ids.shape[1] :]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            prompt_lengths = enc.attention_mask.sum(dim=1).tolist()
            new_lengths = (new_tokens != tokenizer.pad_token_id).sum(dim=1).tolist()
            results += [Completion(t, int(p), int(n)) for t, p, n in zip(texts, prompt_lengths, new_lengths)]
        return results


class OpenAIBlackBox:
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        temperature: float = 0.0,
        max_tokens: int = 16,
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
    ) -> None:
        api_key = os.environ.get(api_key_env) if api_key_env else "unused"
        if not api_key:
            raise BlackBoxError(
                f"environment variable {api_key_env} is not set. Export the API key for {base_url} there "
                "(or name another variable in blackbox.api_key_env)."
            )
        from openai import AsyncOpenAI

        self.base_url = base_url
        self.api_key_env = api_key_env
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_concurrency = max_concurrency
        self._client_args = dict(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=3)
        self._client_class = AsyncOpenAI

    @property
    def identity(self) -> str:
        return f"openai:{self.base_url}:{self.model}:t={self.temperature}:max_tokens={self.max_tokens}"

    def complete(self, prompts: Sequence[str], progress: bool = False) -> list[Completion]:
        return asyncio.run(self._complete_all(list(prompts), progress))

    async def _complete_all(self, prompts: list[str], progress: bool) -> list[Completion]:
        import openai

        client = self._client_class(**self._client_args)
        limit = asyncio.Semaphore(self.max_concurrency)
        bar = tqdm(total=len(prompts), desc="black box", unit="call", disable=not progress)

        async def one(prompt: str) -> Completion:
            async with limit:
                response = await client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                )
            bar.update()
            usage = response.usage
            return Completion(
                response.choices[0].message.content or "",
                usage.prompt_tokens if usage else 0,
                usage.completion_tokens if usage else 0,
            )

        try:
            return list(await asyncio.gather(*(one(p) for p in prompts)))
        except openai.APIConnectionError:
            raise BlackBoxError(f"cannot reach {self.base_url}. Check blackbox.base_url and that the server is up.") from None
        except openai.AuthenticationError:
            raise BlackBoxError(f"{self.base_url} rejected the API key. Check the key in ${self.api_key_env}.") from None
        except openai.NotFoundError:
            raise BlackBoxError(f"{self.base_url} does not serve model '{self.model}'. Check blackbox.model.") from None
        except openai.APIStatusError as exc:
            raise BlackBoxError(f"{self.base_url} answered HTTP {exc.status_code} after retries: {exc.message}") from None
        finally:
            bar.close()
            await client.close()


def make_blackbox(config: BlackBoxConfig) -> BlackBox:
    """The backend a run config names."""
    if config.backend == "local":
        lm = load_causal_lm(config.model, config.gguf_file, config.device)
        return LocalBlackBox(lm, config.max_tokens, config.batch_size, config.use_chat_template)
    return OpenAIBlackBox(
        base_url=config.base_url or "",
        model=config.model,
        api_key_env=config.api_key_env,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        max_concurrency=config.max_concurrency,
        timeout_s=config.timeout_s,
    )
