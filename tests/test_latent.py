"""The latent-space walks on a tiny model: shapes, endpoints, which dimension moves."""

import pytest
import torch

from vaekit.errors import VaekitError
from vaekit.models import build_model
from vaekit.tasks.latent import interpolate, manifold, pick_pairs, traverse


@pytest.fixture
def model2():
    torch.manual_seed(0)
    return build_model(model="vae", image_shape=(1, 6, 5), latent_dim=2, hidden=[8]).eval()


def test_manifold_grid_is_ordered_like_a_scatter(model2):
    grid = manifold(model2, n=3, span=2.0)
    assert grid.shape == (9, 1, 6, 5)
    expected_top_left = model2.decode(torch.tensor([[-2.0, 2.0]]))
    assert torch.allclose(grid[0], expected_top_left[0], atol=1e-6)
    expected_bottom_right = model2.decode(torch.tensor([[2.0, -2.0]]))
    assert torch.allclose(grid[-1], expected_bottom_right[0], atol=1e-6)


def test_manifold_needs_two_dimensions():
    model = build_model(latent_dim=3, image_shape=(1, 4, 4), hidden=[4])
    with pytest.raises(VaekitError, match="2-D latent space"):
        manifold(model)


def test_interpolation_ends_are_the_reconstructions(model2):
    a, b = torch.rand(1, 6, 5), torch.rand(1, 6, 5)
    strip = interpolate(model2, a, b, steps=5)
    assert strip.shape == (5, 1, 6, 5)
    assert torch.allclose(strip[0], model2.reconstruct(a[None])[0], atol=1e-6)
    assert torch.allclose(strip[-1], model2.reconstruct(b[None])[0], atol=1e-6)


def test_traversal_moves_one_dimension_per_row():
    model = build_model(latent_dim=3, image_shape=(1, 4, 4), hidden=[4]).eval()
    seen = []
    model.decode = lambda z: seen.append(z.clone()) or torch.zeros(len(z), 1, 4, 4)
    out = traverse(model, None, dims=[0, 2], span=1.0, steps=3)
    assert out.shape == (6, 1, 4, 4)
    z = seen[0]
    assert torch.equal(z[:3, 0], torch.tensor([-1.0, 0.0, 1.0])) and (z[:3, 1:] == 0).all()
    assert torch.equal(z[3:, 2], torch.tensor([-1.0, 0.0, 1.0])) and (z[3:, :2] == 0).all()


def test_pairs_start_with_a_one_and_a_seven():
    labels = torch.tensor([3, 7, 1, 7, 2, 1])
    pairs = pick_pairs(6, labels, [str(d) for d in range(10)], 3, torch.Generator().manual_seed(0))
    assert pairs[0] == (2, 1) and len(pairs) == 3
    assert all(labels[a] != labels[b] for a, b in pairs)
    unlabelled = pick_pairs(6, None, None, 2, torch.Generator().manual_seed(0))
    assert len(unlabelled) == 2
