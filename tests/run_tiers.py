"""The whole suite as its tiers side by side: `fast`, `cluster` and `wheel` (pytest markers, see conftest).

The cluster tier (pod processes, ZenML's dynamic runner polling) and the wheel tier (pip into fresh
virtualenvs) mostly wait, so they run beside the fast tier instead of after it, and the fast tier itself runs
as `--fast-shards` processes (default: one per CPU core), each given whole test files, balanced by the
seconds each file took last time (`tests/durations.json`; a file not listed there counts as the median).
What kept them from sharing one process pool is the checkout's `.zen` (ZenML's source root, which every test's
stack activation rewrites): every process but the first fast shard runs in its own copy of the source tree --
the files git tracks or would track, as a clean clone has them -- and each has its own `ZENML_CONFIG_PATH` and
pytest temporary folder. Each process's output is printed whole when it ends; the exit status is the first
failing one's (0 when all pass). Every fast test runs exactly once: the shards split the fast tier's own
collection.

    python tests/run_tiers.py [--tiers fast,cluster,wheel] [--fast-shards N] [--update-durations] [pytest arguments]

`--update-durations` writes the seconds each fast test file took in this run to `tests/durations.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The tiers, as pytest markers (tests/conftest.py puts every test in exactly one).
TIERS = ("fast", "cluster", "wheel")
#: Seconds each fast test file took when last measured (`--update-durations`): balances the fast shards.
DURATIONS = REPO / "tests" / "durations.json"
#: Ignored paths a copy links to instead of copying: the llama.cpp server's virtualenv (built by `make`).
LINKED = (".venv-llama",)


def source_files(root: Path) -> list[str]:
    """The files a clean clone of `root` has, plus the untracked ones git would not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            check=True, capture_output=True).stdout.decode()  # fmt: skip
    return [f for f in listed.split("\0") if f and (root / f).is_file()]


def copy_source(root: Path, target: Path) -> Path:
    """A copy of the source tree whose imports stay inside it. The checkout's editable install maps the
    packages pyproject places elsewhere (`instructzero.steps` is `steps/`, ...) to the checkout's folders;
    links inside the copy's `instructzero/` make Python find the copy's own first (the tier runs with the copy
    first on its path)."""
    for name in source_files(root):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    for name in LINKED:
        if (root / name).exists():
            (target / name).symlink_to(root / name)
    placed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"].get("package-dir", {})
    for package, folder in placed.items():
        parent, _, child = package.rpartition(".")
        if parent and (target / folder).is_dir():
            (target / parent.replace(".", "/") / child).symlink_to(target / folder, target_is_directory=True)
    return target


def fast_files(args: list[str]) -> list[str]:
    """The test files that hold fast tests, from pytest's own collection (as the shards will select)."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "-m", "fast", "--collect-only", "-q", "-p", "no:cacheprovider",
                             *args], cwd=REPO, capture_output=True, text=True)  # fmt: skip
    if listed.returncode != 0:
        raise SystemExit(f"collecting the fast tier failed (exit {listed.returncode}):\n{listed.stdout[-3000:]}{listed.stderr[-3000:]}")
    return sorted({line.split("::")[0] for line in listed.stdout.splitlines() if "::" in line})


def shards(files: list[str], n: int, seconds: dict[str, float]) -> list[list[str]]:
    """`files` in `n` groups of about equal measured time: longest first, each to the least loaded group."""
    typical = statistics.median(seconds.values()) if seconds else 1.0
    loads, groups = [0.0] * n, [[] for _ in range(n)]
    for name in sorted(files, key=lambda f: (-seconds.get(f, typical), f)):
        lightest = loads.index(min(loads))
        loads[lightest] += seconds.get(name, typical)
        groups[lightest].append(name)
    return [group for group in groups if group]


def start(name: str, marker: str, own_copy: bool, work: Path, args: list[str],
          threads: int | None = None) -> tuple[subprocess.Popen, Path, float]:  # fmt: skip
    """`threads`: torch's (OpenMP's) threads in the process, so that processes side by side share the cores
    instead of each starting one thread per core."""
    folder = work / name
    folder.mkdir()
    cwd = copy_source(REPO, folder / "src") if own_copy else REPO
    env = {**os.environ, "ZENML_CONFIG_PATH": str(folder / "zenml-config")}
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    if own_copy:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))
    log = folder / "pytest.log"
    command = [sys.executable, "-m", "pytest", "-m", marker, f"--basetemp={folder / 'tmp'}",
               f"--junitxml={folder / 'junit.xml'}", *args]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log, time.monotonic()


def file_seconds(junit: Path) -> dict[str, float]:
    """Seconds per test file in a junit report (setup, call and teardown of each of its tests)."""
    seconds: dict[str, float] = {}
    if junit.is_file():
        for case in ElementTree.parse(junit).iter("testcase"):
            name = case.get("classname", "").replace(".", "/") + ".py"
            seconds[name] = seconds.get(name, 0.0) + float(case.get("time", 0))
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default=",".join(TIERS), help="comma-separated, of: " + ", ".join(TIERS))
    parser.add_argument("--fast-shards", type=int, default=os.cpu_count() or 1, help="processes for the fast tier")
    parser.add_argument("--update-durations", action="store_true", help="record each fast file's seconds")
    options, args = parser.parse_known_args(argv)
    tiers = [t for t in options.tiers.split(",") if t]
    if unknown := sorted(set(tiers) - set(TIERS)):
        parser.error(f"unknown tier(s) {', '.join(unknown)}: --tiers takes {', '.join(TIERS)}")
    if options.fast_shards < 1:
        parser.error("--fast-shards takes 1 or more")
    work = Path(tempfile.mkdtemp(prefix="instructzero-tiers-"))
    began = time.monotonic()
    running: dict[str, tuple[subprocess.Popen, Path, float]] = {}
    for tier in (t for t in tiers if t != "fast"):  # the slow tiers first: they wait the most
        running[tier] = start(tier, tier, True, work, args)
    if "fast" in tiers:
        seconds = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
        groups = shards(fast_files(args), options.fast_shards, seconds)
        threads = max(1, (os.cpu_count() or 1) // len(groups))
        for index, files in enumerate(groups):
            name = "fast" if len(groups) == 1 else f"fast-{index + 1}"
            running[name] = start(name, "fast", index > 0, work, [*args, *files], threads=threads)
    print(f"{', '.join(running)} started side by side (logs under {work})", flush=True)
    codes: dict[str, int] = {}
    try:
        while running:
            for name, (process, log, t0) in list(running.items()):
                if (code := process.poll()) is None:
                    continue
                del running[name]
                codes[name] = code
                sys.stdout.write(log.read_text(errors="replace"))
                print(f"== {name}: exit {code} after {time.monotonic() - t0:.0f} s ==", flush=True)
            time.sleep(1)
    finally:
        for process, _, _ in running.values():  # interrupted: nothing outlives the runner
            process.terminate()
    print(f"== all: {dict(codes)} in {time.monotonic() - began:.0f} s ==", flush=True)
    if options.update_durations:
        measured = {}
        for folder in sorted(work.glob("fast*")):
            measured.update(file_seconds(folder / "junit.xml"))
        DURATIONS.write_text(json.dumps({k: round(v, 1) for k, v in sorted(measured.items())}, indent=1) + "\n")
        print(f"seconds per fast test file written to {DURATIONS}")
    shutil.rmtree(work, ignore_errors=True)
    return next((code for code in codes.values() if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
