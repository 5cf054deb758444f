"""Denoising end to end: train on corrupted inputs, measure, clean files; and on real MNIST."""

from __future__ import annotations

import json

import pytest
from conftest import make_image_folder, run_here
from PIL import Image


def test_denoise_train_evaluate_and_clean_files(tmp_path, data_home):
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=16, size=(20, 20), mode="L")
    run = tmp_path / "run"
    run_here("train", "--data", str(folder), "--image-size", "16", "--model", "ae", "--latent-dim", "8",
            "--denoise", "saltpepper:0.2", "--epochs", "3", "--out", str(run), "--no-progress")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["denoise"] == "saltpepper:0.2"
    proc = run_here("evaluate", str(run), "--denoise", "saltpepper:0.2")
    result = json.loads((run / "eval.json").read_text())
    d = result["denoise"]
    assert d["corruption"] == "saltpepper:0.2" and "psnr" in d["noisy"] and "ssim" in d["denoised"]
    assert (run / "denoise_saltpepper.png").is_file() and "psnr gain" in proc.stdout
    assert result["reconstruction"]["psnr"] > 0 and "protocol" in result["reconstruction"]
    files = sorted((folder / "class_0").iterdir())[:3]
    out = run_here("denoise", str(run), *map(str, files), "-o", str(tmp_path / "clean")).stdout.split()
    assert len(out) == 3
    for path in out:
        with Image.open(path) as im:
            assert im.size == (16, 16)


def test_bad_denoise_spec_is_refused_before_training(tmp_path):
    proc = run_here("train", "--denoise", "blur:3", "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 2 and "--denoise" in proc.stderr and not (tmp_path / "r").exists()


@pytest.mark.figures
def test_gaussian_denoising_on_mnist_gains_9_db(tmp_path):
    """sigma 0.5 on MNIST: a 6-epoch MLP denoiser gains over 8.5 dB of PSNR (a regression bound).

    The issue asks for 10 dB; the MLP AEs measured here reach 9.6-9.9 dB at 10 epochs
    (benchmarks/RESULTS.md), so that target is not claimed.
    """
    run = tmp_path / "run"
    run_here("train", "--data", "mnist", "--model", "ae", "--latent-dim", "32", "--hidden", "512",
            "--denoise", "gaussian:0.5", "--epochs", "6", "--out", str(run), "--no-progress")
    run_here("evaluate", str(run), "--denoise", "gaussian:0.5", "-n", "2000")
    d = json.loads((run / "eval.json").read_text())["denoise"]
    assert d["denoised"]["psnr"] >= d["noisy"]["psnr"] + 8.5, d
    assert d["denoised"]["ssim"] > d["noisy"]["ssim"] + 0.3
