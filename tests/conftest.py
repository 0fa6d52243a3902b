"""Shared fixtures: the packaged benchmark data, a tiny random-weight model, isolated ZenML stores, and the
real servers (S3, ZenML, an emulated Kubernetes) started once per session."""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
REPOSITORY_CONFIG = "repository-config.yaml"  # the active ids the checkout's `.zen` gets in each test
#: The instruction-induction tasks shipped inside the package.
II_DIR = REPO / "instructzero" / "datasets" / "instruction_induction"


#: The tiers a test can be marked with; a test in none of them is in the fast tier (`-m fast`).
SLOW_TIERS = ("cluster", "wheel")


def pytest_collection_modifyitems(config, items) -> None:
    """Every test is in exactly one tier: `cluster`, `wheel` (marked on the test) or else `fast`."""
    for item in items:
        tiers = [t for t in SLOW_TIERS if item.get_closest_marker(t)]
        if len(tiers) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked {tiers}: a test belongs to one tier")
        if not tiers:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session")
def ii_dir() -> Path:
    return II_DIR


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A 2-layer random-weight Llama with SmolLM2's tokenizer, saved like any local HF model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from instructzero.models.files import smollm2_location
    from instructzero.models.loading import _converted_gguf

    tokenizer = AutoTokenizer.from_pretrained(_converted_gguf(*smollm2_location()))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        initializer_range=0.5,  # peaked random logits, so soft prompts visibly change the text
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")

# ZenML looks up the distribution of every artifact type from an installed package (numpy's arrays, ...) with
# `importlib.metadata.packages_distributions()`, which reads every installed package's metadata each time:
# about 0.25 s, four times a pipeline run here. Nothing is installed into this interpreter during the session
# (the wheel tests install into virtualenvs of their own), so the first answer stays right for the whole session.
importlib.metadata.packages_distributions = functools.cache(importlib.metadata.packages_distributions)


def _reset_zenml() -> None:
    """Forget ZenML's process-wide state so the next access reads ZENML_CONFIG_PATH afresh."""
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration
    from zenml.stack import stack

    GlobalConfiguration._reset_instance()
    Client._reset_instance()
    # Stacks are cached by (id, updated); copies of the template share ids, and a
    # cached stack would keep the previous test's artifact store path.
    stack._STACK_CACHE.clear()


@pytest.fixture(scope="session")
def zenml_template(tmp_path_factory) -> Iterator[Path]:
    """One initialized ZenML store per session; tests get copies, not fresh inits."""
    from zenml.client import Client

    path = tmp_path_factory.mktemp("zenml-template")
    repo_config = REPO / ".zen" / "config.yaml"  # read before any client: a client rewrites ids it cannot find
    before = repo_config.read_text() if repo_config.exists() else None
    created = not (REPO / ".zen").is_dir()
    old = os.environ.get("ZENML_CONFIG_PATH")
    os.environ["ZENML_CONFIG_PATH"] = str(path)
    _reset_zenml()
    client = Client()
    stack_id = client.active_stack_model.id  # creates the database, default project and stack
    # The checkout's `.zen` (ZenML's source root) also holds an active project and stack, which
    # any test's stack activation rewrites; each test starts from the template's (see zenml_store).
    (path / REPOSITORY_CONFIG).write_text(f"active_project_id: {client.active_project.id}\nactive_stack_id: {stack_id}\n")
    if created:
        Client.initialize(REPO)
    _reset_zenml()
    if old is None:
        del os.environ["ZENML_CONFIG_PATH"]
    else:
        os.environ["ZENML_CONFIG_PATH"] = old
    yield path
    # The developer's next `make run` finds the checkout's `.zen` as it was, not ids of a deleted test store.
    if created:
        import shutil

        shutil.rmtree(REPO / ".zen", ignore_errors=True)
    elif before is not None:
        repo_config.write_text(before)


@pytest.fixture
def zenml_store(zenml_template, tmp_path, monkeypatch) -> Path:
    """An isolated ZenML config + local store for one test, copied from the template."""
    import shutil

    target = tmp_path / "zenml"
    shutil.copytree(zenml_template, target)
    for config in target.rglob("config.yaml"):
        config.write_text(config.read_text().replace(str(zenml_template), str(target)))
    monkeypatch.setenv("ZENML_CONFIG_PATH", str(target))
    # Ids another store left in the checkout's `.zen` (a cluster test's server, say) would make
    # ZenML warn and fall back to its defaults, on stderr, in the middle of a test's output.
    repo_config = REPO / ".zen" / "config.yaml"
    saved = repo_config.read_text() if repo_config.exists() else None
    repo_config.write_text((target / REPOSITORY_CONFIG).read_text())
    _reset_zenml()
    yield target
    _reset_zenml()
    if saved is None:
        repo_config.unlink(missing_ok=True)
    else:
        repo_config.write_text(saved)


# --------------------------------------------------------------------------
# Servers shared by the whole session (S3, ZenML: idle, they cost nothing) or a module (the cluster).
# Users keep apart by name -- their own bucket, stack, namespace objects -- and a test that
# stops or breaks a server (marked `own_server`) starts a private one instead.
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One SeaweedFS (S3) on 127.0.0.1; each user creates its own bucket with `ensure_bucket`."""
    from servers import SeaweedFS

    server = SeaweedFS(data_dir=tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def zenml_server(tmp_path_factory):
    """One ZenML server (SQLite store, no auth) on 127.0.0.1."""
    from servers import ZenMLServer

    server = ZenMLServer(base_dir=tmp_path_factory.mktemp("zenml-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def k8s_emulator(tmp_path_factory):
    """An emulated Kubernetes: kmock (API + kubeconfig, namespace `instructzero` with the service accounts and RBAC
    of `k8s/rbac.yaml`) and the test kubelet running its pods as their service accounts.

    Per module, not per session: the kubelet lists every pod and Job every 0.3 s, and kmock answering
    that costs about half a core even when nothing runs -- left up, it would slow every later test.

    Pods find this checkout's packages first on their path, as the step image has the project installed
    (Dockerfile). Without it, an editable install of another checkout in this Python would serve the
    orchestrator pod (which downloads no code) and every import before a step pod's code download.
    """
    import yaml
    from k8s_emulation import KMockServer, PodNetwork, TestKubelet

    root = tmp_path_factory.mktemp("k8s-emulator")
    network = PodNetwork().start()  # every pod in its own network namespace; servers listen on network.host_ip
    try:
        kmock = KMockServer(work_dir=root / "kmock", namespace="instructzero", host=network.host_ip).start()
    except BaseException:
        network.stop()
        raise
    try:
        kmock.apply([doc for doc in yaml.safe_load_all((REPO / "k8s" / "rbac.yaml").read_text()) if doc])
        kubelet = TestKubelet(kmock.url, kmock.kubeconfig_path, root / "kubelet", kmock.pod_log_dir,
                              extra_env={"ZENML_ANALYTICS_OPT_IN": "false",  # dynamic runs look at their step pods every 1 s, not 10 s
                                         "ZENML_DYNAMIC_PIPELINE_MONITORING_INTERVAL": "1"},
                              extra_pythonpath=(str(REPO),),
                              network=network, cluster_api=(network.host_ip, kmock.api_port, kmock.ca_path)).start()  # fmt: skip
    except BaseException:
        kmock.stop()
        network.stop()
        raise
    yield kmock, kubelet
    kubelet.stop()
    kmock.stop()
    network.stop()
