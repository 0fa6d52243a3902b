"""The `instructzero` command: subcommands, fast failures, quiet output, and the installed wheel."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

from instructzero.cli import main
from instructzero.data.builtin import BUILTIN_TASKS
from instructzero.version import __version__

HEAVY = ("torch", "transformers", "botorch", "gpytorch", "zenml")
PY = sys.executable


def heavy_modules_after(argv: list[str], cwd: Path = REPO) -> tuple[int, list[str], str]:
    """Exit code, heavy modules imported, and stderr of `instructzero <argv>` in a fresh interpreter."""
    code = (
        "import sys; from instructzero.cli import main; code = main(sys.argv[1:]); "
        f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})); sys.exit(code)"
    )
    done = subprocess.run([PY, "-c", code, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)
    heavy = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY"))
    return done.returncode, eval(heavy.removeprefix("HEAVY ")), done.stderr


def test_help_for_every_subcommand_and_the_version(capsys):
    for argv in (["--help"], ["run", "--help"], ["validate", "--help"], ["tasks", "--help"], ["prompt", "--help"],
                 ["config", "--help"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0 and "usage: instructzero" in capsys.readouterr().out
    done = subprocess.run([PY, "-m", "instructzero", "--version"], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == f"instructzero {__version__}" and __version__ == "0.1.0"


def test_validate_checks_config_and_data_without_models_or_zenml(tmp_path):
    code, heavy, err = heavy_modules_after(["validate", "--config", "configs/smollm2.yaml"])
    assert code == 0 and heavy == [], err
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"task: {{source: file, path: {tmp_path / 'missing.jsonl'}}}\n")
    code, heavy, err = heavy_modules_after(["validate", "--config", str(bad)])
    assert code == 2 and heavy == [] and err.strip().count("\n") == 0 and "missing.jsonl not found" in err
    bad.write_text("bo: {q: 0}\n")  # a config error from `run` is just as fast
    code, heavy, err = heavy_modules_after(["run", "--config", str(bad)])
    assert code == 2 and heavy == [] and "bo.q" in err


def test_tasks_lists_builtin_and_packaged_tasks_with_sizes(capsys):
    assert main(["tasks"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == len(BUILTIN_TASKS) + 33 and len(BUILTIN_TASKS) >= 4  # sum, larger, smallest, last_letter
    assert {r.split()[1] for r in rows if r.startswith("builtin ")} == set(BUILTIN_TASKS)
    antonyms = next(r.split() for r in rows if " antonyms " in r)
    assert antonyms[0] == "instruction_induction" and antonyms[2] == "exact_match" and antonyms[-1] == "100"


def write_tiny_config(folder: Path, tiny_lm_dir: Path) -> Path:
    config = folder / "tiny.yaml"
    config.write_text(json.dumps({
        "seed": 2,
        "task": {"source": "instruction_induction", "name": "antonyms", "n_validation": 4, "max_test": 10,
                 "checks": {"min_test_rows": 5}},
        "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 5},
        "blackbox": {"model": str(tiny_lm_dir), "max_tokens": 3, "cache_path": str(folder / "cache.sqlite")},
        "bo": {"n_init": 3, "n_rounds": 1, "q": 2, "num_restarts": 1, "raw_samples": 16},
    }))  # fmt: skip
    return config


@pytest.fixture
def outside_the_checkout(monkeypatch):
    """No checkout on PYTHONPATH (as the test runs may set): the scratch venv must import the wheel's packages."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the checkout, built once for the tests of this module that install it."""
    wheels = tmp_path_factory.mktemp("wheels")
    # setuptools stages a wheel in <checkout>/build/ and never deletes files there: a module moved since an
    # earlier build would ship twice. The folder is a git-ignored by-product; start it afresh.
    shutil.rmtree(REPO / "build", ignore_errors=True)
    subprocess.run([PY, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    (built,) = wheels.glob("instructzero-*.whl")
    return built


@pytest.mark.slow
@pytest.mark.wheel
@pytest.mark.usefixtures("outside_the_checkout")
def test_the_wheel_ships_the_data_and_its_command_runs_the_pipeline_outside_the_checkout(tmp_path, tiny_lm_dir, wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert len([n for n in names if n.startswith("instructzero/datasets/instruction_induction/induce/")]) == 33
    assert len([n for n in names if n.startswith("instructzero/datasets/instruction_induction/execute/")]) == 31
    # One top-level package: the ZenML layer is inside it (instructzero.steps, ...), so are the example configs.
    assert {n.split("/")[0] for n in names} == {"instructzero", f"instructzero-{__version__}.dist-info"}
    assert {f"instructzero/configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")} <= set(names)

    # A scratch venv with the wheel installed; its dependencies are borrowed from this one.
    venv = tmp_path / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "deps.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    subprocess.run([PY, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=300)  # fmt: skip
    work = tmp_path / "elsewhere"  # not the checkout: nothing here shadows the installed packages
    work.mkdir()
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}
    env.pop("ZENML_LOGGING_VERBOSITY", None)

    def command(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "instructzero"), *argv], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip

    located = subprocess.run([str(venv / "bin" / "python"), "-c", "from importlib.util import find_spec as f; "
                              "print(f('instructzero').origin, f('instructzero.steps').origin)"], cwd=work, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert located.stdout.count(str(site)) == 2, located
    assert command("--version").stdout.strip() == f"instructzero {__version__}"
    tasks = command("tasks")
    # a header, every built-in task and the 33 packaged instruction-induction ones
    assert tasks.returncode == 0 and len(tasks.stdout.splitlines()) == 1 + len(BUILTIN_TASKS) + 33

    config = write_tiny_config(work, tiny_lm_dir)
    assert command("validate", "--config", str(config)).returncode == 0
    quiet = command("run", "--config", str(config))
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "best instruction:" in quiet.stdout and quiet.stdout.count("registry:          ") == 1  # once (it was printed twice)
    assert "has started" not in quiet.stdout + quiet.stderr  # ZenML's per-step lines are behind --verbose
    assert "white box" in quiet.stderr and "black box" in quiet.stderr  # progress bars stay
    loud = command("--verbose", "run", "--config", str(config))  # everything cached now
    assert loud.returncode == 0 and "Using cached version of step" in loud.stdout + loud.stderr


TORCH = "2.13.0"
#: pip's resolution of the wheel's dependencies (and their downloads): measured 30-90 s; open ranges once backtracked
#: for 25+ minutes (every aiobotocore, s3fs, fsspec release, then transformers and torch).
RESOLVE_LIMIT_S = 180
BACKTRACKING = "pip is looking at multiple versions of"


def timed_lines(argv: list[str], timeout: float, **kwargs) -> tuple[int | None, list[tuple[float, str]]]:
    """Exit code (None: killed at `timeout`) and the output lines of a command, each with its seconds since start."""
    start = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs) as proc:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        lines = [(time.monotonic() - start, line.rstrip()) for line in proc.stdout]
        killed = not timer.is_alive()
        timer.cancel()
    return (None if killed else proc.returncode), lines


