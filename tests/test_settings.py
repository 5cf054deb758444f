"""Settings owned by what they configure: each registry entry declares its own, one schema feeds
the command line, `vaekit models`, /api/settings and the page's form, and a knob of an entry that
is not chosen is refused in one line naming both."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

import vaekit
from vaekit.errors import SettingError
from vaekit.settings import TrainConfig, knobs, overlay, read_settings_file, schema

PLUGINS = Path(__file__).parent / "plugins"
PLUGIN_ENV = {"VAEKIT_PLUGINS": "vaekit_test_entries", "PYTHONPATH": str(PLUGINS)}
FLAT_RUN = Path(__file__).parent / "fixtures" / "run-flat-config"  # written by vaekit before entries owned settings


@pytest.fixture(scope="module")
def plugin():
    sys.path.insert(0, str(PLUGINS))
    import vaekit_test_entries  # noqa: F401 -- registers the "scaled" objective and the "wide" backbone

    yield
    from vaekit.models import BACKBONES
    from vaekit.objectives import OBJECTIVES

    OBJECTIVES.pop("scaled"), BACKBONES.pop("wide")
    sys.path.remove(str(PLUGINS))
    sys.modules.pop("vaekit_test_entries")


def one_line(proc, *words: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("vaekit: ")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_every_setting_is_declared_once_with_its_owner():
    rows = schema()
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    for r in rows:
        assert r["help"] and r["type"] and r["flag"].startswith("--"), r
    owned = {r["name"]: r["owner"] for r in rows if r["owner"]}
    assert owned["tc_weight"] == {"setting": "objective", "entry": "tcvae"}
    assert owned["attention"] == {"setting": "backbone", "entry": "resnet"}
    assert owned["pseudo_inputs"] == {"setting": "prior", "entry": "vamp"}
    assert owned["codebook_size"] == {"setting": "model", "entry": "vqvae"}
    assert owned["kl_schedule"] == {"setting": "objective", "entry": "elbo"}
    # no entry's setting is a field of TrainConfig or of ModelConfig: each has one declaration
    import dataclasses

    from vaekit.models import ModelConfig
    for cls in (TrainConfig, ModelConfig):
        assert not {f.name for f in dataclasses.fields(cls)} & set(knobs())
    # a choice carries its registry's one-line description
    objective = next(r for r in rows if r["name"] == "objective")
    assert {c["name"] for c in objective["choices"]} >= {"elbo", "iwae", "tcvae", "mmd", "rae", "vq"}
    assert all(c["about"] for c in objective["choices"])


@pytest.mark.parametrize("given, words", [
    ({"tc_weight": 9.0}, ("--tc-weight", "tcvae objective", "elbo")),
    ({"attention": True}, ("--attention", "resnet backbone", "mlp")),
    ({"pseudo_inputs": 8, "prior": "normal"}, ("--pseudo-inputs", "vamp prior")),
    ({"codebook_size": 8, "model": "vae"}, ("--codebook-size", "vqvae model")),
    ({"kl_schedule": "linear", "objective": "iwae"}, ("--kl-schedule", "elbo objective", "iwae")),
])
def test_a_knob_of_an_entry_not_chosen_is_refused(given, words):
    with pytest.raises(SettingError) as e:
        TrainConfig(**given)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_the_chosen_entries_settings_alone_are_saved():
    cfg = TrainConfig(objective="tcvae", tc_weight=3.0, backbone="resnet")
    d = cfg.to_dict()
    assert d["tc_weight"] == 3.0 and d["attention"] is False
    assert not {"mmd_weight", "commitment", "pseudo_inputs", "kl_schedule", "codebook_size"} & set(d)
    assert TrainConfig.from_dict(d) == cfg and cfg.tc_weight == 3.0
    with pytest.raises(AttributeError, match="mmd objective"):
        cfg.mmd_weight  # noqa: B018


def test_cli_refuses_a_knob_of_another_entry_in_one_line(tiny_data, tmp_path):
    out = tmp_path / "never"
    one_line(run_cli("train", "--data", str(tiny_data), "--attention", "--backbone", "mlp", "--out", str(out),
                     check=False), "--attention", "resnet backbone", "mlp")
    assert not out.exists()  # refused before any folder is written


def test_a_flat_config_from_before_loads_and_repeats(tmp_path):
    run = vaekit.Run.open(FLAT_RUN)
    cfg = run.settings
    assert cfg.objective == "tcvae" and cfg.tc_weight == 3.0
    assert "attention" not in cfg.to_dict() and "mmd_weight" not in cfg.to_dict()
    model = vaekit.load(FLAT_RUN)
    assert model.config.latent_dim == 2 and "codebook_size" not in model.config.to_dict()
    assert model.sample(4, torch.Generator().manual_seed(0)).shape == (4, 1, 8, 8)
    again = tmp_path / "again"
    run_cli("train", "--config", str(FLAT_RUN / "config.json"), "--epochs", "1", "--threads", "1",
            "--no-progress", "--out", str(again))
    saved = json.loads((again / "config.json").read_text())["train"]
    assert saved["tc_weight"] == 3.0 and saved["objective"] == "tcvae" and "attention" not in saved
    # another objective typed over the file takes the place of the file's, settings and all
    repeat = read_settings_file(FLAT_RUN / "config.json")
    assert "tc_weight" not in TrainConfig(**overlay(repeat, {"objective": "elbo"})).to_dict()
    with pytest.raises(SettingError, match="tc-weight is a setting of the tcvae objective"):
        TrainConfig(**overlay(repeat, {"objective": "elbo", "tc_weight": 3.0}))


def test_a_plugins_objective_and_backbone_reach_every_front_end_and_train(plugin, tiny_data, tmp_path):
    # the command line: options grouped by entry, listed with their defaults by `vaekit models`
    helped = run_cli("train", "--help", env=PLUGIN_ENV | {"COLUMNS": "200"}).stdout
    assert "Settings of the scaled objective" in helped and "--recon-scale" in helped
    assert "Settings of the wide backbone" in helped and "--width-factor" in helped
    from vaekit.settings import describe  # what `vaekit models` prints

    listed = describe()
    assert "scaled" in listed and "--recon-scale 2.0" in listed and "--width-factor 2" in listed
    # the schema the page reads
    rows = {r["name"]: r for r in schema()}
    assert rows["recon_scale"]["owner"] == {"setting": "objective", "entry": "scaled"}
    assert rows["width_factor"]["default"] == 2
    assert "wide" in [c["name"] for c in rows["backbone"]["choices"]]
    # each knob refused beside another entry (the command line's wording: test_cli_refuses_...)
    with pytest.raises(SettingError, match="wide backbone"):
        TrainConfig(width_factor=3)
    one_line(run_cli("train", "--data", str(tiny_data), "--recon-scale", "3", check=False, env=PLUGIN_ENV),
             "--recon-scale", "scaled objective", "elbo")
    # train, save, load, resume
    out = tmp_path / "run"
    run_cli("train", "--data", str(tiny_data), "--objective", "scaled", "--recon-scale", "3", "--backbone", "wide",
            "--width-factor", "3", "--image-size", "8", "--image-channels", "1", "--latent-dim", "3", "--hidden", "8",
            "--epochs", "2", "--batch-size", "16", "--precision", "32", "--threads", "1", "--no-progress",
            "--out", str(out), env=PLUGIN_ENV)
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["recon_scale"] == 3.0 and saved["model"]["width_factor"] == 3
    assert "tc_weight" not in saved["train"] and "kl_schedule" not in saved["train"]
    model = vaekit.load(out)
    assert model.config.width_factor == 3
    assert model.encoder.net[1].out_features == 24  # --hidden 8 x --width-factor 3
    first = json.loads((out / "summary.json").read_text())
    (out / "summary.json").unlink()  # as if killed after the last checkpoint
    run_cli("train", "--resume", str(out), env=PLUGIN_ENV)
    again = json.loads((out / "summary.json").read_text())
    assert again["test_loss"] == pytest.approx(first["test_loss"], abs=1e-6)
    # without the plugin the run names what is missing, in one line
    one_line(run_cli("sample", str(out), "-n", "4", check=False), "wide")


def test_a_plugin_that_fails_to_import_is_one_line():
    proc = run_cli("models", check=False, env={"VAEKIT_PLUGINS": "no_such_plugin_module"})
    one_line(proc, "VAEKIT_PLUGINS", "no_such_plugin_module")


def test_model_knobs_are_checked_where_models_are_built():
    from vaekit.models import build_model

    with pytest.raises(SettingError, match="pseudo_inputs"):
        build_model(model="vae", prior="vamp", pseudo_inputs=0)
    with pytest.raises(SettingError, match="resnet backbone"):
        build_model(model="vae", backbone="mlp", attention=True)
    net = build_model(model="vae", backbone="resnet", channels=[4], image_shape=(1, 8, 8), attention=True)
    assert net.config.attention is True and torch.isfinite(net.sample(2, torch.Generator().manual_seed(0))).all()


def test_a_run_copy_keeps_its_settings(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(FLAT_RUN, copy)
    assert vaekit.Run.open(copy).settings == vaekit.Run.open(FLAT_RUN).settings


def test_each_default_has_one_home():
    """The estimators and the model config take their defaults from the schema, or from the one
    place that says why theirs differ (ANOMALY_DEFAULTS, TRANSFORMER_DEFAULTS)."""
    import inspect

    from vaekit.models import ModelConfig
    from vaekit.settings import ANOMALY_DEFAULTS, ESTIMATOR_DEFAULTS, TRANSFORMER_DEFAULTS
    from vaekit.sklearn import AutoencoderTransformer
    from vaekit.tasks.anomaly import AnomalyDetector

    rows = {r["name"]: r["default"] for r in schema()}
    for cls, own in ((AnomalyDetector, ANOMALY_DEFAULTS), (AutoencoderTransformer, TRANSFORMER_DEFAULTS)):
        own = {**ESTIMATOR_DEFAULTS, **own}
        params = inspect.signature(cls).parameters
        shared = [n for n in params if n in rows]
        assert {"model", "backbone", "latent_dim", "hidden", "lr", "seed"} <= set(shared), cls
        for n in shared:
            expected = own.get(n, rows[n])
            expected = tuple(expected) if isinstance(expected, list) else expected
            assert params[n].default == expected, (cls.__name__, n)
    model = ModelConfig()
    for n in ("model", "backbone", "latent_dim", "hidden", "channels", "activation"):
        assert getattr(model, n) == rows[n], n


def test_a_setting_has_one_owner(monkeypatch):
    """An entry cannot declare a setting every run has, nor one another entry owns."""
    import dataclasses

    from vaekit.objectives import OBJECTIVES, Objective
    from vaekit.objectives.elbo import elbo
    from vaekit.settings import setting

    for name in ("beta", "tc_weight"):
        cls = dataclasses.make_dataclass("Clash", [(name, float, setting(1.0, "clash"))])
        monkeypatch.setitem(OBJECTIVES, "clash", Objective(elbo, settings=cls))
        with pytest.raises(RuntimeError, match=name):
            knobs()
