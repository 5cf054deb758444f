"""Damaged, tampered and half-made run folders: every one ends in one line naming the file and
saying what to do, exit status 2, never a traceback -- and a resume repairs what it can."""

import json
import shutil

import pytest
import torch
from conftest import run_here, run_main
from safetensors import safe_open
from safetensors.torch import load_file, save_file


@pytest.fixture
def good_run(tiny_run):
    return tiny_run


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _nan_weights(run):
    state = load_file(str(run / "model.safetensors"))
    key = next(iter(state))
    state[key] = state[key] * float("nan")
    save_file(state, str(run / "model.safetensors"))


def _retyped(run, name, dtype):
    """Every float tensor of ``name`` replaced by one of ``dtype`` with the same shape."""
    path = run / name
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    save_file(state, str(path), metadata=metadata)


def _checkpoint_metadata(run, metadata):
    path = run / "checkpoint.safetensors"
    save_file(load_file(str(path)), str(path), metadata=metadata)


CASES = [  # (name, damage(run), command after the run folder, words in the one line)
    ("truncated weights", lambda r: (r / "model.safetensors").write_bytes((r / "model.safetensors").read_bytes()[:100]),
     ["sample"], "model.safetensors: damaged weights"),
    ("empty weights", lambda r: (r / "model.safetensors").write_bytes(b""), ["sample"], "damaged weights"),
    ("random weights file", lambda r: (r / "model.safetensors").write_bytes(torch.randint(0, 255, (3000,), dtype=torch.uint8).numpy().tobytes()),
     ["reconstruct"], "damaged weights"),
    ("NaN weights", _nan_weights, ["sample"], "weights hold NaN or infinity"),
    ("int64 weights", lambda r: _retyped(r, "model.safetensors", torch.int64), ["sample"], "is int64, expected float32"),
    ("float16 weights", lambda r: _retyped(r, "model.safetensors", torch.float16), ["reconstruct"], "is float16, expected float32"),
    ("int64 checkpoint", lambda r: _retyped(r, "checkpoint.safetensors", torch.int64), ["--resume"], "is int64, expected float32"),
    ("config is a list", lambda r: (r / "config.json").write_text("[]"), ["sample"], "config.json: expected a JSON object"),
    ("config is not JSON", lambda r: (r / "config.json").write_text("{model: vae"), ["latent"], "config.json: not valid JSON"),
    ("a string for a number", lambda r: _edit_json(r / "config.json", lambda c: c["model"].update(latent_dim="three")),
     ["sample"], "config.json: model: latent_dim: expected an integer"),
    ("weights of another shape", lambda r: _edit_json(r / "config.json", lambda c: c["model"].update(latent_dim=5)),
     ["sample"], "weights do not match config.json"),
    ("no training section", lambda r: _edit_json(r / "config.json", lambda c: c.pop("train")),
     ["--resume"], "no training settings"),
    ("a bad training value", lambda r: _edit_json(r / "config.json", lambda c: c["train"].update(lr="fast")),
     ["--resume"], "lr: expected a finite number > 0"),
    ("truncated checkpoint", lambda r: (r / "checkpoint.safetensors").write_bytes((r / "checkpoint.safetensors").read_bytes()[:500]),
     ["--resume"], "damaged checkpoint"),
    ("checkpoint without its state", lambda r: _checkpoint_metadata(r, {"other": "1"}), ["--resume"], "damaged checkpoint"),
    ("checkpoint state not JSON", lambda r: _checkpoint_metadata(r, {"vaekit": "{not json"}), ["--resume"], "damaged checkpoint"),
    ("no checkpoint", lambda r: (r / "checkpoint.safetensors").unlink(), ["--resume"], "no checkpoint.safetensors"),
    ("killed before its first epoch", lambda r: [(r / f).unlink() for f in ("model.safetensors", "checkpoint.safetensors")],
     ["sample"], "no model.safetensors yet"),
    ("not a run at all", lambda r: (r / "config.json").unlink(), ["sample"], "not a vaekit run folder"),
]


