from pipelines.instructzero_pipeline import instructzero_pipeline

__all__ = ["instructzero_pipeline"]
