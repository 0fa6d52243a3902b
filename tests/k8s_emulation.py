"""A fake Kubernetes for running ZenML's *real* Kubernetes orchestrator locally.

Pieces (all loopback-only, no container runtime, no real API server):

* :class:`ZenKubeEmulator` -- a small subclass of ``kmock.KubernetesEmulator``
  (PyPI ``kmock``; a stateful in-memory Kubernetes API over HTTP) that adds
  what a real API server does and ZenML relies on: ``metadata.uid`` /
  ``creationTimestamp`` / ``resourceVersion`` / ``generateName``, Job
  defaulting (``spec.selector``, ``job-name``/``controller-uid`` template
  labels, empty ``status``), Pending pod status, ``labelSelector`` and
  ``fieldSelector`` filtering of lists (kmock ignores both), a ``pods/<n>/log``
  endpoint backed by the test kubelet's log files, ownerReference cascade
  deletion (Job -> Pods, CronJob -> Jobs), and ``/_kmock/...`` debug endpoints
  that expose every object's full history plus the exact creation bodies.
* :class:`KMockServer` -- runs that emulator in a subprocess: the cluster's API
  on HTTPS (its own CA; a token on every request: the workstation's admin
  token, or a service account's minted by TokenRequest, checked against the
  stored Roles/RoleBindings -- every service-account request lands in an
  audit log with the decision) and a plain-HTTP harness port on 127.0.0.1 for
  the test and the kubelet; writes the workstation's kubeconfig, stops it by PID.
* :class:`TestKubelet` -- a thread that plays job-controller + scheduler +
  kubelet: creates Pods for Jobs (from ``spec.template``, like the job
  controller, honouring ``backoffLimit``, ``podFailurePolicy`` on exit codes and
  ``activeDeadlineSeconds``), runs each pod's single container
  ``command + args`` with its ``env`` as a local subprocess (same Python
  environment) -- with a :class:`PodNetwork`, in the pod's own network
  namespace -- and writes back pod phase / containerStatuses and Job status
  conditions (``Complete`` / ``Failed``). Pods deleted from the API are
  terminated by PID. CronJobs fire only when a test calls
  ``trigger_cronjob`` (``kubectl create job --from=cronjob/...``).
* :class:`PodNetwork` -- a bridge and one network namespace per pod (root):
  servers pods must reach listen on the bridge address, a loopback URL in a
  pod reaches nothing.

Run the emulator stand-alone with::

    python k8s_emulation.py serve-kmock --port 0 --pod-log-dir /tmp/logs

Limitations (by design): one container per pod (others are ignored, init
containers are not run), no image pulling (``image`` is ignored), resources /
nodeSelector / tolerations / affinity / volumes are stored but not enforced
(pods see the host's files, apart from the mounted service-account folder),
RBAC without aggregated ClusterRoles or non-resource rules (discovery paths are
open to every authenticated user), no ttlSecondsAfterFinished, no CronJob
scheduling, no watch bookmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import datetime
import itertools
import json
import logging
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
SHIM_DIR = HERE / "kubelet_shim"
#: Where a pod's service-account token, CA and namespace are mounted (the in-cluster config reads them there).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

logger = logging.getLogger("k8s_emulation")


def _now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc
    ).timestamp()


# Same alphabet and truncation as the API server's generateName
# (k8s.io/apiserver/pkg/storage/names: base truncated to 63-5 chars).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def generate_name(base: str) -> str:
    return base[:58] + "".join(random.choices(_NAME_ALPHABET, k=5))


# --------------------------------------------------------------------------
# Label / field selectors
# --------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> List[str]:
    """Split on commas that are not inside ``( ... )``."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def match_label_selector(labels: Dict[str, str], selector: Optional[str]) -> bool:
    """Kubernetes label selector semantics (=, ==, !=, in, notin, exists, !)."""
    if not selector:
        return True
    labels = labels or {}
    for term in _split_selector(selector):
        m = _SET_RE.match(term)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "==" in term or "=" in term:
            key, value = (s.strip() for s in re.split(r"==?", term, maxsplit=1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _dig(obj: Dict[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def match_field_selector(obj: Dict[str, Any], selector: Optional[str]) -> bool:
    """Field selectors (``a.b=v``, ``a.b==v``, ``a.b!=v``) on any dotted path."""
    if not selector:
        return True
    for term in _split_selector(selector):
        if "!=" in term:
            path, value = (s.strip() for s in term.split("!=", 1))
            if str(_dig(obj, path) or "") == value:
                return False
        else:
            path, value = (s.strip() for s in re.split(r"==?", term, maxsplit=1))
            if str(_dig(obj, path) or "") != value:
                return False
    return True


def _default_job_spec(spec: Dict[str, Any]) -> None:
    """API-server defaulting of a JobSpec (k8s pkg/apis/batch/v1/defaults.go).

    Notably ``podFailurePolicy.rules[].onPodConditions[].status`` defaults to
    ``"True"``: ZenML's step Jobs omit it, a real API server fills it in, and
    the ``kubernetes`` Python client (<26, ZenML's pin) cannot deserialize a
    Job response without it (``ValueError: Invalid value for `status`, must
    not be `None```).
    """
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    pfp = spec.get("podFailurePolicy")
    spec.setdefault("podReplacementPolicy", "Failed" if pfp else "TerminatingOrFailed")
    for rule in (pfp or {}).get("rules") or []:
        for pattern in rule.get("onPodConditions") or []:
            pattern.setdefault("status", "True")


# --------------------------------------------------------------------------
# The kmock-based API server (runs inside the `serve-kmock` subprocess)
# --------------------------------------------------------------------------



# --------------------------------------------------------------------------
# Authentication and RBAC, as the API server does them
# --------------------------------------------------------------------------

#: The workstation's kubeconfig user (a cluster admin) and the test kubelet's: every request is allowed.
ADMIN_TOKEN = "kmock-admin-token"
ADMIN_USER = "kubernetes-admin"
RBAC_GROUP = "rbac.authorization.k8s.io"
#: Paths every authenticated user may read (the `system:discovery` / `system:public-info-viewer` roles).
_DISCOVERY = re.compile(r"^/(version|api|apis|openapi/.*|healthz|livez|readyz)?/?$|^/apis/[^/]+(/[^/]+)?/?$|^/api/v1/?$")


@dataclass(frozen=True)
class RequestAttributes:
    """What an authorizer decides on: the verb and the object of one request."""

    verb: str
    group: str
    resource: str  # `pods`, or `pods/log` for a subresource
    namespace: Optional[str]
    name: Optional[str]


def request_verb(method: str, name: Optional[str], params: Dict[str, str]) -> str:
    """The RBAC verb of an HTTP request on a resource path (as the API server's request-info resolver maps it)."""
    method = method.upper()
    watching = str(params.get("watch", "")).lower() in ("1", "true")
    if method == "GET":
        return "watch" if watching else ("get" if name else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())


def _rule_allows(rule: Dict[str, Any], attrs: RequestAttributes) -> bool:
    def hit(values: Any, value: str) -> bool:
        return "*" in (values or []) or value in (values or [])

    return (hit(rule.get("verbs"), attrs.verb) and hit(rule.get("apiGroups"), attrs.group)
            and hit(rule.get("resources"), attrs.resource)
            and (not rule.get("resourceNames") or (attrs.name or "") in rule["resourceNames"]))


def rbac_allows(objects: List[Dict[str, Any]], service_account: Tuple[str, str], attrs: RequestAttributes) -> bool:
    """Whether the Roles/ClusterRoles bound to a service account ``(namespace, name)`` allow a request.

    ``objects`` are the stored RBAC objects (Role, RoleBinding, ClusterRole, ClusterRoleBinding). A RoleBinding
    grants its role's rules in its own namespace only; a ClusterRoleBinding everywhere. No aggregation, no
    non-resource URLs (discovery is allowed separately, as the default roles do).
    """
    sa_ns, sa_name = service_account
    roles = {(o["kind"], (o.get("metadata") or {}).get("namespace"), o["metadata"]["name"]): o
             for o in objects if o.get("kind") in ("Role", "ClusterRole")}
    for binding in objects:
        kind = binding.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        bns = (binding.get("metadata") or {}).get("namespace")
        if kind == "RoleBinding" and bns != attrs.namespace:
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                   and (s.get("namespace") or bns) == sa_ns for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        role = roles.get((ref.get("kind"), bns if ref.get("kind") == "Role" else None, ref.get("name")))
        if role and any(_rule_allows(rule, attrs) for rule in role.get("rules") or []):
            return True
    return False


def write_cluster_tls(directory: Path, ips: Tuple[str, ...]) -> Tuple[Path, Path, Path]:
    """A cluster CA and the API server's certificate for ``ips``: ``(ca.crt, server.crt, server.key)``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool) -> Any:
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("kubernetes.default.svc")] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]),
                critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kmock-ca")])
    ca_cert = cert("kmock-ca", ca_key, name, ca_key, True)
    server_cert = cert("kube-apiserver", server_key, name, ca_key, False)
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return paths


def _build_emulator_class():  # imported lazily: only the server process needs kmock/aiohttp
    import aiohttp.web
    import attrs
    import kmock

    @attrs.define(kw_only=True)
    class ZenKubeEmulator(kmock.KubernetesEmulator):
        """kmock's stateful emulator plus the API-server behaviour ZenML needs."""

        pod_log_dir: str = ""
        created: List[Dict[str, Any]] = attrs.field(factory=list)
        #: Bearer token -> service account ``(namespace, name)``, minted by TokenRequest.
        tokens: Dict[str, Tuple[str, str]] = attrs.field(factory=dict)
        #: Every request made with a service account's token: user, verb, resource, namespace, name, allowed.
        audit: List[Dict[str, Any]] = attrs.field(factory=list)
        _rv: Any = attrs.field(factory=lambda: itertools.count(1))

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self.resources.load_bundled()  # discovery info for all builtin resources

        # -- helpers -------------------------------------------------------
        def _next_rv(self) -> str:
            return str(next(self._rv))

        def _apply_create_defaults(self, request: Any) -> None:
            data = request.data
            res = request.resource
            # Like the API server: apiVersion/kind come from the URL if omitted
            # (the typed Python client omits them, e.g. for ZenML's Jobs).
            data.setdefault("apiVersion", f"{res.group}/{res.version}".lstrip("/"))
            if not data.get("kind") and res in self.resources and self.resources[res].kind:
                data["kind"] = self.resources[res].kind
            meta = data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = generate_name(meta["generateName"])
            if request.namespace and not meta.get("namespace"):
                meta["namespace"] = request.namespace
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = _now()
            meta["resourceVersion"] = self._next_rv()
            meta.setdefault("generation", 1)
            plural = request.resource.plural
            if plural == "jobs" and request.resource.group == "batch":
                spec = data.setdefault("spec", {})
                job_labels = {
                    "batch.kubernetes.io/controller-uid": meta["uid"],
                    "batch.kubernetes.io/job-name": meta["name"],
                    "controller-uid": meta["uid"],
                    "job-name": meta["name"],
                }
                tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
                tmeta["labels"] = {**(tmeta.get("labels") or {}), **job_labels}
                spec.setdefault("selector", {"matchLabels": {
                    "batch.kubernetes.io/controller-uid": meta["uid"]}})
                _default_job_spec(spec)
                data.setdefault("status", {})
            elif plural == "cronjobs":
                job_spec = ((data.get("spec") or {}).get("jobTemplate") or {}).get("spec")
                if isinstance(job_spec, dict):
                    _default_job_spec(job_spec)
                data.setdefault("status", {})
            elif plural == "pods" and request.resource.group == "":
                data.setdefault("status", {"phase": "Pending", "qosClass": "Burstable"})

        async def _cascade_delete(self, owner_uids: set) -> None:
            """Garbage collector: delete objects owned by deleted owners."""
            while owner_uids:
                next_uids = set()
                async with self._lock:
                    for (resource, namespace, name), obj in list(self._objects.items()):
                        if obj.deleted:
                            continue
                        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
                        if any(r.get("uid") in owner_uids for r in refs):
                            raw = obj.raw
                            obj.delete()
                            next_uids.add((raw.get("metadata") or {}).get("uid"))
                            await self._buses[resource].put({"type": "DELETED", "object": raw})
                owner_uids = {u for u in next_uids if u}

        def _debug_dump(self) -> Dict[str, Any]:
            objects = []
            for (resource, namespace, name), obj in self._objects.items():
                objects.append({
                    "resource": f"{resource.group}/{resource.version}/{resource.plural}".lstrip("/"),
                    "namespace": namespace,
                    "name": name,
                    "deleted": obj.deleted,
                    "history": [None if v is None else v.raw for v in obj.history.raw],
                })
            return {"objects": objects}

        def _stored(self, plural: str, group: str = "") -> List[Dict[str, Any]]:
            return [obj.raw for (res, _, _), obj in self._objects.items()
                    if res.plural == plural and res.group == group and not obj.deleted]

        def _service_account(self, namespace: str, name: str) -> Optional[Dict[str, Any]]:
            if name == "default":  # every namespace has one (the service-account controller makes it)
                return {"metadata": {"name": name, "namespace": namespace}}
            return next((sa for sa in self._stored("serviceaccounts")
                         if sa["metadata"]["name"] == name and sa["metadata"].get("namespace") == namespace), None)

        @staticmethod
        def _status(code: int, reason: str, message: str) -> aiohttp.web.StreamResponse:
            return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                              "status": "Failure", "message": message, "reason": reason,
                                              "code": code}, status=code)

        def _authorize(self, request: Any) -> Optional[aiohttp.web.StreamResponse]:
            """Authentication and RBAC for the cluster's (TLS) address; the plain-HTTP test port is the admin's."""
            if request.url.scheme != "https":
                return None
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else ""  # the in-cluster client sends "bearer"
            if token == ADMIN_TOKEN:
                return None
            if token not in self.tokens:
                return self._status(401, "Unauthorized", "Unauthorized")
            sa_ns, sa_name = self.tokens[token]
            user = f"system:serviceaccount:{sa_ns}:{sa_name}"
            res, method = request.resource, str(getattr(request.method, "value", request.method)).upper()
            if res is None:
                allowed = bool(_DISCOVERY.match(request.url.path)) and method == "GET"
                attrs_ = RequestAttributes(method.lower(), "", request.url.path, None, None)
            else:
                attrs_ = RequestAttributes(
                    verb=request_verb(method, request.name, request.params),
                    group=res.group, namespace=request.namespace, name=request.name,
                    resource=res.plural + (f"/{request.subresource}" if request.subresource else ""))
                rbac = [o for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
                        for o in self._stored(plural, RBAC_GROUP)]
                allowed = rbac_allows(rbac, (sa_ns, sa_name), attrs_)
            self.audit.append({"user": user, "verb": attrs_.verb, "group": attrs_.group,
                               "resource": attrs_.resource, "namespace": attrs_.namespace, "name": attrs_.name,
                               "allowed": allowed, "time": _now()})
            if allowed:
                return None
            where = f' in the namespace "{attrs_.namespace}"' if attrs_.namespace else " at the cluster scope"
            return self._status(403, "Forbidden", f'{attrs_.resource} is forbidden: User "{user}" cannot '
                                                  f'{attrs_.verb} resource "{attrs_.resource}" in API group '
                                                  f'"{attrs_.group}"{where}')

        def _token_request(self, request: Any) -> aiohttp.web.StreamResponse:
            """TokenRequest (``serviceaccounts/<name>/token``): what the kubelet mounts into a pod."""
            if self._service_account(request.namespace, request.name) is None:
                return self._status(404, "NotFound", f'serviceaccounts "{request.name}" not found')
            token = f"kmock-sa-{uuid.uuid4().hex}"
            self.tokens[token] = (request.namespace, request.name)
            expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
            return aiohttp.web.json_response({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"name": request.name, "namespace": request.namespace},
                "spec": (request.data or {}).get("spec") or {},
                "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}},
                status=201)

        # -- request handling ----------------------------------------------
        async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
            # kmock keeps every request it served and, for each request, scans them all again to match its
            # reactions: quadratic, and in a 20-minute test with pollers it took most of a core. Nothing here
            # reads kmock's request log (the audit is our own), so only the request being served is kept.
            del self._requests[:-1]
            path = request.url.path
            if path.startswith("/_kmock/"):
                if path == "/_kmock/objects":
                    async with self._lock:
                        return aiohttp.web.json_response(self._debug_dump())
                if path == "/_kmock/created":
                    return aiohttp.web.json_response({"created": self.created})
                if path == "/_kmock/audit":
                    return aiohttp.web.json_response({"audit": self.audit})
                return aiohttp.web.json_response({"error": "unknown"}, status=404)
            refused = self._authorize(request)
            if refused is not None:
                return refused

            res = request.resource
            method = str(getattr(request.method, "value", request.method)).upper()
            if res is not None and res.group == "" and res.plural == "serviceaccounts" \
                    and request.subresource == "token" and method == "POST":
                return self._token_request(request)
            if res is not None and res.group == "" and res.plural == "pods" and method == "POST" \
                    and not request.subresource and isinstance(request.data, dict):
                # The ServiceAccount admission plugin: a pod's service account must exist.
                spec = request.data.get("spec") or {}
                sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
                ns = request.namespace or (request.data.get("metadata") or {}).get("namespace") or "default"
                if self._service_account(ns, sa) is None:
                    return self._status(403, "Forbidden", f'pods is forbidden: error looking up service account '
                                                          f'{ns}/{sa}: serviceaccount "{sa}" not found')

            if (res is not None and res.group == "" and res.plural == "pods"
                    and request.subresource == "log" and method == "GET"):
                container = request.params.get("container") or "main"
                log_file = Path(self.pod_log_dir) / f"{request.namespace}_{request.name}_{container}.log"
                text = log_file.read_text(errors="replace") if log_file.exists() else ""
                return aiohttp.web.Response(text=text, content_type="text/plain")

            deleted_uid = None
            if res is not None and request.action is not None:
                action = str(getattr(request.action, "value", request.action)).lower()
                if action == "create" and isinstance(request.data, dict) and not request.subresource:
                    info = self.resources[res] if res in self.resources else None
                    self.created.append({
                        "resource": f"{res.group}/{res.version}/{res.plural}".lstrip("/"),
                        "apiVersion": f"{res.group}/{res.version}".lstrip("/"),
                        "kind": getattr(info, "kind", None),
                        "namespace": request.namespace,
                        "user_agent": request.headers.get("User-Agent", ""),
                        "time": _now(),
                        "body": copy.deepcopy(request.data),
                    })
                    self._apply_create_defaults(request)
                elif action == "update" and isinstance(request.data, dict):
                    request.data.setdefault("metadata", {})["resourceVersion"] = self._next_rv()
                elif action == "delete" and request.name:
                    key = (res, request.namespace, request.name)
                    if key in self._objects and not self._objects[key].deleted:
                        deleted_uid = (self._objects[key].get("metadata") or {}).get("uid")

            response = await super()._handle(request)
            if deleted_uid and response.status < 300:
                await self._cascade_delete({deleted_uid})
            return response

        async def _serve_list(self, request: Any) -> Any:
            result = await super()._serve_list(request)
            label_selector = request.params.get("labelSelector")
            field_selector = request.params.get("fieldSelector")
            items = [
                item for item in result.get("items", [])
                if match_label_selector((item.get("metadata") or {}).get("labels") or {}, label_selector)
                and match_field_selector(item, field_selector)
            ]
            items.sort(key=lambda i: (i.get("metadata") or {}).get("creationTimestamp") or "")
            return {"apiVersion": "v1", "kind": "List",
                    "metadata": {"resourceVersion": str(next(self._rv))}, "items": items}

    return ZenKubeEmulator


async def _serve_kmock(host: str, port: int, pod_log_dir: str, port_file: Optional[str],
                       tls: Optional[Tuple[str, int, str, str]] = None) -> None:
    """Serve the emulator on plain HTTP at ``host:port`` (the test harness: admin, no token) and, with ``tls``
    ``(host, port, cert, key)``, on HTTPS: the cluster's API address, where every request needs a token."""
    import ssl

    import aiohttp.test_utils
    import kmock

    emulator_cls = _build_emulator_class()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def tls_server(handler: Any, host: str, port: Optional[int]) -> Any:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls[2], tls[3])

        class TLSServer(aiohttp.test_utils.RawTestServer):
            async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
                await super().start_server(loop=loop, ssl=context, **kwargs)

        return TLSServer(handler, host=host, port=port)

    async with contextlib.AsyncExitStack() as stack:
        emulator = await stack.enter_async_context(emulator_cls(pod_log_dir=pod_log_dir))
        server = await stack.enter_async_context(kmock.Server(emulator, host=host, port=port or None))
        if tls:
            secure = await stack.enter_async_context(
                kmock.Server(emulator, host=tls[0], port=tls[1] or None, server_cls=tls_server))
            print(f"kmock API on https://{tls[0]}:{secure.port}", flush=True)
        if port_file:
            Path(port_file).write_text(str(server.port))
        print(f"kmock listening on http://{host}:{server.port}", flush=True)
        await stop.wait()


# --------------------------------------------------------------------------
# Process handle for the emulator + kubeconfig
# --------------------------------------------------------------------------


def write_kubeconfig(path: Path, server_url: str, context: str = "kmock", namespace: str = "zenml",
                     token: str = ADMIN_TOKEN, ca_path: Optional[Path] = None) -> Path:
    """Write a kubeconfig with one cluster/user/context pointing at ``server_url``."""
    import yaml

    cluster: Dict[str, Any] = {"server": server_url}
    if ca_path is not None:
        cluster["certificate-authority-data"] = base64.b64encode(Path(ca_path).read_bytes()).decode()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": f"{context}-user", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {
            "cluster": context, "user": f"{context}-user", "namespace": namespace}}],
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass
class KMockServer:
    """The :class:`ZenKubeEmulator` in a subprocess: the cluster's API on ``https://host:api_port`` and a test
    harness port on ``http://127.0.0.1:port``.

    The API address is what a cluster has: TLS with the cluster CA (``ca_path``), a token on every request (the
    kubeconfig's admin token, or a service account's minted by TokenRequest), RBAC for service accounts. The
    harness port is the test's and the test kubelet's own door (admin, no token; not reachable from pods).
    ``start()`` waits (bounded) until ``GET /version`` answers, and writes ``work_dir/kubeconfig`` (the
    workstation's: context ``context``, the API address, the CA, the admin token). ``stop()`` signals the
    recorded PID. ``objects()`` / ``created()`` / ``audit()`` read the debug endpoints.
    """

    work_dir: Path
    context: str = "kmock"
    namespace: str = "zenml"
    host: str = "127.0.0.1"
    port: int = 0
    api_port: int = 0
    process: Any = None
    kubeconfig_path: Optional[Path] = None
    ca_path: Optional[Path] = None
    startup_seconds: Optional[float] = None

    @property
    def url(self) -> str:
        """The test harness's address (admin, plain HTTP, loopback)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The cluster's API address: what kubeconfigs and pods use."""
        return f"https://{self.host}:{self.api_port}"

    @property
    def pod_log_dir(self) -> Path:
        return self.work_dir / "pod-logs"

    def start(self, timeout: float = 30.0) -> "KMockServer":
        import urllib.request

        from servers import free_port, start_process

        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.pod_log_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port("127.0.0.1")
        self.api_port = self.api_port or free_port(self.host)
        self.ca_path, cert, key = write_cluster_tls(self.work_dir / "pki", (self.host, "127.0.0.1"))
        argv = [sys.executable, str(Path(__file__).resolve()), "serve-kmock",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--tls-host", self.host, "--tls-port", str(self.api_port), "--tls-cert", str(cert),
                "--tls-key", str(key), "--pod-log-dir", str(self.pod_log_dir)]

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.url}/version", timeout=2) as r:
                return r.status == 200

        t0 = time.monotonic()
        self.process = start_process(
            "kmock", argv, env=dict(os.environ), cwd=self.work_dir, log_path=self.work_dir / "kmock.log",
            ready=ready, what=f"kmock on :{self.port}", timeout=timeout, interval=0.1, grace=10,
        )
        self.startup_seconds = time.monotonic() - t0
        self.kubeconfig_path = write_kubeconfig(self.work_dir / "kubeconfig", self.api_url, self.context,
                                                self.namespace, ca_path=self.ca_path)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)

    def _get(self, path: str) -> Dict[str, Any]:
        import requests

        r = requests.get(self.url + path, timeout=10)
        r.raise_for_status()
        return r.json()

    def objects(self) -> List[Dict[str, Any]]:
        """Every object ever stored, with its full version history."""
        return self._get("/_kmock/objects")["objects"]

    def created(self) -> List[Dict[str, Any]]:
        """The exact request bodies of every create call, in order."""
        return self._get("/_kmock/created")["created"]

    def audit(self) -> List[Dict[str, Any]]:
        """Every request a service account made, with the RBAC decision (``allowed``)."""
        return self._get("/_kmock/audit")["audit"]

    def apply(self, manifests: List[Dict[str, Any]]) -> None:
        """Create objects as ``kubectl create -f`` does (as the admin), each in its own namespace."""
        import requests

        for obj in manifests:
            group, _, version = obj["apiVersion"].rpartition("/")
            plural = obj["kind"].lower() + ("es" if obj["kind"].endswith("s") else "s")
            ns = (obj.get("metadata") or {}).get("namespace")
            base = f"/apis/{group}/{version}" if group else f"/api/{version}"
            path = f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"
            requests.post(self.url + path, json=obj, timeout=10).raise_for_status()


