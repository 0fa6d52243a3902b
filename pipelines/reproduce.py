"""`instructzero reproduce`: a finished run rebuilt from its lineage and run again with step caching off.

Lineage gives everything the rerun needs: the run's `fleet` (each task's config;
a run from before fleets has one `config`) and `warm_start_from` are its pipeline
parameters (the warm start is the same artifact, not today's newest comparable
run), each task's registry record holds its whole config, a registry version
names its run and branch in that record, and the code release that made the run
is its `instructzero_version` metadata. A run id reproduces every task of the
run, a registry version its own task. The comparison is :mod:`instructzero.reproduce`.

Black-box answers are not artifacts: they live in the response cache, the run's
`blackbox.cache_path` file (and, on a remote artifact store, in the shards under
`instructzero-response-cache/`). A replay therefore runs on a copy: the file is
copied with SQLite's backup API (consistent under a concurrent writer) into a
temporary folder, the shared shards are merged into the copy, and the rerun
reads only that copy (`cache_sync: never`). It cannot change the original's
answers, and an answer the copy lacks is counted as a call the replay had to make.
A fresh rerun asks under a new `blackbox.cache_namespace` (so no stored answer is
reused; what it pays for is kept like any other answer).

Either way the rerun registers on `<model>-reproductions`, never on the run's own
registry model: a reproduction cannot move production or become a warm-start source.
"""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from instructzero.blackbox.cache import ResponseCache
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.fleet import Fleet
from instructzero.config.registry import default_registry_model_name
from instructzero.config.run import RunConfig, parse_config
from instructzero.errors import ConfigError, InstructZeroError, MissingAnswersError, PipelineRunError
from instructzero.reproduce import Reproduction, RunOutcome
from instructzero.steps.names import (
    EVALUATE_ON_TEST,
    LOAD_TASK,
    PROJECTION,
    PROMOTE,
    RESULT,
    SAMPLE_PROJECTION,
    TASK,
    in_branch,
)
from instructzero.version import __version__

#: Suffix of the registry model reproductions register on.
REPRODUCTIONS_SUFFIX = "-reproductions"
#: The pipelines a reproducible run comes from (their names in ZenML): one task, or a fleet of named tasks.
OPTIMIZATION_PIPELINES = ("instructzero_pipeline", "fleet_pipeline")


def find_run(source: str):
    """The pipeline run `source` names and, for a registry version, the branch of its task ('' outside a fleet;
    None: every task of the run). `source` is a run id, name or id prefix, or a registry version
    `<model>:<version>` (`instructzero-sum:3`, `sum:production`; a task name stands for its default model)."""
    from zenml.client import Client

    from instructzero.registry.record import RegistryRecord

    client = Client()
    if ":" in source:
        model, _, version = source.rpartition(":")
        for name in dict.fromkeys((model, default_registry_model_name(model))):
            try:
                found = client.get_model_version(name, int(version) if version.isdigit() else version)
            except KeyError:
                continue
            try:
                run_id = RegistryRecord.from_metadata(found.run_metadata).run_id
            except KeyError:
                raise ConfigError(f"registry version {source} holds no instructzero record: name an instructzero "
                                  "model's version (`instructzero prompt <task>` shows one)") from None  # fmt: skip
            return client.get_pipeline_run(run_id), str(found.run_metadata.get("branch", ""))
    else:
        try:
            return client.get_pipeline_run(source), None
        except (KeyError, ValueError):
            pass
    raise ConfigError(f"no pipeline run or registry version '{source}': pass a run id or name "
                      "(`zenml pipeline runs list`) or <model>:<version> (e.g. instructzero-sum:3)")  # fmt: skip


def run_fleet_config(run) -> tuple[Fleet, dict[str, str]]:
    """The fleet a run was made with and the warm-start artifact of each task that had one.

    Each task's config is the whole one its registry record holds (every default as it was then) when there is
    one, else the pipeline parameter (the keys that were set, today's defaults for the rest). A run from before
    fleets (a `config` parameter) is a fleet of one."""
    parameters = run.config.parameters or {}
    pipeline = run.pipeline.name if run.pipeline is not None else None
    if pipeline not in OPTIMIZATION_PIPELINES or not {"fleet", "config"} & set(parameters):
        raise ConfigError(f"run {run.name} is not a run of the optimization pipeline: reproduce a run of "
                          "`instructzero run` (`zenml pipeline runs list`)")  # fmt: skip
    warm = parameters.get("warm_start_from")
    if "fleet" in parameters:
        try:
            fleet = Fleet.model_validate(parameters["fleet"])
        except ValidationError as exc:
            raise ConfigError(f"run {run.name}: its fleet no longer validates ({exc.errors()[0]['msg']})") from None
        warm = warm or {}
    else:  # one task: `instructzero_pipeline(config, warm_start_from)`
        fleet = Fleet.of(parse_config(parameters["config"], origin=f"run {run.name}"))
        warm = {next(iter(fleet.tasks)): warm} if warm else {}
    tasks = {name: recorded_config(run, fleet.branch(name)) or config for name, config in fleet.tasks.items()}
    return Fleet(tasks=tasks, named=fleet.named), warm


