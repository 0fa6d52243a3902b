"""ZenML materializers for InstructZero's types.

Each writes through the artifact store's file API (so it works unchanged on S3), stores open formats
(safetensors, npz, JSON), records metadata and, where useful, an HTML dashboard view. A step names its own
(`output_materializers`); this package imports none of them, so that a step's pod loads only what it uses.
"""
