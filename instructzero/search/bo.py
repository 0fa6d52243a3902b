"""Bayesian optimization over soft prompts: initial designs, GP fitting, q-batch proposals.

Soft prompts live in ``[-1, 1]^d``; the GP works on the unit cube
``u = (p + 1) / 2`` (BoTorch's convention) with standardized targets in float64.
Proposals maximize q-batch log expected improvement (Ament et al., 2023) with
``optimize_acqf``, the modern equivalent of the reference's CMA-ES step; or, with
``acquisition: thompson``, take the maxima of `q` joint posterior draws over a
finite candidate set (Thompson sampling; Kandasamy et al., 2018), which costs one
factorization instead of a `q x d`-dimensional gradient search.

References:
    Ament, S., Daulton, S., Eriksson, D., Balandat, M., Bakshy, E. Unexpected
    Improvements to Expected Improvement for Bayesian Optimization. NeurIPS 2023.
    Kandasamy, K., Krishnamurthy, A., Schneider, J., Poczos, B. Parallelised Bayesian
    Optimisation via Thompson Sampling. AISTATS 2018.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.exceptions.errors import UnsupportedError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.generation.sampling import MaxPosteriorSampling
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


def binomial_variance(scores: np.ndarray, means: np.ndarray | None = None, trials: np.ndarray | None = None) -> np.ndarray:
    """`n` observation variances of the mean scores of `scores` (`n x m`, per-example scores in [0, 1]).

    A mean of `m` examples is a binomial proportion (for graded metrics, treated as one): with the
    add-one-half estimate p = (k + 0.5) / (m + 1), which keeps 0/m and m/m away from zero variance,
    Var = p (1 - p) / m. With `means` and `trials` (`n` each: pooled evidence, `bo.repeats: pool`), k and m
    are the pooled counts.
    """
    scores = np.asarray(scores, dtype=np.float64)
    m = np.full(len(scores), scores.shape[-1], dtype=np.float64) if trials is None else np.asarray(trials, float)
    k = scores.sum(axis=-1) if means is None else np.asarray(means, dtype=np.float64) * m
    p = (k + 0.5) / (m + 1)
    return p * (1 - p) / m


def fit_gp(
    soft_prompts: np.ndarray,
    targets: np.ndarray,
    scores: np.ndarray | None,
    kernel: str,
    noise: str = "learned",
    trials: np.ndarray | None = None,
) -> SingleTaskGP:
    """Fit a ``SingleTaskGP`` by maximum marginal likelihood.

    Args:
        soft_prompts: `n x d` evaluated soft prompts in ``[-1, 1]^d``.
        targets: `n` validation scores H(p).
        scores: `n x m` per-example scores (the coupled kernel and the binomial noise need them).
        kernel: ``coupled`` (instruction-coupled) or ``matern`` (ablation).
        noise: ``learned`` (homoscedastic, fitted) or ``binomial`` (fixed per observation: :func:`binomial_variance`).
        trials: `n` examples behind each target (pooled evidence); `m` each by default.
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
        variance = binomial_variance(scores, targets, trials) if trials is not None else binomial_variance(scores)
        train_yvar = torch.as_tensor(variance, dtype=_DTYPE).reshape(-1, 1)
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


#: Thompson sampling's candidate set: this many Sobol points, and as many perturbations of the best observations.
THOMPSON_CANDIDATES = 512
#: Std of those perturbations in the unit cube, and how many of the best observations they surround.
THOMPSON_PERTURBATION = 0.05
THOMPSON_CENTERS = 8


def thompson_proposals(model: SingleTaskGP, evaluated: np.ndarray, *, q: int, seed: int) -> np.ndarray:
    """`q x d` soft prompts: the maxima of `q` joint posterior draws over a finite candidate set (without
    replacement), none duplicating `evaluated` (`n x d`).

    The candidates are `THOMPSON_CANDIDATES` Sobol points of the unit cube and as many Gaussian perturbations of the
    `THOMPSON_CENTERS` evaluated points with the highest posterior mean, so that draws can both explore and refine.
    """
    d = evaluated.shape[-1]
    generator = torch.Generator().manual_seed(seed)
    sobol = SobolEngine(d, scramble=True, seed=seed).draw(THOMPSON_CANDIDATES).to(_DTYPE)
    unit = _to_unit(evaluated)
    with torch.no_grad():
        means = model.posterior(unit).mean.reshape(-1)
    centers = unit[torch.argsort(means, descending=True)[:THOMPSON_CENTERS]]
    picks = torch.randint(len(centers), (THOMPSON_CANDIDATES,), generator=generator)
    noise = torch.randn(THOMPSON_CANDIDATES, d, generator=generator, dtype=_DTYPE) * THOMPSON_PERTURBATION
    candidates = torch.cat([sobol, (centers[picks] + noise).clamp(0, 1)])
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        chosen = MaxPosteriorSampling(model, replacement=False)(candidates, num_samples=q)
    return _deduplicate(_from_unit(chosen), evaluated, seed)


