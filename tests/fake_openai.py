"""An OpenAI-protocol server on a free loopback port, with fault injection, for tests and benchmarks.

It answers `/v1/chat/completions` deterministically through `answer(prompt)`,
lists its model on `/v1/models`, records every request, and measures how many
requests were in flight at once. Faults queued with :meth:`FakeOpenAIServer.inject`
are served to the next requests in arrival order, one fault per request:

- ``Fault.rate_limit(retry_after=1)``: HTTP 429, with or without a `Retry-After` header
- ``Fault.http(500)``: any HTTP error status with an OpenAI-style error body
- ``Fault.slow(seconds)``: answers correctly, but only after `seconds` (past the client's timeout)
- ``Fault.malformed()``: HTTP 200 whose body is not JSON
- ``Fault.reset()``: closes the TCP connection with a reset before answering
- ``Fault.html()``: HTTP 200 with an HTML page (a proxy's or a login page), not the API's JSON
- ``Fault.empty_choices()``: HTTP 200, valid JSON, but an empty `choices` list

`fail_from(n, status)` makes every request after the first `n` fail (an outage).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 0
    retry_after: float | None = None
    seconds: float = 0.0
    code: str | None = None

    @staticmethod
    def rate_limit(retry_after: float | None = None, code: str | None = None) -> Fault:
        return Fault("status", 429, retry_after=retry_after, code=code)

    @staticmethod
    def http(status: int) -> Fault:
        return Fault("status", status)

    @staticmethod
    def slow(seconds: float) -> Fault:
        return Fault("slow", seconds=seconds)

    @staticmethod
    def malformed() -> Fault:
        return Fault("malformed")

    @staticmethod
    def reset() -> Fault:
        return Fault("reset")

    @staticmethod
    def html() -> Fault:
        return Fault("html")

    @staticmethod
    def empty_choices() -> Fault:
        return Fault("empty_choices")


@dataclass
class Request:
    prompt: str
    body: dict
    auth: str | None
    started: float
    fault: Fault | None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # clients hanging up on slow answers
        pass


class FakeOpenAIServer:
    def __init__(
        self,
        answer: Callable[[str], str],
        model: str = "stub-model",
        latency_s: float = 0.0,
        api_key: str | None = None,
        list_models: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.answer = answer
        self.model = model
        self.latency_s = latency_s
        self.api_key = api_key
        self.list_models = list_models
        self.requests: list[Request] = []
        self.model_listings = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[Fault] = deque()
        self._fail_from: tuple[int, Fault] | None = None
        self._lock = threading.Lock()
        self._httpd = _QuietServer((host, 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- control ---------------------------------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def fail_from(self, n: int | None, status: int = 500, fault: Fault | None = None) -> None:
        """Fail every completion request after the first `n` (None: heal), with HTTP `status` or `fault`."""
        with self._lock:
            self._fail_from = None if n is None else (n, fault or Fault.http(status))

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def prompts(self) -> list[str]:
        return [r.prompt for r in self.requests]

    @property
    def answered(self) -> list[Request]:
        """Requests that got a correct answer (no fault)."""
        return [r for r in self.requests if r.fault is None or r.fault.kind == "slow"]

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- protocol --------------------------------------------------------------------------
    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._fail_from is not None and len(self.requests) >= self._fail_from[0]:
                return self._fail_from[1]
            return self._faults.popleft() if self._faults else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: dict | bytes, headers: dict[str, str] | None = None,
                      content_type: str = "application/json") -> None:  # fmt: skip
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, code: str | None = None, headers=None) -> None:
                self._send(status, {"error": {"message": message, "type": "error", "code": code}}, headers)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models") and server.list_models:
                    server.model_listings += 1
                    if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                        self._error(401, "Incorrect API key provided", "invalid_api_key")
                        return
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._error(404, "not found")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                fault = server._next_fault()
                with server._lock:
                    server.requests.append(
                        Request(prompt, body, self.headers.get("Authorization"), time.monotonic(), fault)
                    )
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._respond(body, prompt, fault)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _respond(self, body: dict, prompt: str, fault: Fault | None) -> None:
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._error(401, "Incorrect API key provided", "invalid_api_key")
                    return
                if body.get("model") != server.model:
                    self._error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
                    return
                if server.latency_s:
                    time.sleep(server.latency_s)
                if fault is not None:
                    if fault.kind == "status":
                        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                        self._error(fault.status, f"injected HTTP {fault.status}", fault.code, headers)
                        return
                    if fault.kind == "malformed":
                        self._send(200, b'{"id": "cmpl-1", "choices": [{"mess')
                        return
                    if fault.kind == "html":
                        self._send(200, b"<html><body><h1>Sign in</h1></body></html>", content_type="text/html")
                        return
                    if fault.kind == "empty_choices":
                        self._send(200, {"id": "cmpl-1", "object": "chat.completion", "created": 0,
                                         "model": server.model, "choices": []})  # fmt: skip
                        return
                    if fault.kind == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                        self.close_connection = True
                        return
                    if fault.kind == "slow":
                        time.sleep(fault.seconds)
                text = server.answer(prompt)
                n_prompt, n_completion = len(prompt.split()), len(text.split())
                self._send(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": server.model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {
                            "prompt_tokens": n_prompt,
                            "completion_tokens": n_completion,
                            "total_tokens": n_prompt + n_completion,
                        },  # fmt: skip
                    },
                )

        return Handler
