"""Candidate batches and the BO history: npz for soft prompts and scores, JSON for text and accounting."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer

from instructzero.blackbox.accounting import Spend
from instructzero.materializers.io import content_hash, read_json, read_npz, write_json, write_npz, write_text
from instructzero.materializers.visualize import candidates_table, history_plot
from instructzero.search.history import Candidates, History


def _batch_record(batch: Candidates) -> dict[str, Any]:
    return {"round": batch.round, "instructions": batch.instructions, "answers": batch.answers,
            "spend": batch.spend.as_metadata(), "budget_exhausted": batch.budget_exhausted,
            "blocks": [int(b) for b in batch.blocks]}  # fmt: skip


def _batch_from(record: dict[str, Any], soft_prompts: np.ndarray, scores: np.ndarray) -> Candidates:
    record = {**record, "spend": Spend(**record["spend"])}
    return Candidates(soft_prompts=soft_prompts, scores=scores, **record)


def save_history(store, uri: str, history: History) -> None:
    """`history.json` (text, accounting per batch) + `history.npz` (`soft_prompts_i`, `scores_i`)."""
    write_json(store, os.path.join(uri, "history.json"), {"batches": [_batch_record(b) for b in history.batches]})
    arrays = {}
    for i, b in enumerate(history.batches):
        arrays[f"soft_prompts_{i}"], arrays[f"scores_{i}"] = b.soft_prompts, b.scores
    write_npz(store, os.path.join(uri, "history.npz"), **arrays)


def load_history(store, uri: str) -> History:
    records = read_json(store, os.path.join(uri, "history.json"))["batches"]
    arrays = read_npz(store, os.path.join(uri, "history.npz"))
    return History([_batch_from(r, arrays[f"soft_prompts_{i}"], arrays[f"scores_{i}"]) for i, r in enumerate(records)])


def history_html(history: History, title: str) -> str:
    rows = [(int(r), v, float(s)) for r, v, s in zip(history.rounds, history.instructions, history.means)] \
        if history.batches else []  # fmt: skip
    return f"{history_plot(history)}{candidates_table(rows, title)}"


class CandidatesMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (Candidates,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: Candidates) -> None:
        write_json(self.artifact_store, os.path.join(self.uri, "candidates.json"), _batch_record(data))
        write_npz(self.artifact_store, os.path.join(self.uri, "candidates.npz"),
                  soft_prompts=data.soft_prompts, scores=data.scores)  # fmt: skip

    def load(self, data_type: type[Any]) -> Candidates:
        record = read_json(self.artifact_store, os.path.join(self.uri, "candidates.json"))
        arrays = read_npz(self.artifact_store, os.path.join(self.uri, "candidates.npz"))
        return _batch_from(record, arrays["soft_prompts"], arrays["scores"])

    def save_visualizations(self, data: Candidates) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "candidates.html")
        rows = [(data.round, v, float(s)) for v, s in zip(data.instructions, data.means)]
        write_text(self.artifact_store, path, candidates_table(rows, f"Round {data.round} candidates"))
        return {path: VisualizationType.HTML}

    def extract_metadata(self, data: Candidates) -> dict[str, Any]:
        meta = {"round": data.round, "n_candidates": len(data.instructions), **data.spend.as_metadata(),
                "budget_exhausted": data.budget_exhausted}  # fmt: skip
        if data.instructions:
            meta.update(best_score=float(data.means.max()), soft_prompt_shape=str(tuple(data.soft_prompts.shape)))
        return meta

    def compute_content_hash(self, data: Candidates) -> str:
        return content_hash(_batch_record(data), data.soft_prompts, data.scores)


class HistoryMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (History,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: History) -> None:
        save_history(self.artifact_store, self.uri, data)

    def load(self, data_type: type[Any]) -> History:
        return load_history(self.artifact_store, self.uri)

    def save_visualizations(self, data: History) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "history.html")
        write_text(self.artifact_store, path, history_html(data, "All candidates so far"))
        return {path: VisualizationType.HTML}

    def extract_metadata(self, data: History) -> dict[str, Any]:
        if not data.batches:
            return {"n_evaluations": 0}
        return {
            "n_evaluations": len(data.instructions),
            "n_batches": len(data.batches),
            "best_score": data.best_score,
            "best_instruction": data.best_instruction,
            **data.spend.as_metadata(),
        }

    def compute_content_hash(self, data: History) -> str:
        parts = [part for b in data.batches for part in (_batch_record(b), b.soft_prompts, b.scores)]
        return content_hash(len(data.batches), *parts)