def next_soft_prompts(
    soft_prompts: np.ndarray,
    scores: np.ndarray,
    *,
    q: int,
    seed: int,
    strategy: str = "bo",
    kernel: str = "coupled",
    noise: str = "learned",
    acquisition: str = "ei",
    num_restarts: int = 8,
    raw_samples: int = 256,
    sequential: bool = False,
    targets: np.ndarray | None = None,
    trials: np.ndarray | None = None,
) -> np.ndarray:
    """One BO round: fit on all `n` observations, propose `q` soft prompts.

    Args:
        soft_prompts: `n x d` evaluated soft prompts.
        scores: `n x m` per-example scores; their row means are the targets.
        seed: Seed of this round; fitting and acquisition optimization are deterministic given it.
        strategy: ``bo``; ``uniform`` (the random-search baseline) and ``ape`` (whose rows only
            seed its candidates) draw i.i.d. uniform points without a model.
        noise: ``learned`` or ``binomial`` (see :func:`fit_gp`).
        acquisition: ``ei`` (q-batch log EI; log *noisy* EI with binomial noise) or ``thompson``
            (:func:`thompson_proposals`).
        sequential: greedy sequential q-batch optimization instead of a joint one.
        targets: `n` scores to fit (pooled evidence, `History.means`); the row means of `scores` by default.
        trials: `n` examples behind `targets` (`History.trials`), for the binomial noise.
    """
    d = soft_prompts.shape[-1]
    if strategy != "bo":
        return uniform_design(q, d, seed)
    with _seeded_gp(soft_prompts, scores, kernel=kernel, noise=noise, seed=seed, targets=targets,
                    trials=trials) as (model, targets):  # fmt: skip
        if acquisition == "thompson":
            return thompson_proposals(model, soft_prompts, q=q, seed=seed)
        return maximize_acquisition(model, soft_prompts, float(targets.max()), q=q, seed=seed, num_restarts=num_restarts,
                                    raw_samples=raw_samples, sequential=sequential, noisy=noise == "binomial")  # fmt: skip


def posterior_means(
    soft_prompts: np.ndarray,
    scores: np.ndarray,
    *,
    kernel: str,
    noise: str,
    seed: int,
    targets: np.ndarray | None = None,
    trials: np.ndarray | None = None,
) -> np.ndarray:
    """`n` GP posterior means at the evaluated soft prompts (`n x d`), in score units: the model's estimate of
    each observation's score, pooled with its neighbours' evidence instead of trusting one noisy mean.

    The GP is fitted as in a round (:func:`fit_gp` on the `n x m` per-example `scores`, `targets` and `trials`
    as in :func:`next_soft_prompts`), under `seed`.
    """
    with _seeded_gp(soft_prompts, scores, kernel=kernel, noise=noise, seed=seed, targets=targets,
                    trials=trials) as (model, _), torch.no_grad():  # fmt: skip
        mean = model.posterior(_to_unit(soft_prompts)).mean
    return mean.reshape(-1).numpy().astype(np.float64)


@contextlib.contextmanager
def _seeded_gp(
    soft_prompts: np.ndarray,
    scores: np.ndarray,
    *,
    kernel: str,
    noise: str,
    seed: int,
    targets: np.ndarray | None,
    trials: np.ndarray | None,
) -> Iterator[tuple[SingleTaskGP, np.ndarray]]:
    """The GP of a round, fitted under `seed` (targets: the row means of `scores` by default); the torch RNG stays
    seeded inside the block, so what is drawn from the model there is deterministic too."""
    targets = scores.mean(axis=1) if targets is None else np.asarray(targets, dtype=np.float64)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield fit_gp(soft_prompts, targets, scores, kernel, noise, trials), targets


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
