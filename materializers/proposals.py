"""A round's proposed instructions (JSON), with what proposing them cost."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer

from instructzero.blackbox.accounting import Spend
from instructzero.materializers.io import content_hash, read_json, write_json
from instructzero.search.history import Proposals


class ProposalsMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (Proposals,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def _record(self, data: Proposals) -> dict[str, Any]:
        return {"instructions": data.instructions, "spend": data.spend.as_metadata()}

    def save(self, data: Proposals) -> None:
        write_json(self.artifact_store, os.path.join(self.uri, "proposals.json"), self._record(data))

    def load(self, data_type: type[Any]) -> Proposals:
        record = read_json(self.artifact_store, os.path.join(self.uri, "proposals.json"))
        return Proposals(record["instructions"], Spend(**record["spend"]))

    def extract_metadata(self, data: Proposals) -> dict[str, Any]:
        given = [v for v in data.instructions if v is not None]
        return {"n_instructions": len(given), "n_distinct": len(set(given)), "proposal_calls": data.spend.calls}

    def compute_content_hash(self, data: Proposals) -> str:
        return content_hash(self._record(data))
