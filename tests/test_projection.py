import math

import pytest
import torch

from instructzero.projection import sample_projection


def test_shapes_and_linearity():
    proj = sample_projection(d=10, n_tokens=5, hidden=16, seed=0)
    p = torch.rand(3, 10) * 2 - 1
    e = proj.project(p)
    assert e.shape == (3, 5, 16) and proj.matrix.shape == (80, 10)
    torch.testing.assert_close(proj.project(2 * p), 2 * e)
    torch.testing.assert_close(e[1].reshape(-1), proj.matrix @ p[1])


def test_same_seed_same_matrix():
    a = sample_projection(4, 2, 8, seed=1)
    assert torch.equal(a.matrix, sample_projection(4, 2, 8, seed=1).matrix)
    assert not torch.equal(a.matrix, sample_projection(4, 2, 8, seed=2).matrix)


def test_uniform_and_normal_scales():
    uniform = sample_projection(10, 5, 200, seed=0, distribution="uniform")
    assert uniform.matrix.abs().max() <= 1 and uniform.matrix.std() == pytest.approx(1 / math.sqrt(3), rel=0.05)
    normal = sample_projection(10, 5, 200, seed=0, distribution="normal", embedding_std=0.1)
    assert normal.matrix.std() == pytest.approx(0.1 / math.sqrt(10), rel=0.05)
    with pytest.raises(ValueError, match="std of the model's token embeddings"):
        sample_projection(10, 5, 200, seed=0, distribution="normal")
