"""One ZenML step per pipeline stage; each adapts types and calls `instructzero`.

Import a step from its module (`from instructzero.steps.load_task import load_task`): this package imports
nothing, so that a step's pod loads only the modules its own step needs (no torch, transformers or BoTorch
in the pods of the steps that do not use them).
"""