def recorded_config(run, branch: str) -> RunConfig | None:
    """The whole config the registry record of a run's task holds, or None."""
    from instructzero.registry.record import RegistryRecord

    step = run.steps.get(in_branch(branch, PROMOTE))
    version = (step.model_version if step is not None else None) or run.model_version
    if version is None:
        return None
    try:
        record = RegistryRecord.from_metadata(version.run_metadata)
    except KeyError:
        return None
    if record.run_id != str(run.id) or not record.config:
        return None
    return parse_config(record.config, origin=f"run {run.name}'s registry record")


def outcome_of(run, branch: str) -> RunOutcome:
    """The task, projection and result one task of a finished optimization run left in its lineage."""
    step = run.steps.get(in_branch(branch, EVALUATE_ON_TEST))
    if step is None or step.status.value != "completed":
        raise ConfigError(f"run {run.name} has no finished optimization{f' of task {branch}' if branch else ''} "
                          f"(status {run.status.value}): reproduce a completed run of `instructzero run`")  # fmt: skip
    return RunOutcome(
        run_id=str(run.id), run_name=run.name,
        task=run.steps[in_branch(branch, LOAD_TASK)].outputs[TASK][0].load(),
        projection=run.steps[in_branch(branch, SAMPLE_PROJECTION)].outputs[PROJECTION][0].load(),
        result=step.outputs[RESULT][0].load(),
    )  # fmt: skip


def code_version_note(run) -> str:
    """One line on the release that made the run and this one; a difference is named, the rerun still runs."""
    made_by = run.run_metadata.get("instructzero_version")
    if made_by == __version__:
        return f"code:              instructzero {__version__}, the release that made the run"
    made = f"instructzero {made_by}" if made_by else "a release that recorded no version"
    return (f"code:              CHANGED: the run was made by {made}, this is instructzero {__version__}; "
            "a difference below may come from the code, not the answers")  # fmt: skip


def stored_answers(config: BlackBoxConfig) -> Path:
    """The response-cache file of a run's answers, as this machine sees it; one line naming the fix otherwise."""
    if config.cache_path is None:
        raise InstructZeroError("the run kept its black-box answers in memory only (blackbox.cache_path: null), so "
                                "there is nothing to replay: pass --fresh to ask the black box again")  # fmt: skip
    path = Path(config.cache_path).expanduser()
    if not path.is_file():
        raise InstructZeroError(f"the run's stored answers {config.cache_path} are not here ({path.resolve()}): run "
                                "reproduce in the folder the run was made in, or pass --fresh")  # fmt: skip
    return path


