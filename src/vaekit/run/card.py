"""A model card for every run folder: ``README.md`` with Hugging Face's YAML header, so the folder
(``config.json`` + ``model.safetensors`` + card) is a valid model repository as it stands.

The card says what the model was trained on and how, its test numbers with their protocols, a
sample grid, how to load it, and the data set's licence.
"""

from __future__ import annotations

from pathlib import Path

from vaekit.files import atomic_write
from vaekit.run.layout import CARD, grid_name

# The built-in data sets' terms, as their publishers state them.
LICENCES = {
    "mnist": ("cc-by-sa-3.0", "MNIST (LeCun, Cortes & Burges): CC BY-SA 3.0"),
    "fashion-mnist": ("mit", "Fashion-MNIST (Zalando Research): MIT licence"),
    "orl-faces": ("other", "ORL / AT&T Database of Faces (AT&T Laboratories Cambridge): free for "
                           "research use, with credit to AT&T Laboratories Cambridge"),
    "lfw-faces": ("other", "Labeled Faces in the Wild subset (as shipped by scikit-image): for "
                           "research use; no licence is stated by the publisher"),
}


def _number(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def model_card(run) -> str:
    """The card's Markdown for a ``Run``."""
    cfg, model, data = run.config.get("train", {}), run.model_config, run.config.get("data", {})
    name = data.get("name", cfg.get("data", "?"))
    licence, terms = LICENCES.get(name, ("other", f"your own images ({name}): state their licence here"))
    summary = run.summary
    kind = {"ae": "autoencoder", "vae": "variational autoencoder",
            "cvae": "class-conditional variational autoencoder"}.get(model.model, model.model)
    c, h, w = model.image_shape
    lines = [
        "---",
        "library_name: vaekit",
        f"license: {licence}",
        "tags:", "- vaekit", f"- {model.model}", "- autoencoder", "- image",
        *(["datasets:", f"- {name}"] if name in LICENCES else []),
        "---",
        "",
        f"# {run.name}",
        "",
        f"A {kind} trained with vaekit on **{name}** "
        f"({data.get('train', '?')} training, {data.get('val', '?')} validation, "
        f"{data.get('test', '?')} test images at {c}x{h}x{w}).",
        "",
        "## Model",
        "",
        f"- kind: `{model.model}`, backbone `{model.backbone}` "
        + (f"(MLP widths {model.hidden})" if model.backbone == "mlp" else f"(channels {model.channels})"),
        f"- latent size {model.latent_dim}, prior `{model.prior}`"
        + (f", conditioned on {model.num_classes} classes" if model.conditional else ""),
        f"- objective `{cfg.get('objective', 'elbo')}`, reconstruction `{cfg.get('loss', 'bce')}`, "
        f"beta {cfg.get('beta', 1.0)}, k {cfg.get('k', 1)}",
        "",
        "## Training",
        "",
        f"- {summary.get('epochs', cfg.get('epochs', '?'))} epochs, batch {cfg.get('batch_size')}, "
        f"Adam, learning rate {cfg.get('lr')} ({cfg.get('lr_schedule')}), seed {cfg.get('seed')}",
        f"- precision {summary.get('precision', cfg.get('precision'))}, "
        f"{summary.get('processes', 1)} process(es) on {summary.get('device', '?')}, "
        f"{_number(summary.get('train_seconds', float('nan')))} s",
        *([f"- inputs corrupted by `{cfg['denoise']}` during training, targets clean"]
          if cfg.get("denoise") else []),
        "",
        "## Test numbers",
        "",
    ]
    if summary:
        lines += ["| number | value |", "| --- | --- |"]
        lines += [f"| {k} | {_number(v)} |" for k, v in summary.items()
                  if k.startswith("test_") and isinstance(v, (int, float)) and k != "test_seconds"]
        lines += ["", f"Protocol: {summary.get('test_protocol', '')}.", ""]
    else:
        lines += ["Training has not finished; no test numbers yet.", ""]
    result = run.eval
    if result:
        for section, values in result.items():
            if isinstance(values, dict) and "protocol" in values:
                nums = ", ".join(f"{k} {_number(v)}" for k, v in values.items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool))
                lines.append(f"- **{section}**: {nums} ({values['protocol']})")
        lines.append("")
    epochs = run.grid_epochs("samples")
    if epochs:
        rel = grid_name("samples", epochs[-1])
        lines += ["## Samples", "", f"![decoded draws from the prior]({rel})", ""]
    lines += [
        "## Use",
        "",
        "```python",
        "import vaekit",
        "",
        f'model = vaekit.load("hf://ORG/{run.name}")  # or the local folder; safetensors only, no pickle',
        "images = model.sample(16)  # (16, C, H, W) in [0, 1]",
        "codes = model.encode(images).mode()  # posterior means",
        "```",
        "",
        "## Data licence",
        "",
        terms + ".",
        "",
    ]
    return "\n".join(lines)


def write_card(run) -> Path:
    """Write RUN/README.md (atomically) and return its path."""

    return atomic_write(Path(run.path) / CARD, model_card(run))
