"""The regularised deterministic AE (RAE-L2): its terms by hand, its rules, and the CLI with the
ex-post mixture sampler."""

import pytest
import torch

from vaekit.errors import SettingError
from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, Batch
from vaekit.settings import TrainConfig


def test_the_terms_match_their_definitions():
    torch.manual_seed(0)
    net = build_model(model="ae", image_shape=(1, 8, 8), latent_dim=3, hidden=[16])
    x = torch.rand(8, 1, 8, 8)
    s = TrainConfig(model="ae", objective="rae", beta=2.0, decoder_l2=0.01)
    terms = OBJECTIVES["rae"].fn(net, Batch(x, x), s)
    z = net.encode(x).mode()
    torch.testing.assert_close(terms["code"], 0.5 * z.pow(2).sum(1).mean())
    weights = sum(p.pow(2).sum() for p in net.decoder.parameters() if p.dim() > 1)
    torch.testing.assert_close(terms["decoder_l2"], weights)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 2.0 * terms["code"] + 0.01 * weights)
    with torch.no_grad():
        for p in net.decoder.parameters():
            p.zero_()
    assert float(OBJECTIVES["rae"].fn(net, Batch(x, x), s)["decoder_l2"]) == 0.0


def test_rae_is_for_deterministic_models():
    with pytest.raises(SettingError, match="model"):
        TrainConfig(model="vae", objective="rae")
    with pytest.raises(SettingError, match="k"):
        TrainConfig(model="ae", objective="rae", k=3)


def test_train_then_sample_from_the_codes_mixture(tiny_data, tmp_path):
    from conftest import run_here
    from PIL import Image

    run = tmp_path / "rae"
    run_here("train", "--data", str(tiny_data), "--model", "ae", "--objective", "rae", "--image-size", "8",
             "--image-channels", "1", "--latent-dim", "3", "--hidden", "16", "--epochs", "2", "--batch-size", "16",
             "--precision", "32", "--no-progress", "--out", str(run))
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "train_code" in header and "train_decoder_l2" in header
    png = run_here("sample", str(run), "-n", "8", "--sampler", "gmm", "--components", "2").stdout.strip()
    assert Image.open(png).size[0] > 8