def copy_answers(config: BlackBoxConfig, target: Path) -> int:
    """Copy a run's stored answers into `target` (a new SQLite file), with the shards shared through the
    artifact store merged in; returns the number of answers. The original file is only read."""
    from instructzero.steps.response_cache import pull, shared_cache_dir

    source = sqlite3.connect(f"file:{stored_answers(config)}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    remote = shared_cache_dir(config)
    if remote:
        cache = ResponseCache(target)
        try:
            pull(cache, remote)
        finally:
            cache.close()
    return answers_in(target)


def answers_in(path: Path) -> int:
    """Answers in a response-cache file."""
    cache = ResponseCache(path)
    try:
        return len(cache)
    finally:
        cache.close()


def require_local_orchestrator() -> None:
    from zenml.client import Client

    stack = Client().active_stack
    if stack.orchestrator.flavor != "local":
        raise ConfigError(f"a replay reads a copy of the stored answers on this machine, which the pods of the "
                          f"'{stack.orchestrator.flavor}' orchestrator (stack '{stack.name}') cannot: activate a "
                          "stack with the local orchestrator (`zenml stack set default`), or pass --fresh")  # fmt: skip


def missing_answers(run_name: str) -> tuple[str, int] | None:
    """The failed step of a replay that stopped for answers its stored copy lacks, and how many it asked for;
    None when the replay failed for another reason."""
    from zenml.client import Client

    try:
        run = Client().get_pipeline_run(run_name)
    except KeyError:
        return None
    for name, step in run.steps.items():
        info = step.exception_info
        missing = MissingAnswersError.missing_in((info.message or "") if info else "")
        if step.status.value == "failed" and missing is not None:
            return name, missing
    return None


def reproduce(source: str, fresh: bool = False, pay_missing: bool = False) -> list[Reproduction]:
    """Rerun the run `source` names (see :func:`find_run`; a registry version: its task only) with step caching
    off and compare each task with the original: a replay of the stored answers, or with `fresh` the black box
    asked again. One :class:`Reproduction` per task, in the run's order.

    A replay of a billed black box sends nothing (`blackbox.stored_only`), so it needs no API key; an answer its copy lacks stops it
    in one line saying how many the first step that lacked them asked for and what they would cost at the
    run's own cost per call. With `pay_missing` the black box is asked for them (with its key), and the replay
    says how many it paid for."""
    from instructzero.pipelines.run import _run, check_artifact_store, ensure_source_root, finished
    from instructzero.pipelines.search import fleet_pipeline, instructzero_pipeline
    from instructzero.pipelines.settings import pipeline_settings
    from instructzero.preflight import preflight
    from instructzero.steps.model_registry import registry_model

    ensure_source_root()
    run, branch = find_run(source)
    fleet, warm_start_from = run_fleet_config(run)
    if branch is not None:
        fleet = fleet.only([branch if fleet.named else next(iter(fleet.tasks))])
    originals = {name: outcome_of(run, fleet.branch(name)) for name in fleet.tasks}
    notes = [code_version_note(run)]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    with tempfile.TemporaryDirectory(prefix="instructzero-replay-") as folder:
        shared = next(iter(fleet.tasks.values())).blackbox  # a fleet shares one response cache
        if fresh:
            namespace = "/".join(filter(None, (shared.cache_namespace, f"reproduce-{stamp}")))
            update = {"cache_namespace": namespace}
            notes.append(f"answers:           asked afresh (cache namespace '{namespace}')")
        else:
            require_local_orchestrator()
            copy = Path(folder) / "answers.sqlite"
            stored = copy_answers(shared, copy)
            # A billed black box is asked for nothing unless the user agrees to pay; an in-process one costs nothing.
            stored_only = shared.backend_class.billed and not pay_missing
            update = {"cache_path": str(copy), "cache_sync": "never", "stored_only": stored_only}
            notes.append(f"answers:           {stored} stored answers, read from a copy of {shared.cache_path}")
        rerun_fleet = Fleet(tasks={name: config.model_copy(update={
            "blackbox": config.blackbox.model_copy(update=update),
            "registry": config.registry.model_copy(update={"model_name": config.registry_model_name + REPRODUCTIONS_SUFFIX}),
        }) for name, config in fleet.tasks.items()}, named=fleet.named)  # fmt: skip
        for config in rerun_fleet.tasks.values():
            preflight(config, probe=fresh)
        check_artifact_store()
        options = {"enable_cache": False, "settings": pipeline_settings(rerun_fleet.kubernetes),
                   "run_name": f"reproduce-{run.name}-{stamp}"}  # fmt: skip
        warm = {name: artifact for name, artifact in warm_start_from.items() if name in rerun_fleet.tasks}
        try:
            if rerun_fleet.named:
                pipeline = fleet_pipeline.with_options(**options)
                rerun = finished(_run(pipeline, fleet=rerun_fleet, warm_start_from=warm or None))
            else:  # one task, as `run_fleet` runs it: the run's own model version is the pipeline's
                ((name, config),) = rerun_fleet.tasks.items()
                rerun = finished(_run(instructzero_pipeline.with_options(model=registry_model(config), **options),
                                      config=config, warm_start_from=warm.get(name)))  # fmt: skip
        except PipelineRunError:
            if fresh or pay_missing or (missing := missing_answers(options["run_name"])) is None:
                raise
            step, count = missing
            calls = sum(o.result.spend.calls for o in originals.values())
            per_call = sum(o.result.spend.cost_usd for o in originals.values()) / calls if calls else 0.0
            raise InstructZeroError(
                f"the stored answers lack {count} answer(s) that step {step} of the replay asked for (later steps may"
                f" lack more), about ${count * per_call:.4f} at the run's own ${per_call:.6f} a call: nothing was "
                "sent; pass --pay-missing to ask the black box for them (with its API key), or --fresh"
            ) from None
        replay_calls = 0 if fresh else answers_in(copy) - stored
    return [Reproduction(original=originals[name], rerun=outcome_of(rerun, rerun_fleet.branch(name)), fresh=fresh,
                         replay_calls=replay_calls, notes=notes) for name in fleet.tasks]  # fmt: skip
