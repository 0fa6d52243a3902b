r"""The instruction-coupled kernel of InstructZero.

Soft prompts that look far apart can yield the same instruction, and near ones
can yield instructions that behave differently. The kernel therefore compares
soft prompts through how their instructions *behave*: with ``Z`` the `N x d`
evaluated soft prompts, ``s_i`` the per-example score vector of the instruction
``Z_i`` produced, ``k_L`` a Matérn-5/2 ARD kernel on soft prompts and ``k_S`` one
on score vectors (Chen et al., 2024, Eq. 8):

.. math::

    k(p, p') = k_L(p, Z) \, (K_L + \epsilon I)^{-1} K_S \, (K_L + \epsilon I)^{-1} k_L(Z, p'),
    \qquad K_L = k_L(Z, Z), \; K_S = k_S(S, S).

Solves use the Cholesky factor of ``K_L + εI``, never an explicit inverse. The
outputscale σ² comes from wrapping the kernel in a ``ScaleKernel``.

References:
    Chen, L., Chen, J., Goldstein, T., Huang, H., Zhou, T. InstructZero: Efficient
    Instruction Optimization for Black-Box Large Language Models. ICML 2024.
"""

from __future__ import annotations

import torch
from botorch.exceptions.errors import BotorchTensorDimensionError
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import Kernel, ScaleKernel
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

#: Jitter ε added to K_L before its Cholesky factorization. 1e-4 is the
#: reference value: large enough to factor K_L when Sobol/BO points nearly
#: coincide, small enough that K(Z, Z) stays ≈ K_S at the training points.
COUPLED_KERNEL_JITTER = 1e-4


class InstructionCoupledKernel(Kernel):
    r"""``k(p, p') = k_L(p, Z) (K_L + εI)^{-1} K_S (K_L + εI)^{-1} k_L(Z, p')``.

    Example:
        >>> kernel = ScaleKernel(InstructionCoupledKernel(Z, S))
        >>> gp = SingleTaskGP(Z, y, covar_module=kernel)
        >>> fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    """

    has_lengthscale = False

    def __init__(
        self,
        latent_train: Tensor,
        score_train: Tensor,
        latent_kernel: Kernel | None = None,
        score_kernel: Kernel | None = None,
        jitter: float = COUPLED_KERNEL_JITTER,
        **kwargs,
    ) -> None:
        """
        Args:
            latent_train: `N x d`-dim Tensor of evaluated soft prompts ``Z``.
            score_train: `N x m`-dim Tensor of their instructions' per-example scores ``S``.
            latent_kernel: ``k_L``; a Matérn-5/2 ARD kernel with BoTorch's dimension-scaled prior by default.
            score_kernel: ``k_S``; the same over the `m` score coordinates by default.
            jitter: ε added to ``K_L`` before factorization.
        """
        super().__init__(**kwargs)
        if latent_train.shape[0] != score_train.shape[0]:
            raise BotorchTensorDimensionError(
                f"one score vector per soft prompt: latent_train is {tuple(latent_train.shape)}, "
                f"score_train is {tuple(score_train.shape)}"
            )
        self.latent_kernel = latent_kernel or get_covar_module_with_dim_scaled_prior(
            latent_train.shape[-1], use_rbf_kernel=False
        )
        self.score_kernel = score_kernel or get_covar_module_with_dim_scaled_prior(
            score_train.shape[-1], use_rbf_kernel=False
        )
        self.jitter = jitter
        self.register_buffer("latent_train", latent_train)
        self.register_buffer("score_train", score_train)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params) -> Tensor:
        """Covariance of `... x n1 x d` and `... x n2 x d` soft prompts: `... x n1 x n2` (or `... x n1` if diag)."""
        z, s = self.latent_train, self.score_train
        k_latent = self.latent_kernel(z, z).to_dense()
        eye = torch.eye(z.shape[0], dtype=z.dtype, device=z.device)
        chol = psd_safe_cholesky(k_latent + self.jitter * eye)
        k_scores = self.score_kernel(s, s).to_dense()
        w1 = self._weights(x1, chol)
        w2 = w1 if x2 is x1 or torch.equal(x1, x2) else self._weights(x2, chol)
        left = w1.mT @ k_scores  # ... x n1 x N
        if diag:
            return (left * w2.mT).sum(dim=-1)
        return left @ w2

    def _weights(self, x: Tensor, chol: Tensor) -> Tensor:
        """``(K_L + εI)^{-1} k_L(Z, x)`` as a `... x N x n`-dim Tensor."""
        z = self.latent_train.expand(*x.shape[:-2], *self.latent_train.shape)
        cross = self.latent_kernel(z, x).to_dense()  # ... x N x n
        return torch.cholesky_solve(cross, chol)


def coupled_kernel(latent_train: Tensor, score_train: Tensor) -> ScaleKernel:
    """σ² times the instruction-coupled kernel, ready for ``SingleTaskGP``."""
    return ScaleKernel(InstructionCoupledKernel(latent_train, score_train))


def matern_kernel(d: int) -> ScaleKernel:
    """The ablation: σ² times a plain Matérn-5/2 ARD kernel on soft prompts."""
    return ScaleKernel(get_covar_module_with_dim_scaled_prior(d, use_rbf_kernel=False))
