"""Run configuration, one module per section; the names a user needs are re-exported here.

The core library imports sections from their own modules
(`instructzero.config.blackbox`, ...), so a pipeline step's cache key covers only
the sections it reads.
"""

from instructzero.config.base import (
    DEFAULT_INTRINSIC_DIM,
    DEFAULT_MAX_TEST,
    DEFAULT_N_EXEMPLARS,
    DEFAULT_N_SOFT_TOKENS,
    DEFAULT_N_VALIDATION,
    StrictModel,
)
from instructzero.config.blackbox import BlackBoxConfig, TokenPrice
from instructzero.config.evaluation import EvaluationConfig
from instructzero.config.kubernetes import KubernetesConfig, StepPodConfig
from instructzero.config.registry import RecheckConfig, RegistryConfig, default_registry_model_name
from instructzero.config.run import RunConfig, deep_merge, load_config, parse_config
from instructzero.config.search import APEConfig, BOConfig, SelectionConfig
from instructzero.config.task import DataChecksConfig, TaskConfig
from instructzero.config.whitebox import ProjectionConfig, WhiteBoxConfig

__all__ = [
    "APEConfig",
    "BOConfig",
    "BlackBoxConfig",
    "DEFAULT_INTRINSIC_DIM",
    "DEFAULT_MAX_TEST",
    "DEFAULT_N_EXEMPLARS",
    "DEFAULT_N_SOFT_TOKENS",
    "DEFAULT_N_VALIDATION",
    "DataChecksConfig",
    "EvaluationConfig",
    "KubernetesConfig",
    "ProjectionConfig",
    "RecheckConfig",
    "RegistryConfig",
    "RunConfig",
    "SelectionConfig",
    "StepPodConfig",
    "StrictModel",
    "TaskConfig",
    "TokenPrice",
    "WhiteBoxConfig",
    "default_registry_model_name",
    "deep_merge",
    "load_config",
    "parse_config",
]
