"""Bayesian optimization over soft prompts: initial designs, GP fitting, q-batch proposals.

Soft prompts live in ``[-1, 1]^d``; the GP works on the unit cube
``u = (p + 1) / 2`` (BoTorch's convention) with standardized targets in float64.
Proposals maximize q-batch log expected improvement (Ament et al., 2023) with
``optimize_acqf``, the modern equivalent of the reference's CMA-ES step.

References:
    Ament, S., Daulton, S., Eriksson, D., Balandat, M., Bakshy, E. Unexpected
    Improvements to Expected Improvement for Bayesian Optimization. NeurIPS 2023.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.exceptions.errors import UnsupportedError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor
from torch.quasirandom import SobolEngine

from instructzero.search.kernel import coupled_kernel, matern_kernel

#: Proposals closer than this (L∞, unit cube) to an evaluated point or to each
#: other are replaced: they would regenerate an instruction already scored.
DUPLICATE_TOLERANCE = 1e-6

_DTYPE = torch.float64


def sobol_design(n: int, d: int, seed: int) -> np.ndarray:
    """`n x d` scrambled Sobol points scaled to ``[-1, 1]^d``."""
    engine = SobolEngine(dimension=d, scramble=True, seed=seed)
    return (engine.draw(n, dtype=_DTYPE) * 2 - 1).numpy()


def uniform_design(n: int, d: int, seed: int) -> np.ndarray:
    """`n x d` i.i.d. uniform points in ``[-1, 1]^d`` (the random-search baseline)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=generator, dtype=_DTYPE) * 2 - 1).numpy()


def binomial_variance(scores: np.ndarray) -> np.ndarray:
    """`n` observation variances of the mean scores of `scores` (`n x m`, per-example scores in [0, 1]).

    A mean of `m` examples is a binomial proportion (for graded metrics, treated as one): with the
    add-one-half estimate p = (k + 0.5) / (m + 1), which keeps 0/m and m/m away from zero variance,
    Var = p (1 - p) / m.
    """
    scores = np.asarray(scores, dtype=np.float64)
    m = scores.shape[-1]
    p = (scores.sum(axis=-1) + 0.5) / (m + 1)
    return p * (1 - p) / m


def fit_gp(
    soft_prompts: np.ndarray, targets: np.ndarray, scores: np.ndarray | None, kernel: str, noise: str = "learned"
) -> SingleTaskGP:
    """Fit a ``SingleTaskGP`` by maximum marginal likelihood.

    Args:
        soft_prompts: `n x d` evaluated soft prompts in ``[-1, 1]^d``.
        targets: `n` validation scores H(p).
        scores: `n x m` per-example scores (the coupled kernel and the binomial noise need them).
        kernel: ``coupled`` (instruction-coupled) or ``matern`` (ablation).
        noise: ``learned`` (homoscedastic, fitted) or ``binomial`` (fixed per observation: :func:`binomial_variance`).
    """
    train_x = _to_unit(soft_prompts)
    train_y = torch.as_tensor(targets, dtype=_DTYPE).reshape(-1, 1)
    if kernel == "coupled":
        if scores is None:
            raise UnsupportedError("the coupled kernel needs per-example scores (`n x m`), got None")
        covar = coupled_kernel(train_x, torch.as_tensor(scores, dtype=_DTYPE))
    else:
        covar = matern_kernel(train_x.shape[-1])
    train_yvar = None
    if noise == "binomial":
        if scores is None:
            raise UnsupportedError("binomial noise needs per-example scores (`n x m`), got None")
        train_yvar = torch.as_tensor(binomial_variance(scores), dtype=_DTYPE).reshape(-1, 1)
    model = SingleTaskGP(train_x, train_y, train_Yvar=train_yvar, covar_module=covar,
                         outcome_transform=Standardize(m=1))  # fmt: skip
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        fit_gpytorch_mll(mll)
    return model


def maximize_acquisition(
    model: SingleTaskGP,
    evaluated: np.ndarray,
    best_f: float,
    *,
    q: int,
    seed: int,
    num_restarts: int = 8,
    raw_samples: int = 256,
    sequential: bool = False,
    noisy: bool = False,
) -> np.ndarray:
    """`q x d` new soft prompts maximizing qLogEI (with `noisy`: qLogNEI, which integrates over the noisy
    incumbent instead of trusting `best_f`), none duplicating `evaluated` (`n x d`)."""
    d = evaluated.shape[-1]
    bounds = torch.stack([torch.zeros(d, dtype=_DTYPE), torch.ones(d, dtype=_DTYPE)])
    if noisy:
        acquisition = qLogNoisyExpectedImprovement(model, X_baseline=_to_unit(evaluated), prune_baseline=True)
    else:
        acquisition = qLogExpectedImprovement(model, best_f=best_f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        candidates, _ = optimize_acqf(
            acquisition, bounds=bounds, q=q, num_restarts=num_restarts, raw_samples=raw_samples, sequential=sequential
        )
    return _deduplicate(_from_unit(candidates.detach()), evaluated, seed)


def next_soft_prompts(
    soft_prompts: np.ndarray,
    scores: np.ndarray,
    *,
    q: int,
    seed: int,
    strategy: str = "bo",
    kernel: str = "coupled",
    noise: str = "learned",
    num_restarts: int = 8,
    raw_samples: int = 256,
    sequential: bool = False,
) -> np.ndarray:
    """One BO round: fit on all `n` observations, propose `q` soft prompts.

    Args:
        soft_prompts: `n x d` evaluated soft prompts.
        scores: `n x m` per-example scores; their row means are the targets.
        seed: Seed of this round; fitting and acquisition optimization are deterministic given it.
        strategy: ``bo``; ``uniform`` (the random-search baseline) and ``ape`` (whose rows only
            seed its candidates) draw i.i.d. uniform points without a model.
        noise: ``learned`` or ``binomial`` (see :func:`fit_gp`).
        sequential: greedy sequential q-batch optimization instead of a joint one.
    """
    d = soft_prompts.shape[-1]
    if strategy != "bo":
        return uniform_design(q, d, seed)
    targets = scores.mean(axis=1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = fit_gp(soft_prompts, targets, scores, kernel, noise)
        return maximize_acquisition(model, soft_prompts, float(targets.max()), q=q, seed=seed, num_restarts=num_restarts,
                                    raw_samples=raw_samples, sequential=sequential, noisy=noise == "binomial")  # fmt: skip


def _to_unit(points: np.ndarray) -> Tensor:
    return (torch.as_tensor(points, dtype=_DTYPE) + 1) / 2


def _from_unit(points: Tensor) -> np.ndarray:
    return (points.to(_DTYPE) * 2 - 1).clamp(-1, 1).numpy()


def _deduplicate(candidates: np.ndarray, evaluated: np.ndarray, seed: int) -> np.ndarray:
    """Replace candidates that repeat a point (evaluated or earlier in the batch) with Sobol points."""
    kept: list[np.ndarray] = []
    fillers = iter(sobol_design(4 * len(candidates) + 4, candidates.shape[-1], seed))
    seen = [row for row in evaluated]
    for row in candidates:
        while any(np.max(np.abs(row - other)) / 2 < DUPLICATE_TOLERANCE for other in seen):
            row = next(fillers)
        kept.append(row)
        seen.append(row)
    return np.stack(kept)
