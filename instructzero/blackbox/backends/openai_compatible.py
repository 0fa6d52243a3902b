"""The black box behind any OpenAI-compatible chat-completions endpoint.

OpenAI, Azure OpenAI (by base URL), vLLM, Ollama and llama.cpp's server all speak
this protocol. Requests run concurrently on one `AsyncOpenAI` client, bounded by
`max_concurrency` and optional requests/tokens-per-minute buckets. Retries are
ours, not the client's, so that they are counted, jittered and honour the
server's `Retry-After`. Every answer is handed to `on_answer` the moment it
arrives (the caller caches it), so a failure later in a batch loses nothing
already paid for.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from instructzero.blackbox.base import Backend, Completion, OnAnswer, logprob_text, register_backend
from instructzero.blackbox.ratelimit import TokenBucket
from instructzero.errors import BlackBoxError

if TYPE_CHECKING:
    from instructzero.config.blackbox import BlackBoxConfig

logger = logging.getLogger(__name__)

#: Statuses worth retrying besides 429 and 5xx (request timeout, conflict), as OpenAI's own client does.
_RETRY_STATUSES = frozenset({408, 409})
#: A `Retry-After` longer than this is treated as an outage, not a pause.
MAX_RETRY_AFTER_S = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter; a server's `Retry-After` wins when it sends one."""

    max_retries: int = 6
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if retry_after is not None:
            # Small additive jitter so that clients told the same instant do not stampede.
            return min(retry_after, MAX_RETRY_AFTER_S) + rng.uniform(0, min(self.base_s, 1.0))
        cap = min(self.max_s, self.base_s * 2**attempt)
        return cap / 2 + rng.uniform(0, cap / 2)


class _Malformed(Exception):
    """A 200 answer without a usable completion."""


class _Failure(Exception):
    """Why one request failed, and whether trying again can help."""

    def __init__(
        self, reason: str, retryable: bool, retry_after: float | None = None, kind: str = "status", status: int = 0
    ) -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after, self.kind = reason, retryable, retry_after, kind
        self.status = status


