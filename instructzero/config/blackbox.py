"""The black box: the backend and model whose zero-shot accuracy is optimized, its limits and prices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from instructzero.config.base import StrictModel


class TokenPrice(StrictModel):
    """USD per million tokens, as providers publish them."""

    prompt_per_million: float = Field(0.0, ge=0.0)
    completion_per_million: float = Field(0.0, ge=0.0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million) / 1e6


class BlackBoxConfig(StrictModel):
    """The model whose zero-shot accuracy is optimized."""

    #: A registered backend (`instructzero.blackbox.backends`): `local` (in-process transformers),
    #: `openai` (any OpenAI-compatible endpoint).
    backend: str = "local"
    model: str = "smollm2"
    gguf_file: str | None = None
    base_url: str | None = None
    #: Name of the environment variable that holds the API key; the key itself never
    #: enters a config. `null` for servers that take no key (a local llama.cpp server).
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = Field(0.0, ge=0.0)
    max_tokens: int = Field(16, ge=1)
    batch_size: int = Field(16, ge=1)
    max_concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    use_chat_template: bool = False
    device: str = "auto"
    #: SQLite file of responses already paid for; `null` keeps them in memory only.
    cache_path: str | None = None
    #: Share paid-for responses through the artifact store: `auto` does when the store
    #: is remote (S3 on Kubernetes, where a pod's local files die with it).
    cache_sync: Literal["auto", "always", "never"] = "auto"
    #: Part of the black box's identity: answers cached under another namespace are not reused. A
    #: re-optimization after a regression found with `recheck.fresh_answers` gets a new one, since
    #: the model behind the same name changed and older answers are stale.
    cache_namespace: str = ""
    #: Retries of one request on 429, 5xx, timeouts, dropped connections and malformed
    #: answers; exponential backoff with jitter, or the server's `Retry-After`.
    max_retries: int = Field(6, ge=0)
    retry_base_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    #: Client-side rate limits, below the provider's so that 429s stay rare.
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    #: Spending caps for the whole run (validation scoring and the test evaluation). When
    #: the next request would pass one, scoring stops and the run ends with the best so far.
    max_calls: int | None = Field(None, ge=1)
    max_cost_usd: float | None = Field(None, gt=0)
    #: USD per million tokens by model name, for cost accounting and `max_cost_usd`.
    prices: dict[str, TokenPrice] = {}
    #: One cheap request before any spending, so a wrong key, URL or model fails at once.
    probe: bool = True
    #: Answer from the response cache only (a replay): nothing is sent, so no key is needed, and a request the
    #: cache lacks is an error that counts what is missing.
    stored_only: bool = False

    @field_validator("backend")
    @classmethod
    def _registered(cls, name: str) -> str:
        from instructzero.blackbox.base import backend_names

        if name not in backend_names():
            raise ValueError(f"unknown backend '{name}': use one of {backend_names()}")
        return name

    @model_validator(mode="after")
    def _endpoint(self) -> BlackBoxConfig:
        backend = self.backend_class
        if backend.needs_base_url and not self.base_url:
            raise ValueError(f"blackbox.base_url is required for backend '{self.backend}'")
        if self.max_cost_usd is not None and backend.billed and self.model not in self.prices:
            raise ValueError(f"max_cost_usd needs a price: add blackbox.prices.{self.model}")
        return self

    @property
    def backend_class(self):
        """The registered backend class (:mod:`instructzero.blackbox.backends`)."""
        from instructzero.blackbox.base import backend_class

        return backend_class(self.backend)

    @property
    def price(self) -> TokenPrice:
        """Price of this run's model; a backend that is not billed (the in-process model) costs nothing."""
        return self.prices.get(self.model, TokenPrice()) if self.backend_class.billed else TokenPrice()
