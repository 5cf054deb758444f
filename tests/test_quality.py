"""The tutorials' MNIST protocol reaches the tutorials' test loss (real data, about 20 s)."""

import json

from conftest import run_cli


def test_tutorial_protocol_reaches_tutorial_quality(tmp_path):
    # batch 128, Adam 1e-3 constant, BCE-sum + KL, 784-400-20, 10 epochs, float32. The
    # pytorch/examples loop measures 105.61 +- 0.14 here (benchmarks/RESULTS.md, seeds 0-2);
    # the bound leaves room for seed noise, not for a regression.
    run = tmp_path / "tutorial"
    run_cli("train", "--data", "mnist", "--model", "vae", "--backbone", "mlp", "--latent-dim", "20",
            "--epochs", "10", "--batch-size", "128", "--lr", "1e-3", "--loss", "bce",
            "--lr-schedule", "constant", "--precision", "32-true", "--out", str(run),
            "--no-progress")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_loss"] <= 106.0, summary
    assert 20 < summary["test_kl"] < 30  # a VAE that uses its latent code, not a collapsed one
