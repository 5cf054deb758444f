"""A run's weights and resume state, with no pickle anywhere (the files: vaekit.run.layout).

The checkpoint holds weights, optimizer tensors, RNG state and a JSON header with epoch, step,
scheduler and history. ``load(path)`` rebuilds the model from config.json + model.safetensors alone.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.models import AutoEncoder, ModelConfig, build_model
from vaekit.run.layout import CHECKPOINT, CONFIG, GRIDS, SNAPSHOTS, WEIGHTS, snapshot_name


def save(model: AutoEncoder, run: str | Path, extra: dict | None = None, weights: bool = True) -> Path:
    """Write ``config.json`` (model settings + ``extra``) and, unless ``weights`` is False (a run
    that has not trained yet), ``model.safetensors`` to ``run``."""
    run = Path(run)
    write_json(run / CONFIG, {"model": model.config.to_dict(), **(extra or {})})
    if weights:
        save_weights(model, run)
    return run


# What a killed write leaves: vaekit's own temporaries (files.atomic_write: ``.NAME.XXXXXXXX.tmp``)
# and the one safetensors' writer makes beside the file it is asked to write (``.tmpXXXXXX``).
_TEMPORARY = re.compile(r"\..+\.tmp|\.tmp[A-Za-z0-9]{6}")


def clean_temporaries(run: str | Path) -> int:
    """Remove the temporary files a killed write left in a run folder and its snapshots/ and
    grids/; returns how many."""
    run = Path(run)
    stale = [p for folder in (run, run / SNAPSHOTS, run / GRIDS) if folder.is_dir()
             for p in folder.iterdir() if _TEMPORARY.fullmatch(p.name) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; VaekitError saying what to do when it is damaged."""
    try:
        return load_file(str(path))
    except Exception as e:  # noqa: BLE001 -- safetensors raises several types for a bad file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VaekitError(f"{path}: damaged {what} ({reason}); resume the run (vaekit train --resume "
                          f"{path.parent}) to rewrite it from its checkpoint, or train it again") from None


def check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """VaekitError when weights hold NaN or infinity (a run that diverged)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise VaekitError(f"{path}: weights hold NaN or infinity ({bad[0]}, {len(bad)} tensors): the run "
                          "diverged; train it again with a lower --lr")


def check_dtypes(state: dict[str, torch.Tensor], model: torch.nn.Module, path: Path) -> None:
    """VaekitError when a stored tensor's dtype is not its model tensor's: ``load_state_dict``
    would cast int64 or float16 values into the float32 weights without a word."""
    expected = model.state_dict()
    for k, v in state.items():
        if k in expected and v.dtype != expected[k].dtype:
            raise VaekitError(f"{path}: tensor {k} is {str(v.dtype).removeprefix('torch.')}, expected "
                              f"{str(expected[k].dtype).removeprefix('torch.')}: not weights vaekit wrote; "
                              "train the run again")


def save_weights(model: AutoEncoder, run: str | Path, snapshot: int | None = None) -> None:
    """Rewrite ``model.safetensors`` atomically, or with ``snapshot`` = an epoch, write the copy
    ``snapshots/epoch-NNNN.safetensors`` that ``load(run, snapshot=...)`` reads."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(run) / WEIGHTS if snapshot is None else snapshot_path(run, snapshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: save_file(state, str(p)), durable=True)


def snapshot_path(run: str | Path, epoch: int) -> Path:
    """Where the weights kept after ``epoch`` (``--keep-every``) live."""
    return Path(run) / snapshot_name(epoch)


def read_config(run: str | Path) -> dict:
    """The run's config.json as a dict; a clear error when the folder is not a run."""
    path = Path(run) / CONFIG
    if not path.is_file():
        raise VaekitError(f"{run}: not a vaekit run folder (no {CONFIG})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VaekitError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise VaekitError(f"{path}: expected a JSON object, found {type(config).__name__}")
    return config


def load(run: str | Path, device: str | torch.device = "cpu", snapshot: int | None = None) -> AutoEncoder:
    """Rebuild a model from a run folder (config.json + model.safetensors), in eval mode.

    run: a run folder, or ``hf://ORG/NAME`` for a model repository on the Hugging Face Hub
    (downloaded once, safetensors only, checked like a local folder).
    snapshot: an epoch whose kept weights to load instead (a run trained with ``keep_every``).
    """
    from vaekit.run.fetch import download, is_hub

    if is_hub(run):
        run = download(run)
    cfg = read_config(run)
    weights = Path(run) / WEIGHTS if snapshot is None else snapshot_path(run, snapshot)
    if not weights.is_file():
        if snapshot is not None:
            raise VaekitError(f"{run}: no weights kept for epoch {snapshot} ({weights} is missing)")
        raise VaekitError(f"{run}: no {WEIGHTS} yet (has the first epoch finished?)")
    model = build_model(model_config(run, cfg))
    state = read_tensors(weights, "weights")
    check_finite(state, weights)
    check_dtypes(state, model, weights)
    try:
        model.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0]
        raise VaekitError(f"{run}: weights do not match config.json ({first})") from None
    return model.to(device).eval()