@pytest.mark.parametrize("name,damage,command,words", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_run_folder_gets_one_line(good_run, tmp_path, name, damage, command, words):
    run, cache = good_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    damage(copy)
    args = ["train", "--resume", str(copy)] if command == ["--resume"] else [command[0], str(copy)]
    code, _, err = run_main(*args, env={"VAEKIT_DATA": str(cache)})
    assert code == 2, (name, err)
    lines = [line for line in err.splitlines() if line.startswith("vaekit: error:")]
    assert len(lines) == 1 and words in lines[0], (name, err)
    assert "Traceback" not in err


def test_resume_of_a_finished_run_repairs_its_weights_and_clears_temporaries(good_run, tmp_path):
    run, cache = good_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "model.safetensors").write_bytes(b"garbage")
    (copy / ".model.safetensors.abc123.tmp").write_bytes(b"left by a killed write")
    (copy / ".tmpA1b2C3").write_bytes(b"safetensors' own temporary, left by a kill inside save_file")
    (copy / "grids" / ".recon_epoch001.png.x1y2.tmp").write_bytes(b"a grid's")
    (copy / "notes.tmp").write_text("the user's own file")
    run_here("train", "--resume", str(copy), env={"VAEKIT_DATA": str(cache)})
    assert not list(copy.glob(".*")) and not list((copy / "grids").glob(".*"))
    assert (copy / "notes.tmp").is_file()
    assert load_file(str(copy / "model.safetensors")).keys() == load_file(str(run / "model.safetensors")).keys()
    png = run_here("sample", str(copy), "-n", "4").stdout.strip()
    assert png.endswith("sample.png")


@pytest.mark.parametrize("args,words", [
    (["train", "--lr", "inf"], "--lr: expected a finite number > 0"),
    (["train", "--denoise", "logo:/no/such.png"], "--denoise: 'logo:/no/such.png': logo file"),
    (["train", "--epochs", "0"], "--epochs: expected an integer >= 1"),
    (["train", "--precision", "64"], "--precision: expected one of auto, 32, bf16, 16"),
    (["runs", "/no/such/folder"], "/no/such/folder: no such folder"),
    (["export", "RUN", "--format", "tflite"], "--format: expected one of onnx"),
    (["sample", "RUN", "--nrow", "0"], "--nrow: expected an integer >= 1"),
    (["sample", "RUN", "-n", "0"], "-n: expected an integer >= 1"),
    (["sample", "RUN", "--sampler", "flow"], "--sampler: expected one of prior, gmm"),
    (["sample", "RUN", "--class", "3"], "--class: "),
    (["interpolate", "RUN", "--steps", "1"], "--steps: expected an integer >= 2"),
    (["encode", "RUN", "-o", "features.txt"], "-o/--output: features.txt: expected a file ending in"),
    (["cluster", "RUN", "--k", "1"], "--k: expected an integer >= 2"),
])
def test_bad_flags_get_one_line_naming_the_flag(good_run, tmp_path, args, words):
    run, cache = good_run
    args = [str(run) if a == "RUN" else a for a in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "new")]
    code, _, err = run_main(*args, env={"VAEKIT_DATA": str(cache)}, cwd=tmp_path)
    lines = [line for line in err.splitlines() if line.startswith("vaekit: ")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"vaekit: error: {words}"), err
    assert not (tmp_path / "new").exists()


def test_a_file_given_as_the_run_folder_is_refused(tmp_path):
    (tmp_path / "taken").write_text("a file")
    proc = run_here("train", "--epochs", "1", "--out", str(tmp_path / "taken"), check=False)
    assert proc.returncode == 2 and "--out: " in proc.stderr and "is a file" in proc.stderr


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_keeps_the_last_checkpoint(tiny_data, tmp_path, monkeypatch):
    """The disk fills while epoch 2's checkpoint is written: the write fails the way safetensors
    reports it (a Rust I/O error), after half the file is on disk."""
    from safetensors import SafetensorError

    import vaekit.run.checkpoint as ckpt

    real, writes = ckpt.save_file, []

    def filling(tensors, path, metadata=None):
        if ".checkpoint.safetensors." in path:
            writes.append(path)
            if len(writes) == 2:
                real(tensors, path, metadata=metadata)
                with open(path, "r+b") as f:
                    f.truncate(f.seek(0, 2) // 2)
                raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(ckpt, "save_file", filling)
    run = tmp_path / "run"
    args = ["train", "--data", str(tiny_data), "--image-size", "8", "--image-channels", "1", "--latent-dim", "3",
            "--hidden", "16", "--epochs", "3", "--batch-size", "16", "--precision", "32", "--no-progress", "--out", str(run)]
    code, _, err = run_main(*args)
    lines = [line for line in err.splitlines() if line.startswith("vaekit: ")]
    assert code == 2 and len(lines) == 1, err
    assert lines[0] == (f"vaekit: error: {run / 'checkpoint.safetensors'}: could not write it (No space left on "
                        "device); the previous checkpoint.safetensors is unchanged")
    assert not list(run.glob(".*.tmp")), "the half-written temporary is removed"
    with safe_open(str(run / "checkpoint.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["vaekit"])["epoch"] == 1  # epoch 1's, whole
    monkeypatch.setattr(ckpt, "save_file", real)  # space freed: the run resumes and finishes
    code, _, err = run_main("train", "--resume", str(run))
    assert code == 0 and json.loads((run / "summary.json").read_text())["epochs"] == 3, err
