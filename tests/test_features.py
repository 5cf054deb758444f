"""Features, clustering, the GMM sampler, the conditional VAE and augmentation, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import make_image_folder, run_here

from vaekit import datasets
from vaekit.errors import VaekitError
from vaekit.run.samplers import gmm_codes
from vaekit.tasks.features import write_features


def test_write_features_formats(tmp_path):
    f = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 0, 1, 1])
    write_features(f, labels, tmp_path / "f.npy")
    assert np.allclose(np.load(tmp_path / "f.npy"), f.numpy())
    assert np.array_equal(np.load(tmp_path / "f_labels.npy"), labels.numpy())
    write_features(f, labels, tmp_path / "f.csv")
    rows = (tmp_path / "f.csv").read_text().splitlines()
    assert rows[0] == "z0,z1,z2,label" and len(rows) == 6 and rows[2].endswith(",1")
    with pytest.raises(VaekitError, match=r"\.npy, \.csv, \.parquet"):
        write_features(f, None, tmp_path / "f.txt")


def test_gmm_codes_follow_the_mixture():
    gmm = {"weights": [0.25, 0.75], "means": [[-4.0, 0.0], [4.0, 1.0]],
           "covariances": [[[1.0, 0.0], [0.0, 1.0]], [[0.25, 0.0], [0.0, 4.0]]]}
    z = gmm_codes(gmm, 40000, seed=0)
    right = z[:, 0] > 0
    assert float(right.float().mean()) == pytest.approx(0.75, abs=0.01)
    assert torch.allclose(z[right].mean(0), torch.tensor([4.0, 1.0]), atol=0.05)
    assert torch.allclose(z[right].var(0), torch.tensor([0.25, 4.0]), rtol=0.05)
    assert torch.equal(gmm_codes(gmm, 10, seed=3), gmm_codes(gmm, 10, seed=3))


def test_encode_cluster_and_gmm_sampling_on_a_folder_run(tmp_path, data_home):
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=20, size=(16, 16), mode="L")
    run = tmp_path / "run"
    run_here("train", "--data", str(folder), "--image-size", "16", "--latent-dim", "3", "--epochs", "3",
            "--test-fraction", "0.25", "--out", str(run), "--no-progress")
    out = run_here("encode", str(run), "-o", str(tmp_path / "f.csv"), "--split", "all").stdout
    assert "40 images x 3 features + label" in out
    proc = run_here("cluster", str(run), "--k", "2")
    result = json.loads((run / "cluster.json").read_text())
    for name in ("vae", "pca"):
        assert 0 <= result[name]["nmi"] <= 1 and 0 <= result[name]["probe_accuracy"] <= 1
    assert "NMI" in proc.stdout
    png = run_here("sample", str(run), "--sampler", "gmm", "--components", "2", "-n", "8").stdout.strip()
    assert png.endswith("sample.png") and (run / "gmm-2.json").is_file()
    bad = run_here("sample", str(run), "--class", "1", check=False)
    assert bad.returncode == 2 and "not a conditional model" in bad.stderr


def test_cvae_samples_a_chosen_class_and_augments_a_folder(tmp_path, data_home):
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=20, size=(16, 16), mode="L")
    run = tmp_path / "cvae"
    run_here("train", "--data", str(folder), "--image-size", "16", "--model", "cvae", "--latent-dim", "2",
            "--epochs", "30", "--out", str(run), "--no-progress")
    run_here("sample", str(run), "--class", "class_1", "-n", "4", "-o", str(tmp_path / "c1.png"))
    bad = run_here("sample", str(run), "--class", "dog", check=False)
    assert bad.returncode == 2 and "class_0, class_1" in bad.stderr
    run_here("augment", str(run), "--per-class", "6", "-o", str(tmp_path / "aug"))
    data = datasets.load(str(tmp_path / "aug"), image_size=16)
    assert data.class_names == ["class_0", "class_1"] and len(data.train) == 12
    # class 1 of the folder is brighter: its generated images must be too
    x, y = data.train.all_images().float(), data.train.all_labels()
    assert x[y == 1].mean() > x[y == 0].mean() + 40
    again = run_here("augment", str(run), "--per-class", "2", "-o", str(tmp_path / "aug"), check=False)
    assert again.returncode == 2 and "already holds generated images" in again.stderr