def model_config(run: str | Path, cfg: dict) -> ModelConfig:
    """The model section of a run's config.json (``cfg``), checked; VaekitError naming the file
    and the field otherwise."""
    if not isinstance(cfg.get("model"), dict):
        raise VaekitError(f"{Path(run) / CONFIG}: expected a model section (a JSON object)")
    try:
        return ModelConfig.from_dict(cfg["model"])
    except VaekitError as e:
        raise VaekitError(f"{Path(run) / CONFIG}: model: {e.worded()}") from None


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """The process's random states: tensors (torch CPU/CUDA) and JSON (numpy, python)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    np_state = np.random.get_state()
    meta = {"numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Restore what ``rng_state`` captured."""
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    n = meta["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))
    p = meta["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _state_tensors(prefix: str, module, optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """A module's weights and its optimizer's tensors under ``prefix`` (``model.``/``optim.`` for
    the model), and the optimizer's param groups."""
    tensors = {f"{prefix}model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, slots in opt["state"].items():
        for key, value in slots.items():
            tensors[f"{prefix}optim.{idx}.{key}"] = value.detach().cpu().contiguous()
    return tensors, opt["param_groups"]


def save_checkpoint(run: Path, model, optimizer, scheduler, state: dict, own=None) -> None:
    """Write the resumable state atomically: weights, optimizer, scheduler, RNG, ``state`` dict;
    own: (module, optimizer) of the objective's own network, under ``own.``."""
    tensors, groups = _state_tensors("", model, optimizer)
    rng_tensors, rng_meta = rng_state()
    tensors.update(rng_tensors)
    header = {**state, "param_groups": groups, "scheduler": scheduler.state_dict(), "rng": rng_meta}
    if own is not None:
        own_tensors, header["own_param_groups"] = _state_tensors("own.", *own)
        tensors.update(own_tensors)
    metadata = {"vaekit": json.dumps(header)}
    atomic_write(run / CHECKPOINT, lambda p: save_file(tensors, str(p), metadata=metadata),
                 durable=True)


def _restore_optimizer(prefix: str, optimizer, tensors: dict[str, torch.Tensor], groups) -> None:
    """Load an optimizer's state saved by ``_state_tensors`` (ValueError when it is not that)."""
    slots: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith(f"{prefix}optim."):
            _, idx, key = k[len(prefix):].split(".", 2)
            slots.setdefault(int(idx), {})[key] = v
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for idx, slot in slots.items():  # each moment in its parameter's memory layout (channels_last
        for key, value in slot.items():  # conv weights): the fused update is then the original's
            if value.dtype != torch.float32:  # what Adam keeps; anything else was not written here
                raise ValueError(f"optimizer state {prefix}optim.{idx}.{key} is "
                                 f"{str(value.dtype).removeprefix('torch.')}, expected float32")
            if 0 <= idx < len(params) and value.shape == params[idx].shape:
                slot[key] = torch.empty_like(params[idx], dtype=value.dtype).copy_(value)
    optimizer.load_state_dict({"state": slots, "param_groups": groups})


def load_checkpoint(run: Path, model, optimizer, scheduler, own=None) -> dict:
    """Restore model, optimizer, scheduler and RNG from ``run``; returns the saved state dict.
    own: (module, optimizer) of the objective's own network, restored too."""
    path = run / CHECKPOINT
    if not path.is_file():
        raise VaekitError(f"{run}: no {CHECKPOINT} in that folder", "resume")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {})["vaekit"])
        if not isinstance(header, dict) or not {"epoch", "step", "history", "param_groups", "scheduler",
                                                 "rng"} <= set(header):
            raise ValueError("its metadata lacks the training state")
    except Exception as e:  # noqa: BLE001 -- a truncated file, foreign metadata, bad JSON: one message
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VaekitError(f"{path}: damaged checkpoint ({reason}); the run cannot be resumed -- train it "
                          "again") from None
    tensors = read_tensors(path, "checkpoint")
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    check_finite(model_state, path)
    check_dtypes(model_state, model, path)
    try:
        model.load_state_dict(model_state)
    except (RuntimeError, KeyError) as e:
        raise VaekitError(f"{path}: the checkpoint does not match config.json "
                          f"({str(e).strip().splitlines()[0]}); train the run again") from None
    try:
        _restore_optimizer("", optimizer, tensors, header.pop("param_groups"))
        if own is not None:
            net, net_optimizer = own
            net.load_state_dict({k[10:]: v for k, v in tensors.items() if k.startswith("own.model.")})
            _restore_optimizer("own.", net_optimizer, tensors, header.pop("own_param_groups"))
        scheduler.load_state_dict(header.pop("scheduler"))
        set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng.")}, header.pop("rng"))
        if not isinstance(header["epoch"], int) or not isinstance(header["step"], int) \
                or not isinstance(header["history"], list):
            raise ValueError("epoch, step or history of the wrong type")
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError, AttributeError, OverflowError) as e:
        # a checkpoint whose tensors load but whose optimizer, scheduler or RNG state is not what
        # vaekit wrote (edited by hand, or from another version)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VaekitError(f"{path}: damaged checkpoint ({reason}); the run cannot be resumed -- train it "
                          "again") from None
    return header
