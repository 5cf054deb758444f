"""The installed command end to end: train on a folder and on faces, sample, errors, 2 processes."""

import json

from conftest import make_image_folder, run_cli, run_main
from PIL import Image


def test_train_sample_reconstruct_on_a_folder_with_a_truncated_jpeg(tmp_path, data_home):
    root = make_image_folder(tmp_path / "photos", classes=2, per_class=20)
    bad = root / "class_0" / "img_0.jpg"
    bad.write_bytes(bad.read_bytes()[:150])
    run = tmp_path / "run"
    proc = run_cli("train", "--data", str(root), "--backbone", "conv", "--image-size", "16",
                   "--channels", "8,16", "--latent-dim", "4", "--epochs", "2", "--batch-size", "8",
                   "--out", str(run), "--no-progress", env={"VAEKIT_DATA": str(data_home)})
    assert "skipped 1 unreadable" in proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["test_loss"] > 0
    out = run_cli("sample", str(run), "-n", "16", "-o", str(tmp_path / "s.png")).stdout.strip()
    assert Image.open(out).size[0] > 0
    recon = run_cli("reconstruct", str(run), str(root / "class_1" / "img_3.png"),
                    "-o", str(tmp_path / "r.png")).stdout.strip()
    assert Image.open(recon).size[0] > 0


def test_orl_faces_conv_at_64_trains_and_samples(tmp_path):
    run = tmp_path / "faces"
    run_cli("train", "--data", "orl-faces", "--backbone", "conv", "--image-size", "64",
            "--latent-dim", "32", "--epochs", "2", "--batch-size", "32", "--out", str(run),
            "--no-progress")
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["image_shape"] == [1, 64, 64]
    assert "held-out" in config["data"]["test_protocol"]
    png = run_cli("sample", str(run), "-n", "16").stdout.strip()
    assert Image.open(png).size == (8 * (64 + 2) + 2, 2 * (64 + 2) + 2)  # 8 per row, 2 px gaps


def test_bad_input_gives_one_line_naming_the_flag(tmp_path):
    cases = [
        (["train", "--model", "gan"], "--model: expected one of ae, vae, cvae, vqvae, got 'gan'"),
        (["train", "--data", str(tmp_path / "nowhere")], "--data"),
        (["train", "--hidden", "40x"], "--hidden: expected comma-separated integers"),
        (["train", "--lr", "-1"], "--lr: expected a finite number > 0"),
        (["sample", str(tmp_path)], "not a vaekit run folder"),
        (["train", "--resume", str(tmp_path)], "not a vaekit run folder"),
        (["data", "fetch", "cifar"], "unknown data set 'cifar'"),
    ]
    proc = run_cli(*cases[0][0], check=False)  # the installed command's own error path ...
    assert proc.returncode == 2 and proc.stderr == f"vaekit: error: {cases[0][1]}\n", proc.stderr
    for args, message in cases[1:]:  # ... and the rest of the table through the same entry point
        code, _, err = run_main(*args)
        assert code == 2, (args, err)
        assert message in err, (args, err)
        assert "Traceback" not in err


def test_existing_run_is_not_overwritten(tmp_path):
    run = tmp_path / "r"
    run_cli("train", "--data", "lfw-faces", "--epochs", "1", "--out", str(run), "--no-progress")
    proc = run_cli("train", "--data", "lfw-faces", "--epochs", "1", "--out", str(run), check=False)
    assert proc.returncode == 2 and "already holds a run" in proc.stderr


def test_two_cpu_processes_with_gloo(tmp_path):
    run = tmp_path / "ddp"
    proc = run_cli("train", "--data", "lfw-faces", "--devices", "2", "--accelerator", "cpu",
                   "--epochs", "2", "--batch-size", "16", "--out", str(run), "--no-progress")
    assert "gloo" in proc.stdout + proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["epochs"] == 2
    assert len((run / "metrics.csv").read_text().splitlines()) == 3


def test_data_list_shows_every_builtin():
    out = run_cli("data", "list").stdout
    for name in ("mnist", "fashion-mnist", "orl-faces", "lfw-faces"):
        assert name in out


def test_version_and_one_line_usage_errors():
    import vaekit

    assert run_cli("--version").stdout.strip() == f"vaekit {vaekit.__version__}"
    proc = run_cli("train", "--no-such-flag", check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "vaekit: error: No such option: --no-such-flag (see 'vaekit train --help')"]
