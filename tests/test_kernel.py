import numpy as np
import torch

from instructzero.search.kernel import COUPLED_KERNEL_JITTER, InstructionCoupledKernel, coupled_kernel


def matern52(a: np.ndarray, b: np.ndarray, lengthscale: np.ndarray) -> np.ndarray:
    r = np.sqrt((((a[:, None, :] - b[None, :, :]) / lengthscale) ** 2).sum(-1))
    return (1 + np.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-np.sqrt(5) * r)


def make_kernel(seed=0, n=7, d=3, m=4):
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, d, generator=g, dtype=torch.float64)
    s = torch.rand(n, m, generator=g, dtype=torch.float64).round()  # 0/1 per-example scores
    kernel = coupled_kernel(z, s).to(torch.float64)
    kernel.outputscale = 1.7
    kernel.base_kernel.latent_kernel.lengthscale = torch.tensor([[0.3, 0.5, 0.9]], dtype=torch.float64)
    kernel.base_kernel.score_kernel.lengthscale = torch.full((1, m), 1.3, dtype=torch.float64)
    return kernel, z.numpy(), s.numpy()


def test_matches_direct_numpy_formula():
    kernel, z, s = make_kernel()
    x = torch.rand(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.rand(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    inner = kernel.base_kernel
    ls_l = inner.latent_kernel.lengthscale.detach().numpy()[0]
    ls_s = inner.score_kernel.lengthscale.detach().numpy()[0]
    k_l_inv = np.linalg.inv(matern52(z, z, ls_l) + COUPLED_KERNEL_JITTER * np.eye(len(z)))
    expected = 1.7 * matern52(x.numpy(), z, ls_l) @ k_l_inv @ matern52(s, s, ls_s) @ k_l_inv @ matern52(z, y.numpy(), ls_l)
    actual = kernel(x, y).to_dense().detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-9)


def test_symmetric_psd_and_diag_consistent():
    kernel, _, _ = make_kernel(seed=3, n=12)
    x = torch.rand(30, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    k = kernel(x, x).to_dense().detach()
    np.testing.assert_allclose(k, k.T, atol=1e-10)
    assert torch.linalg.eigvalsh(k).min() > -1e-8
    np.testing.assert_allclose(kernel(x, x, diag=True).detach(), torch.diagonal(k), rtol=1e-8)


def test_at_training_points_it_reproduces_the_score_kernel():
    kernel, z, s = make_kernel()
    k_train = kernel(torch.as_tensor(z), torch.as_tensor(z)).to_dense().detach().numpy()
    ls_s = kernel.base_kernel.score_kernel.lengthscale.detach().numpy()[0]
    np.testing.assert_allclose(k_train, 1.7 * matern52(s, s, ls_s), atol=1e-2)


def test_batched_inputs_match_unbatched():
    kernel, _, _ = make_kernel()
    x = torch.rand(2, 3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    batched = kernel(x, x).to_dense().detach()
    for b in range(2):
        torch.testing.assert_close(batched[b], kernel(x[b], x[b]).to_dense().detach())


def test_instructions_that_behave_alike_correlate_even_when_far_apart():
    # Two soft prompts far apart whose instructions score identically are
    # strongly correlated under the coupled kernel; under k_L they are not.
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, 0.0]], dtype=torch.float64)
    s = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    inner = InstructionCoupledKernel(z, s).to(torch.float64)
    inner.latent_kernel.lengthscale = 0.2
    k = inner(z, z).to_dense().detach()
    assert k[0, 1] > 0.9 and inner.latent_kernel(z[:1], z[1:2]).to_dense().item() < 0.01
