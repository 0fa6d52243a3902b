import math

import pytest
import torch

from instructzero.config import ProjectionConfig
from instructzero.search.projection import draw_projection, projection_for_model


def test_shapes_and_linearity():
    proj = draw_projection(d=10, n_tokens=5, hidden=16, seed=0)
    p = torch.rand(3, 10) * 2 - 1
    e = proj.project(p)
    assert e.shape == (3, 5, 16) and proj.matrix.shape == (80, 10)
    torch.testing.assert_close(proj.project(2 * p), 2 * e)
    torch.testing.assert_close(e[1].reshape(-1), proj.matrix @ p[1])


def test_same_seed_same_matrix():
    a = draw_projection(4, 2, 8, seed=1)
    assert torch.equal(a.matrix, draw_projection(4, 2, 8, seed=1).matrix)
    assert not torch.equal(a.matrix, draw_projection(4, 2, 8, seed=2).matrix)


def test_uniform_and_normal_scales():
    uniform = draw_projection(10, 5, 200, seed=0, distribution="uniform")
    assert uniform.matrix.abs().max() <= 1 and uniform.matrix.std() == pytest.approx(1 / math.sqrt(3), rel=0.05)
    normal = draw_projection(10, 5, 200, seed=0, distribution="normal", embedding_std=0.1)
    assert normal.matrix.std() == pytest.approx(0.1 / math.sqrt(10), rel=0.05)
    with pytest.raises(ValueError, match="std of the model's token embeddings"):
        draw_projection(10, 5, 200, seed=0, distribution="normal")


@pytest.mark.parametrize("model", ["tiny", "smollm2"])
def test_projection_reads_width_and_scale_from_files_as_the_loaded_model_has_them(model, tiny_lm_dir):
    from instructzero.models.files import embedding_geometry
    from instructzero.models.loading import load_causal_lm

    name = str(tiny_lm_dir) if model == "tiny" else model
    hidden, std = embedding_geometry(name, with_std=True)
    lm = load_causal_lm(name)
    assert hidden == lm.hidden_size and std == pytest.approx(lm.embedding_std(), rel=1e-5)
    assert embedding_geometry(name) == (hidden, None)
    if model == "smollm2":  # a fresh machine (a step pod) has no converted copy yet: read the GGUF itself
        from instructzero.models.files import _gguf_geometry, smollm2_location

        folder, gguf = smollm2_location()
        gguf_hidden, gguf_std = _gguf_geometry(folder / gguf, with_std=True)
        assert gguf_hidden == hidden and gguf_std == pytest.approx(std, rel=1e-5)
    normal = projection_for_model(name, None, 5, ProjectionConfig(distribution="normal"), seed=3)
    assert normal.hidden == hidden and normal.scale == pytest.approx(lm.embedding_std() / math.sqrt(10), rel=1e-5)