def distributions(python: Path) -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"  # noqa: E501
    return json.loads(subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True,
                                     timeout=120).stdout)  # fmt: skip


@pytest.mark.slow
@pytest.mark.wheel
@pytest.mark.timeout(1500)
@pytest.mark.usefixtures("outside_the_checkout")
def test_the_wheel_installs_without_constraints_keeps_torch_and_shadows_no_user_package(tmp_path, wheel, monkeypatch):
    """What a user does: a fresh venv, torch first, then `pip install instructzero-*.whl` with no constraints file.

    pip resolves without backtracking and in minutes, keeps the torch it found (no CUDA build, no nvidia-*), and a
    project with its own `pipelines/` package still gets the README's consumer API from the wheel."""
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)  # the wheel's own ranges must do (a machine's pip.conf stays)
    venv = tmp_path / "venv"
    subprocess.run([PY, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"torch=={TORCH}"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    before = distributions(python)
    assert before["torch"].split("+")[0] == TORCH

    code, lines = timed_lines([str(python), "-m", "pip", "install", str(wheel)], timeout=600)
    log = "\n".join(line for _, line in lines if "is ignored: it is neither" not in line)
    assert code == 0, log[-5000:]
    assert BACKTRACKING not in log, log[-5000:]
    resolved_s = next(s for s, line in lines if line.startswith("Installing collected packages"))
    assert resolved_s < RESOLVE_LIMIT_S, f"resolving took {resolved_s:.0f} s"
    after = distributions(python)
    assert after["torch"] == before["torch"] and after["instructzero"] == __version__
    assert {n for n in after if n.startswith("nvidia-")} <= {n for n in before if n.startswith("nvidia-")}

    project = tmp_path / "project"  # a user's project: their own `pipelines` package, the current folder on sys.path
    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "__init__.py").write_text("MINE = True\n")
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}
    consumer = ("import pipelines, instructzero.pipelines.registry as registry\n"
                "from instructzero.pipelines.registry import production_prompt\n"
                "assert pipelines.MINE and callable(production_prompt)\n"
                "print(pipelines.__file__); print(registry.__file__)\n")  # fmt: skip
    done = subprocess.run([str(python), "-c", consumer], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    mine, theirs = done.stdout.split()
    assert Path(mine) == project / "pipelines" / "__init__.py" and "site-packages" in theirs

    # The example configs come with the wheel; a message names the command that prints them, not a repository path.
    def command(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "instructzero"), *argv], cwd=project, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    assert command("config", "show", "local").stdout == (REPO / "configs" / "local.yaml").read_text()
    missing = command("validate", "--config", "mine.yaml")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert "`instructzero config copy local my.yaml`" in missing.stderr and "configs/" not in missing.stderr
    assert command("config", "copy", "local", "mine.yaml").returncode == 0
    assert (project / "mine.yaml").read_text() == (REPO / "configs" / "local.yaml").read_text()


def test_zenml_log_lines_go_to_stderr_so_that_stdout_carries_only_the_commands_output(capfd):
    """`instructzero prompt --format json | jq` must not see ZenML's warnings (about the repository's stack, say)."""
    import logging

    from zenml.logger import ZenMLConsoleHandler

    from instructzero.pipelines.run import zenml_logs_to_stderr

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, ZenMLConsoleHandler)]
    streams = [h.stream for h in handlers]
    with zenml_logs_to_stderr():
        logging.getLogger("zenml.client").warning("The current repo active stack is no longer available.")
        out, err = capfd.readouterr()
    assert handlers and "no longer available" in err and "no longer available" not in out
    assert [h.stream for h in handlers] == streams  # ZenML's own streams again: nothing outlives the command
