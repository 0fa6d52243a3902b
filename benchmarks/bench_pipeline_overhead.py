"""Wall time of the ZenML pipeline against the in-process `optimize` on the same config.

Both runs start from empty response caches (and the pipeline from an empty ZenML
store in a temp dir), so each pays for the same black-box calls; the difference
is orchestration: artifact writes, metadata, step bookkeeping.

    .venv/bin/python benchmarks/bench_pipeline_overhead.py [--config configs/local.yaml]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")


def time_pipeline_against_inprocess(config_for, zenml_dir: Path, cached_rerun: bool = False) -> dict:
    """Seconds of `optimize` and of the pipeline on `config_for(cache file name)`, each from an empty response
    cache, after one warm-up run (model loads and conversion are not what is measured); with `cached_rerun`, also
    the pipeline's rerun with every step cached. The one timing both benchmark scripts report."""
    from instructzero.loop import optimize
    from instructzero.pipelines.run import run_pipeline

    os.environ["ZENML_CONFIG_PATH"] = str(zenml_dir)
    optimize(config_for("warm.sqlite"))
    start = time.perf_counter()
    reference = optimize(config_for("inprocess.sqlite"))
    timing = {"inprocess": time.perf_counter() - start}
    start = time.perf_counter()
    result, _ = run_pipeline(config_for("pipeline.sqlite"))
    timing["pipeline"] = time.perf_counter() - start
    if cached_rerun:
        start = time.perf_counter()
        run_pipeline(config_for("pipeline.sqlite"))
        timing["cached"] = time.perf_counter() - start
    timing.update(same=result.history.instructions == reference.history.instructions,
                  instructions=len(reference.history.instructions), calls=reference.blackbox_calls)  # fmt: skip
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "local.yaml"))
    args = parser.parse_args()
    from instructzero.config.run import load_config

    with tempfile.TemporaryDirectory() as tmp:

        def with_cache(name: str):
            return load_config(args.config, overrides={"blackbox": {"cache_path": str(Path(tmp) / name)}})

        t = time_pipeline_against_inprocess(with_cache, Path(tmp) / "zenml", cached_rerun=True)
    print(f"config:                 {args.config} ({t['instructions']} instructions, {t['calls']} black-box calls)")
    print(f"in-process optimize:    {t['inprocess']:8.1f} s")
    print(f"ZenML pipeline:         {t['pipeline']:8.1f} s")
    print(f"overhead:               {t['pipeline'] - t['inprocess']:8.1f} s ({(t['pipeline'] / t['inprocess'] - 1) * 100:.0f}%)")
    print(f"cached rerun:           {t['cached']:8.1f} s")
    print(f"identical results:      {t['same']}")


if __name__ == "__main__":
    main()
