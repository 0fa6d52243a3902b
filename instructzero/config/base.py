"""What every config section shares: unknown keys are rejected, values are frozen; the defaults of the method."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: Dimension of the soft prompt searched by BO. The paper uses 10: small enough
#: for a GP with a few hundred observations, large enough to reach varied prompts.
DEFAULT_INTRINSIC_DIM = 10
#: Soft tokens prepended to the exemplars (paper default).
DEFAULT_N_SOFT_TOKENS = 5
#: Exemplars shown to the white-box model (κ in the paper).
DEFAULT_N_EXEMPLARS = 5
#: Size of the fixed validation subset. Every instruction is scored on the same
#: examples in the same order, which the instruction-coupled kernel relies on.
DEFAULT_N_VALIDATION = 20
#: Upper bound on test examples, as in the reference evaluation.
DEFAULT_MAX_TEST = 100


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
