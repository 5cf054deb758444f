"""The extension recipes of docs/design.md work as written: each section's Python blocks run in one
namespace, the entry they register is used once, and the registries are put back afterwards."""

import re
from pathlib import Path

import pytest
import torch

from vaekit.models import build_model
from vaekit.objectives import Batch
from vaekit.registry import BACKBONES, MODELS, OBJECTIVES, PRIORS, SAMPLERS
from vaekit.run import Run
from vaekit.run.checkpoint import save
from vaekit.settings import TrainConfig

DESIGN = Path(__file__).parents[1] / "docs" / "design.md"
SMALL = {"image_shape": (1, 8, 8), "latent_dim": 2, "hidden": [8]}


def recipe(heading: str) -> dict:
    """Run the Python blocks under ``### heading`` in one namespace and return it."""
    text = DESIGN.read_text()
    section = text.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"no Python block under {heading!r}"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, f"design.md: {heading}", "exec"), namespace)  # noqa: S102 -- our own docs
    return namespace


@pytest.fixture(autouse=True)
def registries_put_back():
    saved = [(r, dict(r)) for r in (BACKBONES, MODELS, OBJECTIVES, PRIORS, SAMPLERS)]
    yield
    for registry, entries in saved:
        registry._entries.clear()
        registry._entries.update(entries)


def test_the_objective_recipes():
    recipe("Adding an objective")
    model = build_model(**SMALL)
    x = torch.rand(4, 1, 8, 8)
    for name, settings in (("free-bits", {}), ("scaled", {"recon_scale": 3.0})):
        cfg = TrainConfig(objective=name, **settings)
        terms = OBJECTIVES[name].fn(model, Batch(x, x), cfg)
        assert terms["loss"].requires_grad and {"recon", "kl"} <= set(terms)
    with pytest.raises(Exception, match="recon-scale is a setting of the scaled objective"):
        TrainConfig(objective="elbo", recon_scale=3.0)


def test_the_prior_recipe():
    recipe("Adding a prior")
    model = build_model(prior="logistic", **SMALL)
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 8, 8)
    assert torch.isfinite(model.prior.log_prob(torch.zeros(3, 2))).all()


def test_the_backbone_recipes():
    recipe("Adding a backbone")
    x = torch.rand(4, 1, 8, 8)
    for backbone, knobs in (("linear", {}), ("wide", {"width_factor": 3})):
        model = build_model(backbone=backbone, **SMALL, **knobs)
        assert model(x)[0].shape == (1, 4, 1, 8, 8)
    assert model.encoder.net[1].out_features == 24  # 8 units, three times as wide


def test_the_model_kind_recipe():
    recipe("Adding a model kind")
    TrainConfig(model="cae")  # the settings accept it
    model = build_model(model="cae", num_classes=3, **SMALL)
    logits, q, _ = model(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]))
    assert logits.shape == (1, 4, 1, 8, 8) and not model.kind.variational and model.conditional


def test_the_sampler_recipe(tmp_path):
    recipe("Adding a sampler")
    save(build_model(**SMALL), tmp_path / "run")
    run = Run.open(tmp_path / "run")
    codes = run.codes(6, sampler="shrunk", seed=1)
    prior = run.model.prior.sample(6, torch.Generator().manual_seed(1))
    assert torch.allclose(codes, 0.8 * prior)
