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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "local.yaml"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ZENML_CONFIG_PATH"] = str(Path(tmp) / "zenml")
        from instructzero import load_config, optimize
        from instructzero.models.loading import load_causal_lm
        from pipelines.run import run_pipeline

        def with_cache(name: str):
            return load_config(args.config, overrides={"blackbox": {"cache_path": str(Path(tmp) / name)}})

        load_causal_lm(with_cache("warm").whitebox.model)  # model load and conversion are not what we measure
        start = time.perf_counter()
        reference = optimize(with_cache("inprocess.sqlite"))
        t_inprocess = time.perf_counter() - start
        start = time.perf_counter()
        result, _ = run_pipeline(with_cache("pipeline.sqlite"))
        t_pipeline = time.perf_counter() - start
        start = time.perf_counter()
        run_pipeline(with_cache("pipeline.sqlite"))
        t_cached = time.perf_counter() - start

    same = result.history.instructions == reference.history.instructions
    n = len(reference.history.instructions)
    print(f"config:                 {args.config} ({n} instructions, {reference.blackbox_calls} black-box calls)")
    print(f"in-process optimize:    {t_inprocess:8.1f} s")
    print(f"ZenML pipeline:         {t_pipeline:8.1f} s")
    print(f"overhead:               {t_pipeline - t_inprocess:8.1f} s ({(t_pipeline / t_inprocess - 1) * 100:.0f}%)")
    print(f"cached rerun:           {t_cached:8.1f} s")
    print(f"identical results:      {same}")


if __name__ == "__main__":
    main()
