"""llama.cpp's OpenAI-compatible server on an installed catalog model, for the benchmark scripts.

The production shape of a black box: the quantized GGUF served over HTTP, one request at a time.
Started with the tests' start-and-wait (bounded, logs kept, stopped by PID).

    .venv/bin/python benchmarks/llama_server.py --port 8089                 # serve until Ctrl-C
    .venv/bin/python benchmarks/llama_server.py --port 8089 -- COMMAND ...  # serve while COMMAND runs
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from servers import free_port, start_process  # noqa: E402

from instructzero.models.catalog import require_installed  # noqa: E402

MODEL = "qwen2.5-coder-0.5b"


@contextlib.contextmanager
def llama_server(
    model: str = MODEL, *, port: int | None = None, threads: int | None = None, logs: Path | None = None
) -> Iterator[str]:
    """Serve `model` (a catalog name) on 127.0.0.1:`port` (a free one by default); yields the base URL."""
    folder, gguf = require_installed(model)
    python = os.environ.get("INSTRUCTZERO_LLAMA_SERVER_PYTHON", str(REPO / ".venv-llama" / "bin" / "python"))
    if not Path(python).exists():
        raise SystemExit(f"{python} not found: run `make setup-llama-server` first.")
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        # Something already listens there: its answers would pass for this model's.
        raise SystemExit(f"port {port} is already in use (another server?): stop it or pass another --port.")

    def ready() -> bool:
        urllib.request.urlopen(f"{base_url}/models", timeout=1).read()
        return True

    with contextlib.ExitStack() as stack:
        if logs is None:
            logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        process = start_process(
            "llama.cpp server",
            [python, "-m", "llama_cpp.server", "--model", str(folder / gguf), "--model_alias", model,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
             "--n_threads", str(threads or os.cpu_count() or 1), "--verbose", "false"],
            env=dict(os.environ), cwd=logs, log_path=logs / "server.log", ready=ready,
            what=f"llama.cpp server on :{port}", timeout=180, interval=0.5, grace=30,
        )  # fmt: skip
        try:
            yield base_url
        finally:
            process.stop(grace=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --: run this, then stop the server")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with llama_server(args.model, port=args.port, threads=args.threads) as base_url:
        print(f"serving {args.model} at {base_url}" + ("" if command else " (Ctrl-C stops it)"), flush=True)
        if command:
            sys.exit(subprocess.call(command))
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
