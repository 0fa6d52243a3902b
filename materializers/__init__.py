"""ZenML materializers for InstructZero's types.

Importing this package registers them. Each writes through the artifact store's
file API (so it works unchanged on S3), stores open formats (safetensors, npz,
JSON), records metadata and, where useful, an HTML dashboard view.
"""

from instructzero.materializers.candidates import CandidatesMaterializer, HistoryMaterializer
from instructzero.materializers.data_validation import DataValidationReportMaterializer
from instructzero.materializers.projection import ProjectionMaterializer
from instructzero.materializers.proposals import ProposalsMaterializer
from instructzero.materializers.result import OptimizationResultMaterializer
from instructzero.materializers.soft_prompts import SoftPromptsMaterializer
from instructzero.materializers.task import TaskDataMaterializer

__all__ = [
    "CandidatesMaterializer",
    "DataValidationReportMaterializer",
    "HistoryMaterializer",
    "OptimizationResultMaterializer",
    "ProjectionMaterializer",
    "ProposalsMaterializer",
    "SoftPromptsMaterializer",
    "TaskDataMaterializer",
]
