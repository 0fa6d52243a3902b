"""The `instructzero` command: subcommands, fast failures, quiet output, and the installed wheel."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

from instructzero.cli import main
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
    for argv in (["--help"], ["run", "--help"], ["validate", "--help"], ["tasks", "--help"], ["prompt", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0 and "usage: instructzero" in capsys.readouterr().out
    done = subprocess.run([PY, "-m", "instructzero", "--version"], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == f"instructzero {__version__}" and __version__ == "0.1.0"


def test_validate_checks_config_and_data_without_models_or_zenml(tmp_path):
    code, heavy, err = heavy_modules_after(["validate", "--config", "configs/local.yaml"])
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
    assert len(rows) == 2 + 33
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


@pytest.mark.slow
@pytest.mark.usefixtures("outside_the_checkout")
def test_the_wheel_ships_the_data_and_its_command_runs_the_pipeline_outside_the_checkout(tmp_path, tiny_lm_dir):
    wheels = tmp_path / "wheels"
    # setuptools stages a wheel in <checkout>/build/ and never deletes files there: a module moved since an
    # earlier build would ship twice. The folder is a git-ignored by-product; start it afresh.
    shutil.rmtree(REPO / "build", ignore_errors=True)
    subprocess.run([PY, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("instructzero-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert len([n for n in names if n.startswith("instructzero/datasets/instruction_induction/induce/")]) == 33
    assert len([n for n in names if n.startswith("instructzero/datasets/instruction_induction/execute/")]) == 31
    assert {n.split("/")[0] for n in names} >= {"instructzero", "steps", "pipelines", "materializers"}

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
                              "print(f('instructzero').origin, f('steps').origin)"], cwd=work, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert located.stdout.count(str(site)) == 2, located
    assert command("--version").stdout.strip() == f"instructzero {__version__}"
    tasks = command("tasks")
    assert tasks.returncode == 0 and len(tasks.stdout.splitlines()) == 1 + 2 + 33

    config = write_tiny_config(work, tiny_lm_dir)
    assert command("validate", "--config", str(config)).returncode == 0
    quiet = command("run", "--config", str(config))
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "best instruction:" in quiet.stdout and "registry:" in quiet.stdout
    assert "has started" not in quiet.stdout + quiet.stderr  # ZenML's per-step lines are behind --verbose
    assert "white box" in quiet.stderr and "black box" in quiet.stderr  # progress bars stay
    loud = command("--verbose", "run", "--config", str(config))  # everything cached now
    assert loud.returncode == 0 and "Using cached version of step" in loud.stdout + loud.stderr
