"""The tools users already live in: TensorBoard and MLflow logs read back, ONNX exports run in
onnxruntime, Hub-ready run folders with a model card, settings files, the runs table, and a
scikit-learn transformer."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli, run_main

import vaekit
from vaekit.errors import VaekitError
from vaekit.models import BACKBONES, MODELS, build_model
from vaekit.run.checkpoint import save

TINY_FLAGS = ["--latent-dim", "3", "--hidden", "16", "--channels", "4,8", "--image-size", "8", "--image-channels", "1", "--threads", "1",
              "--batch-size", "16", "--precision", "32", "--no-progress"]


def _csv(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def logged(_tiny_folder, tmp_path_factory):
    """A 2-epoch run logged to TensorBoard and MLflow (the default ./mlruns, in its own folder)."""
    folder, cache = _tiny_folder
    where = tmp_path_factory.mktemp("logged")
    run = where / "run"
    run_cli("train", "--data", str(folder), *TINY_FLAGS, "--epochs", "2", "--logger", "tensorboard",
            "--logger", "mlflow", "--out", str(run), cwd=where,
            env={"MLFLOW_TRACKING_URI": "", "VAEKIT_DATA": str(cache)})
    return where, run


def test_tensorboard_events_hold_every_term_the_grids_and_the_embedding(logged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run = logged
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    rows = _csv(run)
    for column in ("train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl", "lr"):
        split, _, term = column.partition("_")
        tag = f"{term}/{split}" if split in ("train", "val") else column
        values = [e.value for e in events.Scalars(tag)]
        assert values == pytest.approx([float(r[column]) for r in rows], rel=1e-5), column
    assert {"grids/recon", "grids/samples"} <= set(events.Tags()["images"])
    assert len(events.Images("grids/samples")) == 2
    projector = (run / "tensorboard" / "projector_config.pbtxt").read_text()
    assert "sprite" in projector and "metadata" in projector
    from PIL import Image

    sprite = next((run / "tensorboard").rglob("sprite.png"))
    assert max(Image.open(sprite).size) <= 8192


def test_mlflow_run_metrics_equal_metrics_csv_and_the_run_is_an_artifact(logged, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in to read a ./mlruns folder
    where, run = logged
    client = MlflowClient(tracking_uri=(where / "mlruns").as_uri())
    run_id = (run / "mlflow_run_id").read_text().strip()
    info = client.get_run(run_id)
    assert info.data.params["train.latent_dim"] == "3"
    rows = _csv(run)
    for column in ("train_loss", "val_loss", "val_kl", "lr"):
        history = sorted(client.get_metric_history(run_id, column), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2]
        assert [m.value for m in history] == pytest.approx([float(r[column]) for r in rows], rel=1e-5)
    assert info.data.metrics["test_loss"] == pytest.approx(json.loads((run / "summary.json").read_text())["test_loss"])
    names = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "run")}
    assert "grids" in names and "run/model.safetensors" in names


def test_a_missing_tracker_package_is_named_before_anything_is_written(tmp_path, monkeypatch):
    from vaekit.train import loggers

    monkeypatch.setitem(loggers.LOGGERS, "tensorboard", loggers.Tracker(loggers.TensorBoard, "no_such_pkg", "tensorboard"))
    with pytest.raises(VaekitError, match=r"^logger: tensorboard needs the no_such_pkg package: pip install 'vaekit\[tensorboard\]'"):
        vaekit.fit(vaekit.TrainConfig(logger=["tensorboard"], out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()
    proc = run_cli("train", "--logger", "wandb", "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 2 and "--logger: expected csv, tensorboard or mlflow" in proc.stderr


@pytest.mark.parametrize("model,backbone", [(m, b) for m in MODELS for b in BACKBONES])
def test_onnx_export_matches_pytorch_for_every_model_and_backbone(model, backbone, tmp_path):
    from vaekit.interop.export import export

    classes = 3 if MODELS[model].conditional else 0
    if model == "vqvae":  # not exported yet: refused with one line naming the posterior
        net = build_model(model=model, backbone="mlp", image_shape=(3, 20, 14), latent_dim=5, hidden=[16])
        save(net, tmp_path / "run")
        with pytest.raises(VaekitError, match="quantized posterior of model vqvae has no ONNX export"):
            export(tmp_path / "run")
        return
    net = build_model(model=model, backbone=backbone, image_shape=(3, 20, 14), latent_dim=5, hidden=[16],
                      channels=[4, 8], num_classes=classes)
    with torch.no_grad():  # BatchNorm statistics away from their initial 0 / 1
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2)
    save(net, tmp_path / "run", {"data": {"class_names": ["a", "b", "c"][:classes]}})
    result = export(tmp_path / "run")
    assert max(result["max_abs_diff"].values()) <= 1e-4, result
    sidecar = json.loads((tmp_path / "run" / "export" / "export.json").read_text())
    assert sidecar["image_shape"] == [3, 20, 14] and sidecar["latent_dim"] == 5
    assert sidecar["encoder"]["outputs"] == (["mean", "logvar"] if net.variational else ["code"])


def test_exported_decoder_runs_in_onnxruntime_without_torch(tiny_data, tmp_path):
    run = tmp_path / "conv"
    run_cli("train", "--data", str(tiny_data), *TINY_FLAGS, "--backbone", "conv", "--epochs", "1", "--out", str(run))
    out = run_cli("export", str(run), "-o", str(tmp_path / "onnx")).stdout
    assert "largest |onnxruntime - PyTorch|" in out
    script = f"""
