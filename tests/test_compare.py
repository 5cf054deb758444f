"""The AE-vs-VAE study end to end: a tiny folder run through every figure, and the real MNIST
check that the VAE generates and keeps its codes near the prior while the AE does not."""

import html
import json

import pytest
from conftest import make_image_folder, run_here, run_main
from PIL import Image


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """An AE and a VAE with a 3-D latent on a labelled folder, trained by `vaekit compare`."""
    root = tmp_path_factory.mktemp("cmp")
    data_home = root / "vaekit-data"
    photos = make_image_folder(root / "photos", classes=3, per_class=30, mode="L")
    out = root / "study"
    proc = run_here("compare", "--data", str(photos), "--image-size", "12", "--latent-dim", "3",
                   "--hidden", "32", "--epochs", "3", "--out", str(out), "--no-progress",
                   env={"VAEKIT_DATA": str(data_home)})
    return out, data_home, proc


def test_compare_writes_report_json_and_figures(tiny_runs):
    out, _, proc = tiny_runs
    assert f"report: {out / 'report.html'}" in proc.stdout
    result = json.loads((out / "compare.json").read_text())
    assert set(result["models"]) == {"AE", "VAE"}
    for kind in ("ae", "vae"):  # --hidden reaches both models
        assert json.loads((out / kind / "config.json").read_text())["model"]["hidden"] == [32]
    assert result["classifier"]["classes"] == 3
    for entry in result["models"].values():
        for key in ("frechet_prior", "frechet_recon", "confidence_prior", "latent"):
            assert key in entry
        assert len(entry["class_shares_prior"]) == 3 and sum(entry["class_shares_prior"]) == pytest.approx(1)
        assert 1 <= entry["effective_classes_prior"] <= 3
        assert entry["sampler"] == "prior" and entry["frechet_own"] == entry["frechet_prior"]
        for fig in ("recon", "prior", "traverse", "interpolate"):
            assert (out / entry["figures"][fig]).is_file()
    assert result["models"]["AE"]["latent"].get("kl_per_dim") is None
    assert len(result["models"]["VAE"]["latent"]["kl_per_dim"]) == 3
    for fig in ("pca", "tsne", "kl_per_dim", "class_shares"):
        assert (out / result["figures"][fig]).is_file()
    page = (out / "report.html").read_text()
    for heading in ("Numbers", "Reconstructions", "Random points", "The latent space",
                    "Latent statistics", "Interpolation", "Traversal"):
        assert f"<h2>{heading}" in page
    assert page.count("data:image/png;base64,") >= 12
    assert html.escape(result["verdict"]) in page


def test_compare_two_existing_runs_and_single_run_commands(tiny_runs, tmp_path):
    out, data_home, _ = tiny_runs
    env = {"VAEKIT_DATA": str(data_home)}
    again = tmp_path / "again"
    run_here("compare", str(out / "ae"), str(out / "vae"), "--out", str(again), env=env)
    assert (again / "report.html").is_file()
    vae = out / "vae"
    for args in (["latent", str(vae)], ["traverse", str(vae), "--steps", "5"],
                 ["interpolate", str(vae), "--a", "0", "--b", "2", "--steps", "6"]):
        png = run_here(*args, env=env).stdout.strip()
        assert Image.open(png).size[0] > 0
    for args, words in ((["manifold", str(vae)], "2-D latent space"),
                        (["interpolate", str(vae), "--a", "999"], "past the end of the test split"),
                        (["compare", str(vae)], "exactly two run folders"),
                        (["compare", "--hidden", "512x2", "--out", str(tmp_path / "bad")],
                         "--hidden: expected comma-separated integers")):
        code, _, err = run_main(*args, env=env)
        assert code == 2 and words in err, (args, err)
    assert not (tmp_path / "bad").exists()  # refused before anything was trained or written


def _mnist_compare(tmp_path, epochs: int):
    out = tmp_path / "mnist"
    run_here("compare", "--data", "mnist", "--latent-dim", "2", "--epochs", str(epochs), "--out", str(out),
            "--no-progress")
    return out, json.loads((out / "compare.json").read_text())


