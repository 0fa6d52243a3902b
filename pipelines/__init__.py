"""The ZenML layer's entry points: the pipeline (wiring only), how to run it, and the registry's read side.

`instructzero_pipeline` is imported on first use, so that the registry helpers
(used by the `promote` step) can be imported without importing every step.
"""

__all__ = ["instructzero_pipeline"]


def __getattr__(name: str):
    if name == "instructzero_pipeline":
        from pipelines.search import instructzero_pipeline

        return instructzero_pipeline
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
