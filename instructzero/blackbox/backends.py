"""The black box a run config names."""

from __future__ import annotations

from instructzero.blackbox.base import BlackBox
from instructzero.config import BlackBoxConfig


def make_blackbox(config: BlackBoxConfig) -> BlackBox:
    """The backend a run config names."""
    if config.backend == "local":
        from instructzero.blackbox.local import LocalBlackBox

        return LocalBlackBox(
            config.model, config.gguf_file, config.device, config.max_tokens, config.batch_size, config.use_chat_template,
            config.cache_namespace,
        )
    from instructzero.blackbox.openai_compatible import OpenAIBlackBox, RetryPolicy  # the client is imported only if used

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
        namespace=config.cache_namespace,
    )