@pytest.mark.learned
def test_mnist_2d_vae_generates_and_stays_near_the_prior_in_6_epochs(mnist_pair):
    # The founding documents' lesson, which the README promises, on compare's default MLP
    # (512-512) with a 2-D latent, same seed, 6 epochs each (25 s). Margins beside each threshold:
    # the range over seeds 0-4 x {bf16 autocast, float32} on Intel Xeon with AMX
    # (benchmarks/margins.py; 10 pairs). Whether the VAE's samples cover more classes than the
    # AE's is not asserted at this budget: 10 of 10 held, but by as little as 8.5 vs 8.4.
    # The longer run that re-measures the demo's gap is test_mnist_2d_gap_after_30_epochs
    # (make test-figures).
    out, result = mnist_pair
    ae, vae = result["models"]["AE"], result["models"]["VAE"]
    assert result["classifier"]["test_accuracy"] > 0.97  # 0.984 at every seed (the classifier's own seed)
    assert vae["frechet_prior"] < 0.9 * ae["frechet_prior"]  # ratio 0.55-0.77
    assert vae["effective_classes_prior"] >= 8.0  # 8.3-9.0 of 10 (the AE's: 6.7-8.4)
    assert vae["latent"]["within_3sigma"] >= 0.93 and ae["latent"]["within_3sigma"] < 0.8  # 0.955-0.975; 0.598-0.682
    assert ae["latent"]["max_abs"] > 2 * vae["latent"]["max_abs"]  # 5.1x-10.2x
    png = run_here("manifold", str(out / "vae")).stdout.strip()
    assert Image.open(png).size == (20 * 28 * 2, 20 * 28 * 2)  # 28 px tiles shown at 2x


@pytest.mark.figures
def test_mnist_2d_gap_after_30_epochs(tmp_path):
    # 30 epochs each (`make demo` trains 80). Measured: prior-sample Fréchet distance VAE 160 vs
    # AE 405 (seeds 1, 2: 2.45x, 2.37x), 98% vs 56% of test codes within 3 sigma; the classifier
    # sees an effective 9.3 of 10 classes in the VAE's samples and 6.6 in the AE's.
    _, result = _mnist_compare(tmp_path, epochs=30)
    ae, vae = result["models"]["AE"], result["models"]["VAE"]
    assert vae["frechet_prior"] < 0.5 * ae["frechet_prior"]
    assert vae["effective_classes_prior"] > ae["effective_classes_prior"] + 2
    assert vae["latent"]["within_3sigma"] >= 0.95
    assert ae["latent"]["within_3sigma"] < 0.8 and ae["latent"]["max_abs"] > 3 * vae["latent"]["max_abs"]


def test_orl_faces_comparison_with_conv_and_64_latent_dims(tmp_path):
    # the seeds' second setting: subject ids colour the PCA and t-SNE panels, no manifold above 2-D
    out = tmp_path / "faces"
    run_here("compare", "--data", "orl-faces", "--backbone", "conv", "--image-size", "64",
            "--latent-dim", "64", "--epochs", "4", "--out", str(out), "--no-progress")
    result = json.loads((out / "compare.json").read_text())
    assert result["latent_dim"] == 64 and result["classifier"]["classes"] == 40
    assert {"pca", "tsne", "kl_per_dim"} <= set(result["figures"])
    for entry in result["models"].values():
        assert "manifold" not in entry["figures"]
        assert len(entry["traversed_dims"]) == 10
    assert "held-out" in result["test_protocol"]


def test_the_verdict_names_a_runs_own_sampler_when_it_is_not_the_prior():
    from vaekit.tasks.compare import verdict

    def entry(prior, own, sampler):
        return {"frechet_prior": prior, "frechet_recon": 50.0, "confidence_prior": 0.8,
                "class_shares_prior": [0.5, 0.5], "effective_classes_prior": 2.0, "sampler": sampler,
                "frechet_own": own, "latent": {"within_3sigma": 0.9, "max_abs": 3.0}}

    result = {"class_names": ["a", "b"], "models": {"VAE (mse)": entry(900.0, 900.0, "prior"),
                                                    "VAE (sharp)": entry(3000.0, 263.0, "gmm")}}
    text = verdict(result)
    assert "VAE (sharp) samples from its objective's own sampler (gmm" in text and "263.0" in text
    result["models"]["VAE (sharp)"] = entry(3000.0, 3000.0, "prior")
    assert "own sampler" not in verdict(result)
