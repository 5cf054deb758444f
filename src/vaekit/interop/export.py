"""Export a run's networks to ONNX: ``encoder.onnx`` (image -> mean and log-variance, or the
code of an AE), ``decoder.onnx`` (code -> image in [0, 1]), each with a dynamic batch size, and
``export.json`` saying how to feed them.

Inputs are float32 images (B, C, H, W) with pixels in [0, 1] (uint8 / 255, no other
normalisation) and float32 codes (B, D); a conditional model also takes int64 class labels (B,).
The exported graphs are checked against PyTorch with onnxruntime when it is installed
(``check_onnx``); the test suite does so for every registered model and backbone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from vaekit.errors import SettingError, VaekitError
from vaekit.files import atomic_write, write_json

FORMATS = ("onnx",)
OPSET = 17


def _one_hot(labels: torch.Tensor, classes: int, like: torch.Tensor) -> torch.Tensor:
    # a comparison with arange exports everywhere; F.one_hot's dynamic class count does not
    return (labels.long()[:, None] == torch.arange(classes, device=labels.device)).to(like.dtype)


class _Encoder(nn.Module):
    """image (B, C, H, W) [, label (B,)] -> (mean, logvar) for a VAE, (code,) for an AE."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.gaussian = model.variational

    def forward(self, image: torch.Tensor, label: torch.Tensor | None = None):
        h = self.model.encoder(image)
        if label is not None:
            h = torch.cat([h, _one_hot(label, self.model.config.num_classes, h)], 1)
        out = self.model.head(h)
        return tuple(out.chunk(2, dim=1)) if self.gaussian else (out,)


class _Decoder(nn.Module):
    """code (B, D) [, label (B,)] -> image (B, C, H, W) in [0, 1]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, code: torch.Tensor, label: torch.Tensor | None = None):
        if label is not None:
            code = torch.cat([code, _one_hot(label, self.model.config.num_classes, code)], 1)
        return torch.sigmoid(self.model.decoder(code))


def _exportable(model) -> None:
    from vaekit.models import MODELS

    posterior = MODELS[model.config.model].posterior
    if posterior not in ("point", "gaussian"):
        raise VaekitError(f"the {posterior} posterior of model {model.config.model} has no ONNX export yet",
                          "format")


def export_onnx(model, out: str | Path, about: dict | None = None) -> dict[str, Path]:
    """Write ``encoder.onnx``, ``decoder.onnx`` and ``export.json`` to the folder ``out``.

    about: extra facts for the sidecar (the run's name, class names). Returns the three paths.
    """
    _exportable(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval().float()
    cfg = model.config
    c, h, w = cfg.image_shape
    conditional = cfg.conditional
    image = torch.rand(2, c, h, w)
    code = torch.randn(2, cfg.latent_dim)
    label = torch.zeros(2, dtype=torch.long)
    enc_out = ["mean", "logvar"] if model.variational else ["code"]
    specs = {
        "encoder": (_Encoder(model), (image, label) if conditional else (image,),
                    ["image", "label"] if conditional else ["image"], enc_out),
        "decoder": (_Decoder(model), (code, label) if conditional else (code,),
                    ["code", "label"] if conditional else ["code"], ["image"]),
    }
    paths = {}
    for name, (net, args, inputs, outputs) in specs.items():
        axes = {n: {0: "batch"} for n in inputs + outputs}
        path = out / f"{name}.onnx"

        def write(tmp, net=net, args=args, inputs=inputs, outputs=outputs, axes=axes):
            with torch.no_grad():
                torch.onnx.export(net, args, str(tmp), input_names=inputs, output_names=outputs,
                                  dynamic_axes=axes, opset_version=OPSET, dynamo=False)

        atomic_write(path, write)
        paths[name] = path
    sidecar = {
        "format": "onnx", "opset": OPSET, "model": cfg.model, "backbone": cfg.backbone, "prior": cfg.prior,
        "image_shape": [c, h, w], "latent_dim": cfg.latent_dim,
        "num_classes": cfg.num_classes, "variational": model.variational,
        "normalisation": "image pixels as float32 in [0, 1] (uint8 / 255); no mean or std",
        "encoder": {"inputs": specs["encoder"][2], "outputs": enc_out,
                    "about": "mean and log-variance of q(z|x)" if model.variational else "the code"},
        "decoder": {"inputs": specs["decoder"][2], "outputs": ["image"],
                    "about": "pixel probabilities in [0, 1], (B, C, H, W)"},
        "sampling": ("decode z ~ N(0, I)" if cfg.prior == "normal"
                     else f"decode draws from the {cfg.prior} prior"),
        **(about or {}),
    }
    paths["sidecar"] = write_json(out / "export.json", sidecar)
    return paths


@torch.no_grad()
def check_onnx(model, folder: str | Path, batch: int = 5, seed: int = 0) -> dict[str, float]:
    """Largest absolute difference between PyTorch and onnxruntime on random inputs, for the
    encoder's outputs and the decoder's image: {"encoder": ..., "decoder": ...}."""
    import onnxruntime as ort

    folder = Path(folder)
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    image = torch.rand((batch, *cfg.image_shape), generator=g)
    code = torch.randn((batch, cfg.latent_dim), generator=g)
    label = torch.arange(batch) % max(cfg.num_classes, 1)
    model = model.cpu().eval().float()
    enc, dec = _Encoder(model), _Decoder(model)
    extra = (label,) if cfg.conditional else ()
    feeds = {"image": image.numpy(), "code": code.numpy(), "label": label.numpy()}
    diffs = {}
    for name, net, args in (("encoder", enc, (image, *extra)), ("decoder", dec, (code, *extra))):
        session = ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        wanted = {i.name: feeds[i.name] for i in session.get_inputs()}
        got = session.run(None, wanted)
        ref = net(*args)
        ref = ref if isinstance(ref, tuple) else (ref,)
        diffs[name] = max(float((torch.from_numpy(o) - r).abs().max()) for o, r in zip(got, ref, strict=True))
    return diffs


def export(run, fmt: str = "onnx", out: str | Path | None = None, check: bool = True) -> dict:
    """Export a run (a ``Run`` or its folder) to ``out`` (default RUN/export/); returns the paths
    and, with ``check``, the largest PyTorch-vs-onnxruntime differences."""
    from vaekit.run import Run

    if fmt not in FORMATS:
        raise SettingError("format", f"one of {', '.join(FORMATS)}", fmt)
    run = Run.open(run)
    out = Path(out) if out is not None else run.path / "export"
    paths = export_onnx(run.model, out, {"run": run.name, "class_names": run.class_names})
    result = {"paths": {k: str(v) for k, v in paths.items()}}
    if check:
        try:
            result["max_abs_diff"] = check_onnx(run.model, out)
        except ImportError:
            result["max_abs_diff"] = None  # onnxruntime not installed: nothing to check against
    return result


def load_sidecar(folder: str | Path) -> dict:
    """The ``export.json`` written beside the ONNX files."""
    return json.loads((Path(folder) / "export.json").read_text())
