"""The fixed random projection from soft prompts to soft-token embeddings.

InstructZero (Chen et al., 2024, Eq. 3) searches a low-dimensional soft prompt
``p ∈ [-1, 1]^d`` and lifts it with a fixed random matrix ``A``:

    E = reshape(A p, n_tokens, hidden)

``A`` is drawn once per run from a seed and stored, so any instruction of a run
can be regenerated from its soft prompt.

References:
    Chen, L., Chen, J., Goldstein, T., Huang, H., Zhou, T. InstructZero: Efficient
    Instruction Optimization for Black-Box Large Language Models. ICML 2024.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from instructzero.config.whitebox import ProjectionConfig
from instructzero.models.files import embedding_geometry
from instructzero.seeding import derive_seed

Distribution = Literal["normal", "uniform"]


@dataclass(frozen=True)
class SoftPromptProjection:
    """A fixed linear map ``p ↦ reshape(A p, n_tokens, hidden)``.

    Example:
        >>> proj = draw_projection(d=10, n_tokens=5, hidden=576, seed=0)
        >>> p = torch.rand(4, 10) * 2 - 1
        >>> proj.project(p).shape
        torch.Size([4, 5, 576])
    """

    #: `(n_tokens·hidden) x d`-dim Tensor.
    matrix: Tensor
    n_tokens: int
    hidden: int
    seed: int
    distribution: Distribution
    #: Entry scale: std for `normal`, half-width for `uniform`.
    scale: float

    @property
    def intrinsic_dim(self) -> int:
        return self.matrix.shape[-1]

    def project(self, soft_prompts: Tensor) -> Tensor:
        """Map an `n x d`-dim Tensor of soft prompts to `n x n_tokens x hidden` embeddings."""
        if soft_prompts.shape[-1] != self.intrinsic_dim:
            raise ValueError(f"soft prompts have dimension {soft_prompts.shape[-1]}, A expects {self.intrinsic_dim}")
        flat = soft_prompts.to(self.matrix.dtype) @ self.matrix.T
        return flat.reshape(*soft_prompts.shape[:-1], self.n_tokens, self.hidden)


def draw_projection(
    d: int,
    n_tokens: int,
    hidden: int,
    seed: int,
    distribution: Distribution = "uniform",
    embedding_std: float | None = None,
) -> SoftPromptProjection:
    """Draw ``A`` from a seed.

    Args:
        d: Intrinsic dimension of the soft prompt.
        n_tokens: Number of soft tokens.
        hidden: Embedding width of the white-box model.
        seed: Seed of the draw; the same seed gives the same matrix.
        distribution: ``uniform``: entries U(-1, 1), the reference implementation.
            ``normal``: entries N(0, σ²) with ``σ = embedding_std / sqrt(d)``, so that
            soft tokens have the scale of real token embeddings.
        embedding_std: Std of the white-box model's token embeddings (``normal`` only).
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (n_tokens * hidden, d)
    if distribution == "uniform":
        scale = 1.0
        matrix = torch.rand(shape, generator=generator) * 2 - 1
    elif distribution == "normal":
        if embedding_std is None or embedding_std <= 0:
            raise ValueError("the normal projection needs the positive std of the model's token embeddings")
        scale = embedding_std / math.sqrt(d)
        matrix = torch.randn(shape, generator=generator) * scale
    else:
        raise ValueError(f"unknown projection distribution '{distribution}' (use 'normal' or 'uniform')")
    return SoftPromptProjection(
        matrix=matrix, n_tokens=n_tokens, hidden=hidden, seed=seed, distribution=distribution, scale=scale
    )


def projection_for_model(
    model: str, gguf_file: str | None, n_tokens: int, projection: ProjectionConfig, seed: int
) -> SoftPromptProjection:
    """A for a run: its seed derives from the run `seed`, its width (and, for `normal`, its
    scale) from the white-box model's files, without loading the model."""
    hidden, embedding_std = embedding_geometry(model, gguf_file, with_std=projection.distribution == "normal")
    return draw_projection(
        d=projection.intrinsic_dim,
        n_tokens=n_tokens,
        hidden=hidden,
        seed=derive_seed(seed, "projection"),
        distribution=projection.distribution,
        embedding_std=embedding_std,
    )
