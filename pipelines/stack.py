"""The Kubernetes stack, registered with one idempotent call of ZenML's Python client.

Components: an S3 artifact store (any S3-compatible store through `endpoint_url`),
ZenML's Kubernetes orchestrator (kube context, namespace), a container registry and
an image builder (used only when the run config names no pre-built image). Running
it again updates what changed and creates what is missing.

The artifact store authenticates to S3 one of three ways (`s3_auth`): `keys`, static
keys in a ZenML secret the component references (never copied into it); `implicit`,
no keys at all: s3fs/boto3 find credentials where they run (the pod's IAM role
through IRSA or EKS Pod Identity, GKE workload identity, an instance profile,
AWS_* variables); `connector`, an existing ZenML service connector linked to the
component, which hands out its credentials.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from instructzero.errors import ConfigError

#: How the artifact store may authenticate to S3 (`--s3-auth`).
S3_AUTH = ("keys", "implicit", "connector")


@dataclass(frozen=True)
class KubernetesStack:
    """What `instructzero stack register` asks for."""

    artifact_path: str
    container_registry: str
    kubernetes_context: str | None = None
    namespace: str = "instructzero"
    endpoint_url: str | None = None
    region: str | None = None
    name: str = "instructzero-k8s"
    #: Environment variables holding the S3 keys on the machine that registers the stack.
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    #: `local` builds with the Docker daemon of the submitting machine; `kaniko` in the cluster.
    image_builder: str = "local"
    #: How the artifact store authenticates to S3: `keys`, `implicit` or `connector` (see the module's doc).
    s3_auth: str = "keys"
    #: The ZenML service connector (name or id) of `s3_auth="connector"`.
    connector: str | None = None

    @property
    def secret_name(self) -> str:
        return f"{self.name}-s3"


def check_zenml_server() -> None:
    """Fail in one line when the ZenML server the client is configured for (`zenml login`, ZENML_STORE_URL)
    does not answer: once, at once, instead of ZenML's client retrying for a minute and ending in a
    traceback. A local store (no server) passes."""
    import requests
    from zenml.config.global_config import GlobalConfiguration
    from zenml.constants import HEALTH
    from zenml.enums import StoreType

    store = GlobalConfiguration().store_configuration
    if store.type != StoreType.REST:
        return
    url = store.url.rstrip("/")
    try:
        requests.get(f"{url}{HEALTH}", timeout=10, verify=getattr(store, "verify_ssl", True)).raise_for_status()
    except requests.RequestException as exc:
        cause = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))  # e.g. "Connection refused"
        reason = cause.group(1) if cause else " ".join(str(exc).split())[:160] or type(exc).__name__
        fix = "fix ZENML_STORE_URL (it overrides `zenml login`)" if os.environ.get("ZENML_STORE_URL") \
            else "`zenml login <server url>`"  # fmt: skip
        raise ConfigError(f"cannot reach the ZenML server at {url} ({reason}): check that it is up, or point the "
                          f"client at the right server: {fix}") from None  # fmt: skip


def register_stack_checked(spec: KubernetesStack, activate: bool = True) -> list[str]:
    """`instructzero stack register`: `register_stack` after a reachable server, a refused login in one line."""
    check_zenml_server()  # first: importing the steps (the source root) already talks to the server
    from zenml.exceptions import AuthorizationException

    try:
        from instructzero.pipelines.run import ensure_source_root

        ensure_source_root()
        return register_stack(spec, activate=activate)
    except AuthorizationException as exc:  # e.g. not logged in: ZenML's message names `zenml login <url>`
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        fix = "" if "zenml login" in reason else " Log in with `zenml login <server url>`."
        raise ConfigError(f"the ZenML server refused the client: {reason}{fix}") from None


def register_stack(spec: KubernetesStack, activate: bool = True) -> list[str]:
    """Create or update the secret, the components and the stack; returns what was done, one line each."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    if not spec.artifact_path.startswith("s3://"):
        raise ConfigError(f"--artifact-path {spec.artifact_path!r} must be an s3://bucket[/prefix] URL")
    if spec.s3_auth not in S3_AUTH:
        raise ConfigError(f"--s3-auth {spec.s3_auth!r} must be one of {', '.join(S3_AUTH)}")
    if (spec.s3_auth == "connector") != bool(spec.connector):
        raise ConfigError("--s3-auth connector needs --connector NAME (an existing ZenML service connector), "
                          "and --connector goes with --s3-auth connector only")  # fmt: skip
    client = Client()
    done = []
    if spec.s3_auth == "keys":
        keys = {name: os.environ.get(var) for name, var in (("aws_access_key_id", spec.access_key_env),
                                                            ("aws_secret_access_key", spec.secret_key_env))}  # fmt: skip
        if not all(keys.values()):
            raise ConfigError(f"set {spec.access_key_env} and {spec.secret_key_env} to the bucket's keys: they go "
                              f"into the ZenML secret '{spec.secret_name}', never into a config (or choose "
                              "--s3-auth implicit or connector)")  # fmt: skip
        done.append(_update_or_create(
            f"secret {spec.secret_name}", lambda: client.get_secret(spec.secret_name),
            lambda: client.update_secret(spec.secret_name, add_or_update_values=keys),
            lambda: client.create_secret(spec.secret_name, values=keys),
        ))  # fmt: skip

    client_kwargs = {k: v for k, v in {"endpoint_url": spec.endpoint_url, "region_name": spec.region}.items() if v}
    keys_ref = {"key": f"{{{{{spec.secret_name}.aws_access_key_id}}}}",
                "secret": f"{{{{{spec.secret_name}.aws_secret_access_key}}}}"}  # fmt: skip
    components = {
        StackComponentType.ARTIFACT_STORE: (f"{spec.name}-artifacts", "s3", {
            "path": spec.artifact_path,
            **(keys_ref if spec.s3_auth == "keys" else dict.fromkeys(keys_ref)),
            "client_kwargs": client_kwargs,
        }),
        # `incluster`: inside a pod (an orchestrator pod, a dynamic run's too, or a CronJob's) the Kubernetes API is
        # reached with the pod's service account; anywhere else ZenML falls back to `kubernetes_context`.
        StackComponentType.ORCHESTRATOR: (f"{spec.name}-orchestrator", "kubernetes", {
            "kubernetes_context": spec.kubernetes_context,
            "kubernetes_namespace": spec.namespace,
            "incluster": True,
        }),
        StackComponentType.CONTAINER_REGISTRY: (f"{spec.name}-registry", "default", {"uri": spec.container_registry}),
        StackComponentType.IMAGE_BUILDER: (f"{spec.name}-builder", spec.image_builder, {}),
    }  # fmt: skip
    for kind, (name, flavor, configuration) in components.items():
        given = {k: v for k, v in configuration.items() if v is not None}
        # An update merges into the old configuration: the artifact store's None removes S3 keys an earlier
        # registration stored; the orchestrator keeps a kube context given before.
        update = configuration if kind == StackComponentType.ARTIFACT_STORE else given
        done.append(_update_or_create(
            f"{kind.value} {name} ({flavor})", lambda: client.get_stack_component(kind, name),
            lambda: client.update_stack_component(name, kind, configuration=update),
            lambda: client.create_stack_component(name, flavor, kind, given),
        ))  # fmt: skip
    done.extend(_artifact_store_connector(client, components[StackComponentType.ARTIFACT_STORE][0], spec))
    names = {kind: name for kind, (name, _, _) in components.items()}
    done.append(_update_or_create(
        f"stack {spec.name}", lambda: client.get_stack(spec.name),
        lambda: client.update_stack(spec.name, component_updates=names),
        lambda: client.create_stack(spec.name, components=names),
    ))  # fmt: skip
    if activate:
        client.activate_stack(spec.name)
        done.append(f"activated stack {spec.name}")
    return done


