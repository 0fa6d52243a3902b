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


def drop_unfinished_versions(run_name: str) -> list[str]:
    """Delete the model versions a run created that hold no registry record: their task failed or was stopped
    before `promote`, so they hold no instruction, and `prompt`, promotion and warm starts must never meet them.
    Only versions linked to this run are touched (a concurrent run's unfinished version is not). Returns
    `<model>:<number>` of each version dropped."""
    from zenml.client import Client

    client = Client()
    try:
        run = client.get_pipeline_run(run_name)
    except KeyError:  # the run was never created
        return []
    dropped = []
    links = client.list_model_version_pipeline_run_links(pipeline_run_id=run.id, size=100, hydrate=True)
    # A link names its model version by id (a UUID) or, hydrated further, as the version itself.
    for version_id in {getattr(link.model_version, "id", link.model_version) for link in links.items}:
        version = client.get_model_version(model_version_name_or_number_or_id=version_id)
        if "instruction" in version.run_metadata:  # its task's `promote` registered a record
            continue
        dropped.append(f"{version.model.name}:{version.number}")
        client.delete_model_version(version.id)
    return dropped