import json, sys
import numpy as np
import onnxruntime as ort
meta = json.load(open({str(tmp_path / 'onnx' / 'export.json')!r}))
dec = ort.InferenceSession({str(tmp_path / 'onnx' / 'decoder.onnx')!r}, providers=["CPUExecutionProvider"])
z = np.random.default_rng(0).standard_normal((7, meta["latent_dim"])).astype(np.float32)
(img,) = dec.run(None, {{"code": z}})
assert img.shape == (7, *meta["image_shape"]) and 0 <= img.min() and img.max() <= 1
assert "torch" not in sys.modules
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_every_run_has_a_model_card_and_the_hub_fails_in_one_line_offline(tiny_data, tmp_path):
    run = vaekit.fit(vaekit.TrainConfig(data=str(tiny_data), out=str(tmp_path / "run"), **TINY))
    card = (run / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: vaekit\nlicense: other\n")
    for part in ("## Model", "## Training", "## Test numbers", "## Samples", "## Use", "## Data licence",
                 "test_loss", "hf://"):
        assert part in card, part
    assert (run / "config.json").is_file() and (run / "model.safetensors").is_file()
    offline = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    proc = run_cli("push", str(run), "someone/tiny-vae", env=offline | {"HF_TOKEN": "hf_not_a_token"}, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("vaekit: error: someone/tiny-vae: could not upload")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("sample", "hf://someone/tiny-vae", env=offline, check=False)
    assert proc.returncode == 2 and "hf://someone/tiny-vae: could not download" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_downloaded_repository_gets_the_checks_a_local_folder_gets(tmp_path, monkeypatch):
    from vaekit.run import fetch as hub

    net = build_model(image_shape=(1, 8, 8), latent_dim=2, hidden=[8])
    save(net, tmp_path / "repo")
    monkeypatch.setattr(hub, "download", lambda ref: tmp_path / "repo")  # the network boundary
    assert vaekit.load("hf://org/name").config == net.config
    config = json.loads((tmp_path / "repo" / "config.json").read_text())
    config["model"]["latent_dim"] = 3  # a config that does not match the weights
    (tmp_path / "repo" / "config.json").write_text(json.dumps(config))
    with pytest.raises(VaekitError, match="weights do not match config.json"):
        vaekit.load("hf://org/name")
    with pytest.raises(VaekitError, match="expected hf://ORG/NAME"):
        hub.repo_id("hf://only-a-name")


def test_settings_files_flags_override_and_a_run_repeats(tiny_data, tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(f'data = "{tiny_data}"\nlatent_dim = 5\nhidden = [16]\nimage_size = 8\nepochs = 1\n'
                    'batch_size = 16\nprecision = "32"\nprogress = false\n')
    run_cli("train", "--config", str(toml), "--latent-dim", "4", "--out", str(tmp_path / "a"))
    first = json.loads((tmp_path / "a" / "config.json").read_text())["train"]
    assert (first["latent_dim"], first["hidden"], first["epochs"]) == (4, [16], 1)  # the flag won
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(f"data: {tiny_data}\nlatent_dim: 6\nimage_size: 8\nepochs: 1\nprogress: false\n")
    assert run_main("train", "--config", str(yaml_file), "--out", str(tmp_path / "b"))[0] == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["latent_dim"] == 6
    assert run_main("train", "--config", str(tmp_path / "a" / "config.json"), "--out", str(tmp_path / "c"))[0] == 0
    again = json.loads((tmp_path / "c" / "config.json").read_text())["train"]
    assert {k: v for k, v in again.items() if k != "out"} == {k: v for k, v in first.items() if k != "out"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"latent_dims": 3}')
    code, _, err = run_main("train", "--config", str(bad), "--out", str(tmp_path / "d"))
    assert code == 2 and "--config: " in err and "unknown setting 'latent_dims'" in err
    assert not (tmp_path / "d").exists()
    rows = json.loads(run_cli("runs", str(tmp_path), "--json", "--sort", "latent").stdout)
    assert [r["latent"] for r in rows] == [4, 4, 6] and all(r["status"] == "done" for r in rows)
    table = run_cli("runs", str(tmp_path)).stdout.splitlines()
    assert table[0].split()[:4] == ["run", "data", "model", "backbone"] and len(table) == 4


@pytest.mark.learned
def test_transformer_in_a_pipeline_on_mnist():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from vaekit.sklearn import AutoencoderTransformer

    data = vaekit.datasets.load("mnist")
    x_train = data.train.images[:10000].reshape(10000, -1).numpy()
    y_train = data.train.labels[:10000].numpy()
    x_test = data.test.images.reshape(10000, -1).numpy()
    y_test = data.test.labels.numpy()
    pipe = make_pipeline(AutoencoderTransformer(latent_dim=16, epochs=15), LogisticRegression(max_iter=1000))
    accuracy = pipe.fit(x_train, y_train).score(x_test, y_test)
    # 0.865-0.880 over seeds 0-4 x {bf16, float32}, Intel Xeon with AMX (benchmarks/margins.py)
    assert accuracy > 0.85, accuracy
    ae = pipe[0]
    assert ae.get_params()["latent_dim"] == 16 and ae.transform(x_test[:3]).shape == (3, 16)
    back = ae.inverse_transform(ae.transform(x_test[:4]))
    assert back.shape == (4, 784) and 0 <= back.min() and back.max() <= 255


def test_transformer_passes_scikit_learns_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    from vaekit.sklearn import AutoencoderTransformer

    results = check_estimator(AutoencoderTransformer(epochs=1, batch_size=16, hidden=(8,), latent_dim=2),
                              on_fail="raise", on_skip=None)
    ran = [r["check_name"] for r in results if r["status"] == "passed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert len(ran) >= 40 and "check_transformer_general" in ran and "check_estimators_pickle" in ran
    assert skipped <= {"check_array_api_input"}  # needs array-api-compat, which vaekit does not use


def test_a_grid_of_feature_rows_is_enlarged_by_their_longer_side(tmp_path):
    # the transformer's runs draw their rows (1 x F images) in the epoch grids: enlarged by their
    # height they made grids of thousands of pixels a side
    from PIL import Image

    from vaekit.report.plots import save_grid

    png = save_grid(torch.rand(64, 1, 1, 6), tmp_path / "rows.png")
    # 8 x 8 tiles of 1 x 6 with 2-pixel gaps, enlarged 64 // 6 = 10 times
    assert Image.open(png).size == ((8 * (6 + 2) + 2) * 10, (8 * (1 + 2) + 2) * 10)


def test_grid_search_clones_and_sets_params():
    from sklearn.model_selection import GridSearchCV

    from vaekit.sklearn import AutoencoderTransformer

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (60, 6)), rng.normal(3, 1, (60, 6))])
    search = GridSearchCV(AutoencoderTransformer(epochs=2, batch_size=16, hidden=(16,)),
                          {"latent_dim": [1, 2]}, cv=2,
                          scoring=lambda est, X, y=None: -np.mean((est.inverse_transform(est.transform(X)) - X) ** 2))
    search.fit(X)
    assert search.best_params_["latent_dim"] in (1, 2) and hasattr(search.best_estimator_, "model_")


def test_anomaly_detector_probabilities_and_confidence_follow_pyod(tmp_path):
    from vaekit.tasks.anomaly import AnomalyDetector

    rng = np.random.default_rng(0)
    normal = (rng.random((200, 8, 8)) < 0.1).astype(np.uint8) * 255
    det = AnomalyDetector(latent_dim=4, hidden=(32,), epochs=3, score="mse", contamination=0.1).fit(normal)
    odd = np.full((5, 8, 8), 255, np.uint8)
    x = np.concatenate([normal[:20], odd])
    proba = det.predict_proba(x)
    assert proba.shape == (25, 2) and np.allclose(proba.sum(1), 1) and (0 <= proba).all() and (proba <= 1).all()
    scores, train = det.decision_function(x), det.decision_scores_
    expected = np.clip((scores - train.min()) / (train.max() - train.min()), 0, 1)
    assert np.allclose(proba[:, 1], expected)
    assert (det.predict_proba(odd)[:, 1] == 1).all()  # far above every training score
    unify = det.predict_proba(x, method="unify")[:, 1]
    assert (np.diff(unify[np.argsort(scores)]) >= -1e-12).all()  # monotone in the score
    confidence = det.predict_confidence(x)
    assert confidence.shape == (25,) and ((0 <= confidence) & (confidence <= 1)).all()
    assert (confidence[-5:] > 0.99).all()  # anomalies far beyond the threshold: sure of it
    with pytest.raises(VaekitError, match="^method: expected linear or unify"):
        det.predict_proba(x, method="rank")