def _artifact_store_connector(client, name: str, spec: KubernetesStack) -> list[str]:
    """Link the artifact store to `spec.connector` the way `zenml artifact-store connect NAME --connector C`
    does (the connector must suit an S3 bucket and reach the store's path), or unlink one an earlier
    registration linked when the store now authenticates otherwise."""
    from zenml.enums import StackComponentType

    kind = StackComponentType.ARTIFACT_STORE
    component = client.get_stack_component(kind, name)
    if spec.s3_auth != "connector":
        if component.connector is None:
            return []
        client.update_stack_component(name, kind, disconnect=True)
        return [f"disconnected {kind.value} {name} from service connector {component.connector.name}"]
    try:
        connector = client.get_service_connector(spec.connector, allow_name_prefix_match=False)
    except KeyError:
        raise ConfigError(f"no ZenML service connector {spec.connector!r}: register one for the bucket first "
                          "(`zenml service-connector register NAME --type aws --resource-type s3-bucket ...`) "
                          "or choose --s3-auth keys or implicit") from None  # fmt: skip
    requirements = component.flavor.connector_requirements
    suits, why = requirements.is_satisfied_by(connector, component)
    if not suits:
        raise ConfigError(f"service connector {connector.name!r} cannot serve the S3 artifact store: {why}")
    try:
        resources = client.verify_service_connector(connector.id, resource_type=requirements.resource_type,
                                                    resource_id=spec.artifact_path).resources[0]  # fmt: skip
        if resources.error:
            raise ValueError(resources.error)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the bucket becomes one line
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        what = f"service connector {connector.name!r}"
        raise ConfigError(f"{what} cannot reach {spec.artifact_path} ({reason})") from None
    resource_id = (resources.resource_ids or [spec.artifact_path])[0]
    client.update_stack_component(name, kind, connector_id=connector.id, connector_resource_id=resource_id)
    return [f"connected {kind.value} {name} to service connector {connector.name} ({resource_id})"]


def _update_or_create(what: str, get, update, create) -> str:
    """Update `what` when `get` finds it (ZenML's client raises KeyError when it does not), else create it."""
    try:
        get()
    except KeyError:
        create()
        return f"created {what}"
    update()
    return f"updated {what}"
