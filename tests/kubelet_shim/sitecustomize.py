"""Container-runtime shim for pods run by the test kubelet (k8s_emulation.py).

The test kubelet runs pod containers as plain local subprocesses and puts this
directory first on their PYTHONPATH, so Python imports this module at start-up.
It does nothing unless ``TEST_KUBELET_POD_NAME`` is set (i.e. outside pods).

It emulates two things a real container gives a process and ZenML relies on:

1. ``socket.gethostname()`` returns the pod name. ZenML's orchestrator pod
   finds its own Pod/Job via ``socket.gethostname()``
   (zenml/integrations/kubernetes/orchestrators/kubernetes_orchestrator_entrypoint.py,
   ``orchestrator_pod_name = socket.gethostname()``).
2. Absolute image paths (default ``/app``) are redirected into a per-pod
   directory. ZenML's entrypoints do ``os.makedirs("/app"); os.chdir("/app")``
   (zenml/entrypoints/base_entrypoint_configuration.py,
   ``prepare_code_environment``) which would otherwise write to the host's /app.
"""

import os

_POD = os.environ.get("TEST_KUBELET_POD_NAME")

if _POD:
    import socket

    socket.gethostname = lambda: _POD  # type: ignore[assignment]

    _ROOT = os.environ.get("TEST_KUBELET_CONTAINER_ROOT")
    _MAPPED = [
        p.rstrip("/")
        for p in os.environ.get("TEST_KUBELET_REMAP_DIRS", "/app").split(":")
        if p.strip("/")
    ]

    if _ROOT:

        def _remap(path):  # type: ignore[no-untyped-def]
            if isinstance(path, str):
                for prefix in _MAPPED:
                    if path == prefix or path.startswith(prefix + "/"):
                        return _ROOT.rstrip("/") + path
            return path

        _orig_makedirs = os.makedirs
        _orig_chdir = os.chdir

        def _makedirs(name, mode=0o777, exist_ok=False):  # type: ignore[no-untyped-def]
            return _orig_makedirs(_remap(name), mode, exist_ok)

        def _chdir(path):  # type: ignore[no-untyped-def]
            return _orig_chdir(_remap(path))

        os.makedirs = _makedirs  # type: ignore[assignment]
        os.chdir = _chdir  # type: ignore[assignment]
