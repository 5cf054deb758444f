"""disent beside vaekit on the disentanglement leaderboard: the same network, data, split and
budget, trained by disent's own objectives, scored by the same `vaekit evaluate --disentanglement`.

disent (https://github.com/nmichlo/disent, 0.8.0 on PyPI) is the PyTorch library of these
models. Its data sets download dSprites at run time and its 64x64 networks do not take the
32x32 grid, so what is compared here is its *objectives* (its β-VAE, β-TCVAE and DIP-VAE-II
frameworks, with their loss reductions and weights as disent defines them) on vaekit's dlib
network, fed vaekit's training split of the grid for the leaderboard's budget (--images, in whole
passes), in float32 (disent's precision; vaekit's rows use vaekit's default).
The rows go into disentangle.json beside vaekit's, marked with the implementation.

disent 0.8.0 and the parts of Lightning it imports are installed, without their dependencies,
into ~/.cache/vaekit/bench/disent-0.8.0 (PyPI). disent also imports torchvision at module level
for parts not used here (its image-folder data set, a VGG perceptual loss, image transforms);
PyPI's torchvision does not load against the CPU build of torch, so a stub that names those
parts stands in, and any use of them fails loudly.

    python benchmarks/disentangle_disent.py --models beta-tcvae beta-vae --seeds 0
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import machine, publish
from disentangle import BACKBONE, BUDGET, MODELS, NETWORK, load_rows, render, score

from vaekit.datasets import load, make_splits, to_float
from vaekit.models import ModelConfig, build_model
from vaekit.run.checkpoint import save
from vaekit.settings import TrainConfig

VERSION = "0.8.0"
PACKAGES = [f"disent=={VERSION}", "lightning==2.6.6", "torchmetrics==1.9.0", "h5py==3.16.0"]
HOME = Path.home() / ".cache" / "vaekit" / "bench" / f"disent-{VERSION}"
_STUB = ("def __getattr__(name):  # any name: a class (disent subclasses one) that fails when made\n"
         "    def unused(self, *args, **kwargs):\n"
         "        raise RuntimeError(f'torchvision stub: {name} is not installed')\n"
         "    return type(name, (), {'__init__': unused})\n")
# the torchvision modules disent (and torchmetrics, which it imports) import by name; none is called here
STUB = [f"torchvision/{m}" for m in ("__init__.py", "datasets.py", "models.py", "transforms/__init__.py",
                                     "transforms/functional.py", "ops.py", "utils.py", "io.py")]
# disent's framework and weights for each model of the leaderboard. disent's β is its KL's weight;
# its β-TCVAE adds (β - 1) x TC to β x KL (dlib's and vaekit's: KL + (β - 1) x TC); its DIP-VAE-II
# adds mean(diag(var)) over the batch's first D rows, a scalar, to every entry of Cov[mean] where
# dlib and vaekit add E[diag(var)] to the diagonal alone
FRAMEWORKS = {
    "beta-vae": ("BetaVae", {"beta": 4.0}),
    "beta-tcvae": ("BetaTcVae", {"beta": 6.0}),
    "dip-vae-ii": ("DipVae", {"beta": 1.0, "dip_mode": "ii", "lambda_od": 10.0, "lambda_d": 10.0}),
}


def install() -> None:
    """disent and what it imports, into HOME (once), and HOME on the import path."""
    if not (HOME / "disent").is_dir():
        HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(HOME),
                        *PACKAGES], check=True)
    for name in STUB:
        path = HOME / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_STUB)
    sys.path.insert(0, str(HOME))


def fields(flags: list[str]) -> dict:
    """The leaderboard's `vaekit train` flags as TrainConfig fields: ["--tc-weight", "6"] ->
    {"tc_weight": 6}; "32,32,64,64" -> [32, 32, 64, 64]."""
    def value(v: str):
        if "," in v:
            return [int(x) for x in v.split(",")]
        for kind in (int, float):
            try:
                return kind(v)
            except ValueError:
                pass
        return v

    pairs = zip(flags[::2], flags[1::2], strict=True)
    return {k.removeprefix("--").replace("-", "_"): value(v) for k, v in pairs}


def framework(model_name: str, net):
    """disent's framework for ``model_name`` around vaekit's network ``net`` (its encoder and
    head give the posterior's mean and log-variance, its decoder the Bernoulli logits)."""
    import disent.frameworks.vae as vae
    from disent.model import AutoEncoder, DisentDecoder, DisentEncoder

    shape, d = tuple(net.config.image_shape), net.config.latent_dim

    class Encoder(DisentEncoder):
        def __init__(self):
            super().__init__(x_shape=shape, z_size=d, z_multiplier=2)
            self.encoder, self.head = net.encoder, net.head

        def encode(self, x):  # (B, C, H, W) -> (B, 2D): mean, then log-variance (disent's order too)
            return self.head(self.encoder(x))

    class Decoder(DisentDecoder):
        def __init__(self):
            super().__init__(x_shape=shape, z_size=d, z_multiplier=1)
            self.decoder = net.decoder

        def decode(self, z):
            return self.decoder(z)

    name, weights = FRAMEWORKS[model_name]
    cls = getattr(vae, name)
    cfg = cls.cfg(optimizer="adam", optimizer_kwargs={"lr": 1e-4}, recon_loss="bce",
                  loss_reduction="mean_sum", **weights)
    return cls(model=AutoEncoder(Encoder(), Decoder()), cfg=cfg)


def run_one(grid: str, model_name: str, seed: int, images: int, root: Path) -> dict:
    """Train disent's ``model_name`` on vaekit's network for about ``images`` images; its row."""
    from vaekit.models.autoencoder import MODEL_CHOOSERS, ModelSettings

    data = load(grid)
    n_train = len(data.train) * 0.9 * 0.99
    epochs = max(1, round(images / n_train))
    cfg = TrainConfig(data=grid, **fields(NETWORK + MODELS[model_name]), seed=seed, epochs=epochs,
                      val_fraction=0.01, precision="32")
    splits = make_splits(data, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    torch.manual_seed(seed)
    net = build_model(ModelConfig(**dataclasses.asdict(cfg.section(ModelSettings)),
                                  **cfg.entry_values(MODEL_CHOOSERS), image_shape=splits.train.shape))
    net = net.to(memory_format=torch.channels_last)
    fw = framework(model_name, net)
    optimizer = fw.configure_optimizers()
    g = torch.Generator().manual_seed(seed)
    n, seen, step = len(splits.train), 0, 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=g)
        for start in range(0, n - cfg.batch_size + 1, cfg.batch_size):  # whole batches, as vaekit
            x = to_float(splits.train.take(order[start:start + cfg.batch_size]))
            loss = fw.training_step({"x_targ": (x.contiguous(memory_format=torch.channels_last),)}, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen, step = seen + len(x), step + 1
        print(f"disent {model_name} seed {seed}: epoch {epoch + 1}/{epochs}, loss {float(loss):.2f}, "
              f"{(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)
    minutes = (time.perf_counter() - t0) / 60
    out = root / f"disent-{model_name}-s{seed}"
    save(net.float(), out, {"train": cfg.to_dict()})
    return {"grid": grid, "backbone": BACKBONE, "model": model_name, "implementation": f"disent {VERSION}",
            "seed": seed, "images": seen, "epochs": epochs, "train_minutes": minutes,
            "machine": machine() + "; float32", **score(out, fast=True)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="dsprites-like-32", choices=["dsprites-like-32", "dsprites-like"])
    p.add_argument("--models", nargs="+", default=list(FRAMEWORKS), choices=list(FRAMEWORKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--images", type=int, default=BUDGET, help="training images seen per model")
    a = p.parse_args()
    install()
    rows = load_rows()
    with tempfile.TemporaryDirectory() as tmp:
        for model_name in a.models:
            for seed in a.seeds:
                if any(r.get("implementation") == f"disent {VERSION}" and r["grid"] == a.grid
                       and r["model"] == model_name and r["seed"] == seed for r in rows):
                    continue
                rows.append(run_one(a.grid, model_name, seed, a.images, Path(tmp)))
                publish("disentangle", render(rows), {"rows": rows})


if __name__ == "__main__":
    main()
