"""The prompt registry on ZenML's Model Control Plane: the one place its model and versions are reached.

Each pipeline run registers a version of the model `instructzero-<task>`
(:func:`registry_model`), holding the `best_instruction` artifact and the
run's :class:`~instructzero.registry.record.RegistryRecord` as metadata. Steps
(`promote`, `recheck_production`) and the read side (`instructzero.pipelines.registry`)
both use these helpers.
"""

from __future__ import annotations

from zenml import Model

from instructzero.config.run import RunConfig

#: Tag of a production version whose re-check found a regression.
REGRESSION_TAG = "regression"


def registry_model(config: RunConfig) -> Model:
    """The registry model a run (or a schedule) of `config` registers its version on."""
    return Model(
        name=config.registry_model_name,
        description=f"InstructZero instructions for task '{config.task.name}' (black box {config.blackbox.model})",
        tags=["instructzero", f"task:{config.task.name}"],
    )


def production_version(model_name: str):
    """The production model version, or None (ZenML raises KeyError for a stage with no version)."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None