def retry_after_seconds(headers) -> float | None:
    """`retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date; None if absent or unreadable."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _classify(exc: BaseException, timeout_s: float) -> _Failure:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return _Failure(f"no answer within {timeout_s:g} s (blackbox.timeout_s)", True, kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return _Failure("connection failed or dropped", True, kind="connection")
    if isinstance(exc, openai.APIStatusError):
        status, code = exc.status_code, getattr(exc, "code", None)
        if status == 429 and code == "insufficient_quota":
            return _Failure(
                "HTTP 429 insufficient_quota: the account is out of credit; check billing", False, status=429
            )
        retryable = status == 429 or status >= 500 or status in _RETRY_STATUSES
        return _Failure(
            f"HTTP {status}: {exc.message}", retryable, retry_after_seconds(exc.response.headers), status=status
        )
    if isinstance(exc, _Malformed | ValueError):  # includes json.JSONDecodeError
        return _Failure(f"malformed response ({exc})", True, kind="malformed")
    raise exc


#: The probe's prompt: the next token is " 8" for any language model.
_COUNTING = "1, 2, 3, 4, 5, 6, 7,"


@register_backend("openai")
class OpenAICompatibleBackend(Backend):
    """Any OpenAI-compatible chat-completions endpoint.

    Args:
        base_url: e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`.
        model: the served model name.
        api_key_env: the environment variable holding the key (never the key itself);
            None for servers that take none.
        requests_per_minute, tokens_per_minute: client-side limits (None: unlimited).
    """

    needs_base_url = True
    billed = True
    #: Through `/v1/completions` with `echo` and `logprobs` (vLLM, llama.cpp's Python server); the probe of
    #: `task.objective: logprob` checks that the endpoint gives them.
    supports_logprobs = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        temperature: float = 0.0,
        max_tokens: int = 16,
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        seed: int = 0,
        namespace: str = "",
    ) -> None:
        api_key = os.environ.get(api_key_env) if api_key_env else "unused"
        if not api_key:
            raise BlackBoxError(
                f"environment variable {api_key_env} is not set. Export the API key for {base_url} there "
                "(or name another variable in blackbox.api_key_env)."
            )
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.retry = retry
        self._api_key = api_key
        self._rpm = TokenBucket(requests_per_minute) if requests_per_minute else None
        self._tpm = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self._rng = random.Random(seed)
        self.namespace = namespace

    @classmethod
    def from_config(cls, config: BlackBoxConfig) -> OpenAICompatibleBackend:
        return cls(
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

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleBackend({self.base_url!r}, {self.model!r}, api_key_env={self.api_key_env!r})"

    @property
    def identity(self) -> str:
        """What decides an answer: endpoint, model and decoding settings (the cache key's first part)."""
        identity = f"openai:{self.base_url}:{self.model}:t={self.temperature}:max_tokens={self.max_tokens}"
        return f"{identity}:ns={self.namespace}" if self.namespace else identity

    def _client(self):
        from openai import AsyncOpenAI

        return AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout_s, max_retries=0)

    def _fatal(self, failure: _Failure, attempts: int) -> BlackBoxError:
        if failure.kind == "connection":
            return BlackBoxError(
                f"cannot reach {self.base_url} after {attempts} attempts ({failure.reason}). "
                "Check blackbox.base_url and that the server is up; answers so far are cached, rerun to resume."
            )
        if failure.status == 401:
            return BlackBoxError(f"{self.base_url} rejected the API key. Check the key in ${self.api_key_env}.")
        if failure.status == 404:
            return BlackBoxError(f"{self.base_url} does not serve model '{self.model}'. Check blackbox.model.")
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        return BlackBoxError(
            f"{self.base_url} failed{tried}: {failure.reason}. Answers so far are cached; rerun to resume."
        )

    # -- preflight ---------------------------------------------------------------------------
    def check(self, probe: bool) -> None:
        """The key variable is checked when the backend is built; with `probe`, the endpoint too."""
        if probe:
            self.probe()

    def probe(self) -> None:
        """Check key, endpoint and model before spending: the free model list, else a 1-token completion."""
        asyncio.run(self._probe())

    async def _probe(self) -> None:
        import openai

        client = self._client()
        try:
            try:
                listed = {m.id async for m in client.models.list()}
            except (openai.NotFoundError, openai.PermissionDeniedError, openai.InternalServerError, ValueError):
                listed = set()  # some gateways do not list models; fall through to a completion
            if self.model in listed:
                return
            await client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1, temperature=0
            )
            if listed:  # e.g. llama.cpp's server answers any name with its one model
                logger.warning(
                    "%s does not list model '%s' (it lists %s) but answered for it; check blackbox.model",
                    self.base_url, self.model, ", ".join(sorted(listed)[:5]),
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line naming the fix
            try:
                failure = _classify(exc, self.timeout_s)
            except Exception:
                raise BlackBoxError(f"{self.base_url} probe failed: {exc}") from None
            raise self._fatal(failure, 1) from None
        finally:
            await client.close()

    # -- answering ---------------------------------------------------------------------------
    def answer(self, requests: Iterable[tuple[int, str]], on_answer: OnAnswer) -> None:
        """Up to `max_concurrency` requests in flight, each pulling the next prompt when it is free."""
        asyncio.run(self._answer_all(iter(requests), on_answer, lambda client, r: self._request(client, r[1])))

    def logprobs(self, requests: Iterable[tuple[int, str, str]], on_answer: OnAnswer) -> None:
        """Log-probabilities of continuations, as many in flight as answers (see :meth:`_gold_logprob`)."""
        asyncio.run(self._answer_all(iter(requests), on_answer,
                                     lambda client, r: self._gold_logprob(client, r[1], r[2])))  # fmt: skip

    def probe_logprobs(self) -> None:
        """Two log-probability requests before any spending: a one-line error if the endpoint gives no prompt
        log-probabilities, or gives them misaligned. A counting continuation any language model predicts must
        be far likelier than an unrelated word; llama-cpp-python's server (0.3.x) scores each echoed token with
        the distribution *after* it, which inverts that."""

        async def probe() -> tuple[float, float]:
            client = self._client()
            try:
                likely = await self._gold_logprob(client, _COUNTING, " 8")
                unlikely = await self._gold_logprob(client, _COUNTING, " banana")
                return float(likely.text), float(unlikely.text)
            finally:
                await client.close()

        fix = "use an endpoint with correct echo + logprobs on /v1/completions (e.g. vLLM), or task.objective: metric"
        try:
            likely, unlikely = asyncio.run(probe())
        except BlackBoxError as exc:
            raise BlackBoxError(f"{self.base_url} gives no prompt log-probabilities ({exc}): {fix}.") from None
        if likely <= unlikely + 1.0:
            raise BlackBoxError(
                f"{self.base_url} gives misaligned prompt log-probabilities (log p(' 8' | '{_COUNTING}') = "
                f"{likely:.2f}, log p(' banana' | same) = {unlikely:.2f}): {fix}."
            )

    async def _answer_all(self, requests: Iterator[tuple], on_answer: OnAnswer, send) -> None:
        client = self._client()
        for bucket in (self._rpm, self._tpm):
            if bucket:
                bucket.reset_loop()
        failed = False  # after a fatal error, nothing more is pulled or sent

        async def worker() -> None:
            nonlocal failed
            # One event-loop thread: pulling from the shared iterator needs no lock.
            while not failed and (request := next(requests, None)) is not None:
                try:
                    completion = await send(client, request)
                except BaseException:
                    failed = True
                    raise
                on_answer(request[0], completion)

        workers = [asyncio.ensure_future(worker()) for _ in range(self.max_concurrency)]
        try:
            done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:  # a fatal error: stop sending, keep what arrived
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in workers:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()
        finally:
            await client.close()

    async def _request(self, client, prompt: str) -> Completion:
        async def send():
            response = await client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            )
            if isinstance(response, str | bytes):  # the body was not the API's JSON
                text = response.decode(errors="replace") if isinstance(response, bytes) else response
                kind = "an HTML page" if "<html" in text[:500].lower() else "a body that is not JSON"
                raise _Malformed(f"{kind} instead of the API's JSON: check blackbox.base_url (usually ending in /v1)")
            if not getattr(response, "choices", None) or response.choices[0].message is None:
                raise _Malformed("no choices in the answer")
            return response, response.choices[0].message.content or ""

        return await self._with_retries(send, estimate=len(prompt) / 4 + self.max_tokens)

    async def _gold_logprob(self, client, prompt: str, continuation: str) -> Completion:
        """`/v1/completions` on `prompt + continuation` with `echo` and `logprobs`: the mean log-probability of
        the tokens that start inside `continuation` (character offsets). The raw prompt, without the chat
        template the answers get: a proxy for the search, whose pick is still made on the metric."""
        start, end = len(prompt), len(prompt) + len(continuation)

        async def send():
            response = await client.completions.create(
                model=self.model, prompt=prompt + continuation, echo=True, logprobs=1, max_tokens=1, temperature=0
            )
            choice = response.choices[0] if getattr(response, "choices", None) else None
            logprobs = getattr(choice, "logprobs", None)
            if logprobs is None or not logprobs.token_logprobs or not logprobs.text_offset:
                raise _Malformed("no prompt log-probabilities: the endpoint ignores echo + logprobs")
            values = [v for offset, v in zip(logprobs.text_offset, logprobs.token_logprobs)
                      if start <= offset < end and v is not None]  # fmt: skip
            if not values:
                raise _Malformed("no log-probabilities for the continuation's tokens")
            return response, logprob_text(sum(values) / len(values))

        return await self._with_retries(send, estimate=end / 4 + 1)

    async def _with_retries(self, send, estimate: float) -> Completion:
        """`send()` -> (response, text) under the rate limits, retrying what `_classify` calls retryable."""
        for attempt in range(self.retry.max_retries + 1):
            if self._rpm:
                await self._rpm.acquire(1)
            if self._tpm:
                await self._tpm.acquire(estimate)
            try:
                response, text = await send()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below; unknown errors re-raise
                failure = _classify(exc, self.timeout_s)
                if not failure.retryable or attempt == self.retry.max_retries:
                    raise self._fatal(failure, attempt + 1) from None
                wait = self.retry.delay(attempt, failure.retry_after, self._rng)
                logger.info("black box: %s; retry %d in %.2f s", failure.reason, attempt + 1, wait)
                await asyncio.sleep(wait)
                continue
            usage = response.usage
            prompt_tokens = usage.prompt_tokens if usage else 0
            completion_tokens = usage.completion_tokens if usage else 0
            if self._tpm and usage:
                self._tpm.adjust(prompt_tokens + completion_tokens - estimate)
            return Completion(text, prompt_tokens, completion_tokens, attempt + 1)
        raise AssertionError("unreachable")
