"""The Kubernetes stack, registered with one idempotent call of ZenML's Python client.

Components: an S3 artifact store (any S3-compatible store through `endpoint_url`;
its keys in a ZenML secret, referenced, never copied into the component), ZenML's
Kubernetes orchestrator (kube context, namespace), a container registry and an
image builder (used only when the run config names no pre-built image). Running
it again updates what changed and creates what is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from instructzero.errors import ConfigError


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

    @property
    def secret_name(self) -> str:
        return f"{self.name}-s3"


def register_stack(spec: KubernetesStack, activate: bool = True) -> list[str]:
    """Create or update the secret, the components and the stack; returns what was done, one line each."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    if not spec.artifact_path.startswith("s3://"):
        raise ConfigError(f"--artifact-path {spec.artifact_path!r} must be an s3://bucket[/prefix] URL")
    keys = {name: os.environ.get(var) for name, var in (("aws_access_key_id", spec.access_key_env),
                                                        ("aws_secret_access_key", spec.secret_key_env))}  # fmt: skip
    if not all(keys.values()):
        raise ConfigError(f"set {spec.access_key_env} and {spec.secret_key_env} to the bucket's keys: they go into "
                          f"the ZenML secret '{spec.secret_name}', never into a config")  # fmt: skip
    client = Client()
    done = [_update_or_create(
        f"secret {spec.secret_name}", lambda: client.get_secret(spec.secret_name),
        lambda: client.update_secret(spec.secret_name, add_or_update_values=keys),
        lambda: client.create_secret(spec.secret_name, values=keys),
    )]  # fmt: skip

    client_kwargs = {k: v for k, v in {"endpoint_url": spec.endpoint_url, "region_name": spec.region}.items() if v}
    components = {
        StackComponentType.ARTIFACT_STORE: (f"{spec.name}-artifacts", "s3", {
            "path": spec.artifact_path,
            "key": f"{{{{{spec.secret_name}.aws_access_key_id}}}}",
            "secret": f"{{{{{spec.secret_name}.aws_secret_access_key}}}}",
            "client_kwargs": client_kwargs,
        }),
        StackComponentType.ORCHESTRATOR: (f"{spec.name}-orchestrator", "kubernetes", {
            "kubernetes_context": spec.kubernetes_context,
            "kubernetes_namespace": spec.namespace,
        }),
        StackComponentType.CONTAINER_REGISTRY: (f"{spec.name}-registry", "default", {"uri": spec.container_registry}),
        StackComponentType.IMAGE_BUILDER: (f"{spec.name}-builder", spec.image_builder, {}),
    }  # fmt: skip
    for kind, (name, flavor, configuration) in components.items():
        configuration = {k: v for k, v in configuration.items() if v is not None}
        done.append(_update_or_create(
            f"{kind.value} {name} ({flavor})", lambda: client.get_stack_component(kind, name),
            lambda: client.update_stack_component(name, kind, configuration=configuration),
            lambda: client.create_stack_component(name, flavor, kind, configuration),
        ))  # fmt: skip
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


def _update_or_create(what: str, get, update, create) -> str:
    """Update `what` when `get` finds it (ZenML's client raises KeyError when it does not), else create it."""
    try:
        get()
    except KeyError:
        create()
        return f"created {what}"
    update()
    return f"updated {what}"
