"""ZenML materializers for InstructZero's types.

Importing this package registers them. Each writes through the artifact store's
file API (so it works unchanged on S3), stores open formats (safetensors, npz,
JSON), records metadata and, where useful, an HTML dashboard view.
"""

from materializers.candidates import CandidatesMaterializer, HistoryMaterializer
from materializers.data_validation import DataValidationReportMaterializer
from materializers.projection import ProjectionMaterializer
from materializers.proposals import ProposalsMaterializer
from materializers.result import OptimizationResultMaterializer
from materializers.soft_prompts import SoftPromptsMaterializer
from materializers.task import TaskDataMaterializer

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