# --------------------------------------------------------------------------
# The cluster network: one network namespace per pod
# --------------------------------------------------------------------------


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True, timeout=30)


class PodNetwork:
    """A bridge standing in for the cluster network, and one network namespace per pod on it (needs root).

    The bridge carries ``host_ip``: the address the servers a pod must reach (the Kubernetes API, the ZenML
    server, S3, the black box) listen on, as an Ingress or a LoadBalancer would give them. It is an address of
    this machine too, so the test process (the workstation) reaches them there as well. Each pod gets its own
    namespace with a veth on the bridge, its own IP and its own loopback: a ``127.0.0.1`` URL handed to a pod
    reaches nothing, as on a cluster. Traffic stays between the test's namespaces and this machine.
    """

    __test__ = False

    def __init__(self, octet: Optional[int] = None) -> None:
        self.octet = octet if octet is not None else 100 + os.getpid() % 150
        self.bridge = f"izbr{self.octet}"
        self.host_ip = f"10.{self.octet}.0.1"
        self._index = itertools.count(2)
        self.namespaces: Dict[str, str] = {}  # netns -> pod ip
        self._lock = threading.Lock()

    def start(self) -> "PodNetwork":
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.bridge)  # a leftover of a killed session
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_ip}/16", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def attach(self) -> Tuple[str, str]:
        """A fresh network namespace on the bridge: ``(netns name, pod IP)``."""
        with self._lock:
            i = next(self._index)
        netns, host_if = f"{self.bridge}-p{i}", f"{self.bridge}v{i}"[:15]
        pod_ip = f"10.{self.octet}.{i // 250}.{i % 250 + 2}"
        _ip("netns", "add", netns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", host_if, "master", self.bridge, "up")
        _ip("-n", netns, "addr", "add", f"{pod_ip}/16", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        _ip("-n", netns, "route", "add", "default", "via", self.host_ip)
        with self._lock:
            self.namespaces[netns] = pod_ip
        return netns, pod_ip

    def detach(self, netns: Optional[str]) -> None:
        if netns and self.namespaces.pop(netns, None) is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", netns)  # its veth pair goes with it

    def stop(self) -> None:
        for netns in list(self.namespaces):
            self.detach(netns)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.bridge)


# --------------------------------------------------------------------------
# Test kubelet (+ job controller + trivial scheduler)
# --------------------------------------------------------------------------


@dataclass
class _RunningPod:
    namespace: str
    name: str
    uid: str
    container: str
    popen: subprocess.Popen
    log_file: Any
    started_at: str
    grace: float
    netns: Optional[str] = None


def _pod_key(pod: Dict[str, Any]) -> Tuple[str, str]:
    m = pod["metadata"]
    return m.get("namespace") or "default", m["name"]


def _job_finished(job: Dict[str, Any]) -> bool:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return True
    return False


def _exit_codes(pod: Dict[str, Any], container: Optional[str]) -> List[int]:
    codes = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if container and cs.get("name") != container:
            continue
        term = (cs.get("state") or {}).get("terminated")
        if term is not None:
            codes.append(int(term.get("exitCode", 0)))
    return codes


def evaluate_pod_failure_policy(job: Dict[str, Any], pod: Dict[str, Any]) -> str:
    """Return the action ('Count', 'Ignore', 'FailJob') for one failed pod."""
    policy = (job.get("spec") or {}).get("podFailurePolicy") or {}
    for rule in policy.get("rules") or []:
        on_codes = rule.get("onExitCodes")
        if on_codes:
            values = set(on_codes.get("values") or [])
            codes = _exit_codes(pod, on_codes.get("containerName"))
            if on_codes.get("operator") == "In":
                hit = any(c in values for c in codes)
            else:  # NotIn
                hit = any(c not in values for c in codes)
            if hit:
                return rule.get("action", "Count")
        for cond in rule.get("onPodConditions") or []:
            want = cond.get("status", "True")
            for pc in (pod.get("status") or {}).get("conditions") or []:
                if pc.get("type") == cond.get("type") and pc.get("status") == want:
                    return rule.get("action", "Count")
    return "Count"


class TestKubelet:
    """Job controller + scheduler + kubelet for :class:`ZenKubeEmulator`.

    It polls the API (every ``poll_interval`` s) and:

    * for each unfinished Job: creates a Pod from ``spec.template`` when none
      is active (``generateName: <job>-``, job labels, controller
      ownerReference), counts failures through ``podFailurePolicy`` (exit-code
      rules; pod-condition rules never match as no DisruptionTarget is ever
      set), and marks the Job ``Complete`` / ``Failed`` (BackoffLimitExceeded,
      PodFailurePolicy, DeadlineExceeded) with ``active/succeeded/failed``
      counters, ``startTime``, ``completionTime``;
    * for each Pending Pod: binds it to ``node_name``, runs the first
      container's ``command + args`` as a local subprocess and reports
      ``Running`` then ``Succeeded`` / ``Failed`` with a terminated
      containerStatus (exit code, reason Completed/Error);
    * terminates (SIGTERM, grace, SIGKILL -- by PID) processes whose Pod was
      deleted from the API.

    Environment of a pod process = the container's ``env`` / ``envFrom``
    (``value``, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``) on top of
    what a container runtime would give: ``PATH`` (with this Python's bin dir
    first, so ``python`` is the current interpreter), ``HOME`` (a per-pod
    directory), ``HOSTNAME`` (the pod name), ``KUBERNETES_SERVICE_HOST`` /
    ``_PORT`` with the service account's token, the CA and the namespace mounted
    at :data:`SERVICE_ACCOUNT_DIR` (in-cluster config, as on a cluster: no
    kubeconfig; see ``_service_account_volume``), ``PYTHONPATH``
    (the ``kubelet_shim`` -- see its docstring -- then ``extra_pythonpath``),
    plus ``extra_env``. The working directory is ``default_workdir`` (think:
    the image's WORKDIR) unless the container sets ``workingDir``.
    """

    __test__ = False  # not a pytest test class despite the name


    def __init__(
        self,
        api_url: str,
        kubeconfig_path: Path,
        work_dir: Path,
        pod_log_dir: Path,
        default_workdir: Optional[Path] = None,
        extra_env: Optional[Dict[str, str]] = None,
        extra_pythonpath: Tuple[str, ...] = (),
        poll_interval: float = 0.3,
        node_name: str = "test-kubelet",
        python_bin_dir: Optional[str] = None,
        max_grace: float = 10.0,
        network: Optional[PodNetwork] = None,
        cluster_api: Optional[Tuple[str, int, Path]] = None,
    ) -> None:
        import requests

        self.api_url = api_url.rstrip("/")
        self.kubeconfig_path = Path(kubeconfig_path)
        self.work_dir = Path(work_dir)
        self.pod_log_dir = Path(pod_log_dir)
        self.default_workdir = Path(default_workdir) if default_workdir else None
        self.extra_env = dict(extra_env or {})
        self.extra_pythonpath = tuple(extra_pythonpath)
        self.poll_interval = poll_interval
        self.node_name = node_name
        self.python_bin_dir = python_bin_dir or str(Path(sys.executable).parent)
        self.max_grace = max_grace
        self.network = network
        self.cluster_api = cluster_api
        self.session = requests.Session()
        self.running: Dict[Tuple[str, str], _RunningPod] = {}
        self.finished: Dict[Tuple[str, str], int] = {}  # pod key -> exit code
        self.events: List[Tuple[str, str, str]] = []  # (time, kind, message)
        self.errors: List[str] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "TestKubelet":
        if self.network is not None and self.cluster_api is not None:
            os.makedirs(SERVICE_ACCOUNT_DIR, exist_ok=True)  # the mount point (empty on the host)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.pod_log_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="test-kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop and terminate every pod process still running (by PID)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        for key, rp in list(self.running.items()):
            self._terminate(rp)
            self.running.pop(key, None)

    def __enter__(self) -> "TestKubelet":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _event(self, kind: str, message: str) -> None:
        self.events.append((_now(), kind, message))
        logger.info("[kubelet] %s: %s", kind, message)

    # -- HTTP helpers ------------------------------------------------------
    def _get(self, path: str, **params: str) -> Dict[str, Any]:
        r = self.session.get(self.api_url + path, params=params or None, timeout=10)
        r.raise_for_status()
        return r.json()

    def _get_or_none(self, path: str) -> Optional[Dict[str, Any]]:
        r = self.session.get(self.api_url + path, timeout=10)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def _post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        r = self.session.post(self.api_url + path, json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def _patch(self, path: str, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        r = self.session.patch(self.api_url + path, data=json.dumps(body), timeout=10,
                               headers={"Content-Type": "application/merge-patch+json"})
        if r.status_code == 404:
            return None  # deleted meanwhile
        r.raise_for_status()
        return r.json()

    def _delete(self, path: str) -> None:
        r = self.session.delete(self.api_url + path, timeout=10)
        if r.status_code not in (200, 202, 404):
            r.raise_for_status()

    # -- main loop ---------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as e:  # noqa: BLE001 - keep the kubelet alive
                msg = f"{type(e).__name__}: {e}"
                if not self.errors or self.errors[-1] != msg:
                    self.errors.append(msg)
                    logger.warning("[kubelet] sync error: %s", msg)
            self._stop.wait(self.poll_interval)

    def sync_once(self) -> None:
        """One reconcile pass: pods first (so jobs see fresh pod states)."""
        pods = self._get("/api/v1/pods").get("items", [])
        self._sync_pods(pods)
        jobs = self._get("/apis/batch/v1/jobs").get("items", [])
        if jobs:
            pods = self._get("/api/v1/pods").get("items", [])
            self._sync_jobs(jobs, pods)

    # -- pods ----------------------------------------------------------------
    def _sync_pods(self, pods: List[Dict[str, Any]]) -> None:
        live = {}
        for pod in pods:
            key = _pod_key(pod)
            live[key] = pod
            phase = (pod.get("status") or {}).get("phase") or "Pending"
            if key in self.running:
                rp = self.running[key]
                if rp.uid != pod["metadata"].get("uid"):  # recreated under same name
                    self._terminate(rp)
                    self.running.pop(key)
                    continue
                if pod["metadata"].get("deletionTimestamp"):
                    self._terminate(rp)
                    self.running.pop(key)
                    continue
                rc = rp.popen.poll()
                if rc is not None:
                    self._finish(rp, rc)
            elif phase == "Pending" and key not in self.finished \
                    and not pod["metadata"].get("deletionTimestamp"):
                self._start_pod(pod)
        for key, rp in list(self.running.items()):
            if key not in live:  # pod deleted from the API: kill its process
                self._event("Killing", f"pod {key[0]}/{key[1]} deleted; terminating pid {rp.popen.pid}")
                self._terminate(rp)
                self.running.pop(key)

    def _resolve_env(self, pod: Dict[str, Any], container: Dict[str, Any]) -> Dict[str, str]:
        ns = pod["metadata"].get("namespace") or "default"
        env: Dict[str, str] = {}

        def secret(name: str) -> Dict[str, str]:
            obj = self._get_or_none(f"/api/v1/namespaces/{ns}/secrets/{name}") or {}
            out = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
            out.update(obj.get("stringData") or {})
            return out

        def configmap(name: str) -> Dict[str, str]:
            obj = self._get_or_none(f"/api/v1/namespaces/{ns}/configmaps/{name}") or {}
            return dict(obj.get("data") or {})

        for src in container.get("envFrom") or []:
            prefix = src.get("prefix", "")
            if "secretRef" in src:
                env.update({prefix + k: v for k, v in secret(src["secretRef"]["name"]).items()})
            if "configMapRef" in src:
                env.update({prefix + k: v for k, v in configmap(src["configMapRef"]["name"]).items()})
        for item in container.get("env") or []:
            name = item["name"]
            if "value" in item:
                env[name] = _expand(str(item["value"]), env)
            elif "valueFrom" in item:
                vf = item["valueFrom"]
                if "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    value = secret(ref["name"]).get(ref["key"])
                elif "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    value = configmap(ref["name"]).get(ref["key"])
                elif "fieldRef" in vf:
                    value = _dig(pod, vf["fieldRef"]["fieldPath"])
                    if value is None and vf["fieldRef"]["fieldPath"] in ("status.podIP", "status.hostIP"):
                        value = "127.0.0.1"
                else:
                    value = None
                if value is not None:
                    env[name] = str(value)
            else:
                env[name] = ""
        return env

    def _start_pod(self, pod: Dict[str, Any]) -> None:
        ns, name = _pod_key(pod)
        uid = pod["metadata"].get("uid", "")
        spec = pod.get("spec") or {}
        containers = spec.get("containers") or []
        path = f"/api/v1/namespaces/{ns}/pods/{name}"
        if not containers:
            self._patch(path + "/status", {"status": {"phase": "Failed", "reason": "NoContainers"}})
            self.finished[(ns, name)] = -1
            return
        if len(containers) > 1 or spec.get("initContainers"):
            self._event("Warning", f"pod {ns}/{name}: only container '{containers[0].get('name')}' is run")
        container = containers[0]
        cname = container.get("name", "main")

        # "Schedule": bind to our single node.
        self._patch(path, {"spec": {"nodeName": self.node_name}})
        pod.setdefault("spec", {})["nodeName"] = self.node_name

        pod_root = self.work_dir / "pods" / ns / name
        rootfs = pod_root / "rootfs"
        home = pod_root / "home"
        rootfs.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)

        env = {
            "PATH": os.pathsep.join([self.python_bin_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(home),
            "HOSTNAME": name[:63],
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(SHIM_DIR), *self.extra_pythonpath]),
            "TEST_KUBELET_POD_NAME": name[:63],
            "TEST_KUBELET_POD_NAMESPACE": ns,
            "TEST_KUBELET_CONTAINER_ROOT": str(rootfs),
            "TEST_KUBELET_REMAP_DIRS": "/app",
        }
        try:
            env.update(self._resolve_env(pod, container))
        except Exception as e:  # noqa: BLE001
            self._patch(path + "/status", {"status": {
                "phase": "Pending",
                "containerStatuses": [{"name": cname, "ready": False, "restartCount": 0,
                                       "image": container.get("image", ""), "imageID": "",
                                       "state": {"waiting": {"reason": "CreateContainerConfigError",
                                                             "message": str(e)}}}]}})
            self.finished[(ns, name)] = -1
            return
        env.update(self.extra_env)
        try:
            sa_dir = self._service_account_volume(pod, pod_root, env)
        except Exception as e:  # noqa: BLE001
            self._event("Warning", f"pod {ns}/{name}: no service-account token: {e}")
            self._patch(path + "/status", {"status": {"phase": "Pending", "containerStatuses": [{
                "name": cname, "ready": False, "restartCount": 0, "image": container.get("image", ""),
                "imageID": "", "state": {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}}]}})
            self.finished[(ns, name)] = -1
            return

        argv = [_expand(a, env) for a in (container.get("command") or []) + (container.get("args") or [])]
        workdir = container.get("workingDir")
        if workdir:
            cwd = rootfs / workdir.lstrip("/") if workdir.startswith("/app") else Path(workdir)
            cwd.mkdir(parents=True, exist_ok=True)
        else:
            cwd = self.default_workdir or rootfs

        log_path = self.pod_log_dir / f"{ns}_{name}_{cname}.log"
        log_file = open(log_path, "ab")
        started = _now()
        netns, pod_ip, host_ip = None, "127.0.0.1", "127.0.0.1"
        try:
            if not argv:
                raise FileNotFoundError("container has no command/args (image entrypoints are not emulated)")
            if self.network is not None:  # the pod's own network: `ip netns exec` execs argv under the same PID
                netns, pod_ip = self.network.attach()
                host_ip = self.network.host_ip
                # `ip netns exec` gives the pod its own mount namespace too (slave of the host's: nothing mounted
                # in it leaks out): the token is mounted where the in-cluster config looks, exec keeps the PID.
                mount = (f'mount --bind "$0" {SERVICE_ACCOUNT_DIR} && exec "$@"' if sa_dir is not None
                         else f'mount -t tmpfs -o size=1k,ro none {SERVICE_ACCOUNT_DIR} && exec "$@"')
                argv = ["ip", "netns", "exec", netns, "sh", "-c", mount, str(sa_dir or "-"), *argv]
            popen = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
                                     stdout=log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        except Exception as e:  # noqa: BLE001
            log_file.write(f"failed to start container: {e}\n".encode())
            log_file.close()
            if self.network is not None:
                self.network.detach(netns)
            self._write_terminated(ns, name, container, 128, "StartError", started, str(e))
            self.finished[(ns, name)] = 128
            return
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        self.running[(ns, name)] = _RunningPod(ns, name, uid, cname, popen, log_file, started,
                                               min(grace, self.max_grace), netns)
        self._event("Started", f"pod {ns}/{name} pid={popen.pid} ip={pod_ip}: {shlex.join(argv)[:200]}")
        self._patch(path + "/status", {"status": {
            "phase": "Running",
            "hostIP": host_ip,
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": started,
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": started}
                for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [{
                "name": cname, "image": container.get("image", ""), "imageID": "",
                "containerID": f"test-kubelet://{popen.pid}", "ready": True, "started": True,
                "restartCount": 0, "state": {"running": {"startedAt": started}},
            }],
        }})

    def _service_account_volume(self, pod: Dict[str, Any], pod_root: Path, env: Dict[str, str]) -> Optional[Path]:
        """The pod's service-account credentials, as the kubelet projects them: a token minted for the pod's
        service account (TokenRequest), the cluster CA and the namespace in a folder mounted at
        :data:`SERVICE_ACCOUNT_DIR`, and ``KUBERNETES_SERVICE_HOST``/``_PORT`` -- unless the pod or its service
        account turns ``automountServiceAccountToken`` off (then ``None``: the pod has no credentials at all).
        Without a :class:`PodNetwork` (no mount namespace) a kubeconfig with the same token stands in."""
        if self.cluster_api is None:
            env["KUBECONFIG"] = str(self.kubeconfig_path)  # the harness without a cluster address: admin
            return None
        host, port, ca_path = self.cluster_api
        env.update(KUBERNETES_SERVICE_HOST=host, KUBERNETES_SERVICE_PORT=str(port))
        ns, spec = pod["metadata"].get("namespace") or "default", pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            stored = self._get_or_none(f"/api/v1/namespaces/{ns}/serviceaccounts/{account}") or {}
            automount = stored.get("automountServiceAccountToken", True)
        if not automount:
            return None
        minted = self._post(f"/api/v1/namespaces/{ns}/serviceaccounts/{account}/token",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600}})
        folder = pod_root / "serviceaccount"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(minted["status"]["token"])
        (folder / "ca.crt").write_bytes(Path(ca_path).read_bytes())
        (folder / "namespace").write_text(ns)
        if self.network is None:
            env["KUBECONFIG"] = str(write_kubeconfig(folder / "kubeconfig", f"https://{host}:{port}", "in-cluster",
                                                     ns, token=minted["status"]["token"], ca_path=ca_path))
        return folder

    def _write_terminated(self, ns: str, name: str, container: Dict[str, Any], rc: int,
                          reason: str, started: str, message: Optional[str] = None) -> None:
        finished = _now()
        term = {"exitCode": rc, "reason": reason, "startedAt": started, "finishedAt": finished,
                "containerID": ""}
        if message:
            term["message"] = message
        self._patch(f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": {
            "phase": "Succeeded" if rc == 0 else "Failed",
            "conditions": [
                {"type": t, "status": "False" if t in ("Ready", "ContainersReady") else "True",
                 "lastProbeTime": None, "lastTransitionTime": finished,
                 **({"reason": "PodCompleted"} if t in ("Ready", "ContainersReady") else {})}
                for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [{
                "name": container.get("name", "main"), "image": container.get("image", ""),
                "imageID": "", "ready": False, "started": False, "restartCount": 0,
                "state": {"terminated": term},
            }],
        }})

    def _finish(self, rp: _RunningPod, rc: int) -> None:
        with contextlib.suppress(Exception):
            rp.log_file.close()
        if self.network is not None:
            self.network.detach(rp.netns)
        self.running.pop((rp.namespace, rp.name), None)
        self.finished[(rp.namespace, rp.name)] = rc
        self._event("Finished", f"pod {rp.namespace}/{rp.name} exit code {rc}")
        self._write_terminated(rp.namespace, rp.name, {"name": rp.container}, rc,
                               "Completed" if rc == 0 else "Error", rp.started_at)

    def _terminate(self, rp: _RunningPod) -> None:
        """SIGTERM the pod process by PID, wait the grace period, then SIGKILL."""
        from servers import terminate

        terminate(rp.popen, rp.grace, kill_wait=5)
        with contextlib.suppress(Exception):
            rp.log_file.close()
        if self.network is not None:
            self.network.detach(rp.netns)
        self.finished[(rp.namespace, rp.name)] = rp.popen.returncode if rp.popen.returncode is not None else -9

    # -- jobs ----------------------------------------------------------------
    def _sync_jobs(self, jobs: List[Dict[str, Any]], pods: List[Dict[str, Any]]) -> None:
        by_owner: Dict[str, List[Dict[str, Any]]] = {}
        for pod in pods:
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job" and ref.get("controller"):
                    by_owner.setdefault(ref.get("uid"), []).append(pod)
        for job in jobs:
            if _job_finished(job) or (job.get("spec") or {}).get("suspend"):
                continue
            self._sync_job(job, by_owner.get(job["metadata"].get("uid"), []))

    def _sync_job(self, job: Dict[str, Any], pods: List[Dict[str, Any]]) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        ns, name = meta.get("namespace") or "default", meta["name"]
        path = f"/apis/batch/v1/namespaces/{ns}/jobs/{name}/status"
        status = dict(job.get("status") or {})
        now = _now()
        phase = lambda p: (p.get("status") or {}).get("phase") or "Pending"  # noqa: E731
        active = [p for p in pods if phase(p) not in ("Succeeded", "Failed")]
        succeeded = [p for p in pods if phase(p) == "Succeeded"]
        failed = [p for p in pods if phase(p) == "Failed"]
        counted, fail_job_msg = 0, None
        for p in failed:
            action = evaluate_pod_failure_policy(job, p)
            if action == "FailJob" and fail_job_msg is None:
                fail_job_msg = (f"Container main for pod {ns}/{p['metadata']['name']} failed with exit "
                                f"code {_exit_codes(p, None)} matching FailJob rule")
            elif action == "Count":
                counted += 1
        backoff_limit = int(spec.get("backoffLimit", 6))
        deadline = spec.get("activeDeadlineSeconds")
        started = _parse_ts(status.get("startTime"))

        new = {"active": len(active), "succeeded": len(succeeded), "failed": len(failed),
               "ready": len([p for p in active if phase(p) == "Running"]), "terminating": 0,
               "startTime": status.get("startTime") or now,
               "uncountedTerminatedPods": {}}
        condition = None
        if succeeded:
            condition = ("Complete", "Completed", "Reached expected number of succeeded pods")
            new["completionTime"] = now
        elif fail_job_msg:
            condition = ("Failed", "PodFailurePolicy", fail_job_msg)
        elif counted > backoff_limit:
            condition = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and started is not None and time.time() - started > int(deadline):
            condition = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        if condition and condition[0] == "Failed":
            for p in active:  # the job controller deletes the remaining pods
                self._delete(f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}")
            new["active"] = 0
            new["ready"] = 0
        if condition:
            ctype, reason, message = condition
            interim = "SuccessCriteriaMet" if ctype == "Complete" else "FailureTarget"
            new["conditions"] = (status.get("conditions") or []) + [
                {"type": t, "status": "True", "reason": reason, "message": message,
                 "lastProbeTime": now, "lastTransitionTime": now}
                for t in (interim, ctype)
            ]
            self._event("JobFinished", f"job {ns}/{name}: {ctype} ({reason})")
        elif not active:
            self._create_pod_for_job(job)
            new["active"] = 1
        changed = any(status.get(k) != v for k, v in new.items() if k != "uncountedTerminatedPods")
        if changed:
            self._patch(path, {"status": new})

    def trigger_cronjob(self, namespace: str, name: str) -> str:
        """Create one Job from a CronJob's ``jobTemplate`` right now.

        Equivalent of ``kubectl create job --from=cronjob/<name>`` (there is no
        cron controller here). The Job is owned by the CronJob, so deleting
        the CronJob cascades to it. Returns the Job name.
        """
        cj = self._get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}")
        tmpl = copy.deepcopy(cj["spec"]["jobTemplate"])
        tmeta = tmpl.get("metadata") or {}
        job_name = f"{name[:52]}-{int(time.time()) // 60 % 100000000}"[:63]
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job_name,
                "namespace": namespace,
                "labels": tmeta.get("labels") or {},
                "annotations": {**(tmeta.get("annotations") or {}),
                                "cronjob.kubernetes.io/instantiate": "manual"},
                "ownerReferences": [{
                    "apiVersion": "batch/v1", "kind": "CronJob", "name": name,
                    "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
                }],
            },
            "spec": tmpl.get("spec") or {},
        }
        self._post(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)
        self._event("Triggered", f"job {namespace}/{job_name} from cronjob {name}")
        return job_name

    def _create_pod_for_job(self, job: Dict[str, Any]) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        ns, name = meta.get("namespace") or "default", meta["name"]
        template = copy.deepcopy(spec.get("template") or {})
        tmeta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{name}-",
                "namespace": ns,
                "labels": tmeta.get("labels") or {},
                "annotations": tmeta.get("annotations") or {},
                "ownerReferences": [{
                    "apiVersion": "batch/v1", "kind": "Job", "name": name,
                    "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
                }],
            },
            "spec": template.get("spec") or {},
        }
        created = self._post(f"/api/v1/namespaces/{ns}/pods", pod)
        self._event("Created", f"pod {ns}/{created['metadata']['name']} for job {name}")


_VAR_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _expand(value: str, env: Dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion in command/args/env values."""
    return _VAR_RE.sub(lambda m: env.get(m.group(1), m.group(0)), value)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve-kmock", help="run the Kubernetes API emulator (foreground)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--pod-log-dir", default=str(HERE / "pod-logs"))
    p.add_argument("--port-file", default=None)
    p.add_argument("--tls-host", default=None)
    p.add_argument("--tls-port", type=int, default=0)
    p.add_argument("--tls-cert", default=None)
    p.add_argument("--tls-key", default=None)
    args = parser.parse_args(argv)
    if args.cmd == "serve-kmock":
        tls = (args.tls_host, args.tls_port, args.tls_cert, args.tls_key) if args.tls_host else None
        asyncio.run(_serve_kmock(args.host, args.port, args.pod_log_dir, args.port_file, tls))


if __name__ == "__main__":
    main()
