"""Run an InstructZero config: `python run.py --config configs/local.yaml`."""

from __future__ import annotations

import argparse
import logging
import sys

from instructzero.config import load_config
from instructzero.errors import InstructZeroError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/local.yaml", help="YAML run config")
    parser.add_argument(
        "--in-process", action="store_true", help="run the plain loop (`instructzero.optimize`) without ZenML"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = load_config(args.config)
        from instructzero import optimize

        result = optimize(config, progress=True)
    except InstructZeroError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
