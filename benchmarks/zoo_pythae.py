"""One model of the zoo leaderboard, pythae 0.1.2's implementation, with the leaderboard's
networks (784-400-16, ReLU) and budget. Runs in the benchmark's own environment (see speed.py),
never in vaekit's; zoo.py scores what it writes with vaekit's reference classifier.

    python benchmarks/zoo_pythae.py --data-dir DIR --model vae --epochs 10 --seed 0 --out out.npz

Writes: test reconstructions, 10,000 prior samples (the model's own sampler: N(0, I), the VAMP
sampler, or a PixelCNN for the VQ-VAE), 10,000 samples of a 10-component Gaussian mixture
fitted to the training codes, test posterior means, IS-NLL (k=1000) of the first 1,000 test
images for the models pythae gives a likelihood, and seconds per training epoch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pythae import models as pm
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.samplers import (
    GaussianMixtureSampler,
    GaussianMixtureSamplerConfig,
    NormalSampler,
    PixelCNNSampler,
    PixelCNNSamplerConfig,
    VAMPSampler,
)
from pythae.trainers import BaseTrainerConfig, CoupledOptimizerTrainerConfig
from pythae_vae import EpochTimer  # the speed benchmark's, in the same environment
from torch import nn

LATENT, HIDDEN, PIXELS = 16, 400, 784
SAMPLES, NLL_K = 10_000, 1_000


class Encoder(BaseEncoder):
    """784-400-16 with ReLU: a mean (and a log-variance for the variational models)."""

    def __init__(self, variational: bool):
        super().__init__()
        self.fc = nn.Linear(PIXELS, HIDDEN)
        self.mu = nn.Linear(HIDDEN, LATENT)
        self.logvar = nn.Linear(HIDDEN, LATENT) if variational else None

    def forward(self, x):
        h = F.relu(self.fc(x.reshape(-1, PIXELS)))
        if self.logvar is None:
            return ModelOutput(embedding=self.mu(h))
        return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))


class Decoder(BaseDecoder):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(LATENT, HIDDEN)
        self.out = nn.Linear(HIDDEN, PIXELS)

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.out(F.relu(self.fc(z)))).reshape(-1, 1, 28, 28))


def build(name: str):
    """The pythae model matching the leaderboard's vaekit entry of the same name."""
    dims = {"input_dim": (1, 28, 28), "latent_dim": LATENT}
    bce = {**dims, "reconstruction_loss": "bce"}
    variational = name not in ("ae", "wae", "rae", "vqvae")
    table = {
        "vae": lambda: pm.VAE(pm.VAEConfig(**bce)),
        "beta-vae": lambda: pm.BetaVAE(pm.BetaVAEConfig(**bce, beta=4.0)),
        "iwae": lambda: pm.IWAE(pm.IWAEConfig(**bce, number_samples=5)),
        # pythae's beta weighs the total correlation, alpha the index-code MI, gamma the
        # dimension-wise KL: vaekit's tcvae with beta 1 and tc_weight 6
        "tcvae": lambda: pm.BetaTCVAE(pm.BetaTCVAEConfig(**bce, alpha=1.0, beta=6.0, gamma=1.0)),
        # loss = recon + (1 - alpha) KL + (alpha + lbd - 1) MMD: alpha 1, lbd 1000 is vaekit's
        # mmd objective with beta 0 and mmd_weight 1000 (the MMD-VAE)
        "mmd-vae": lambda: pm.INFOVAE_MMD(
            pm.INFOVAE_MMD_Config(**bce, alpha=1.0, lbd=1000.0, kernel_choice="imq")
        ),
        "vamp": lambda: pm.VAMP(pm.VAMPConfig(**bce, number_components=500)),
        # the AE family is squared error only in pythae; vaekit runs them with --loss mse too
        "ae": lambda: pm.AE(pm.AEConfig(**dims)),
        "wae": lambda: pm.WAE_MMD(pm.WAE_MMD_Config(**dims, kernel_choice="imq", reg_weight=1000.0)),
        # embedding_weight: vaekit's beta on |z|^2 / 2; pythae applies reg_weight as the decoder
        # optimiser's weight decay (gradient reg_weight * w), vaekit's decoder_l2 as a penalty
        # decoder_l2 * |w|^2 (gradient 2 * decoder_l2 * w): 2e-4 matches decoder_l2 1e-4
        "rae": lambda: pm.RAE_L2(pm.RAE_L2_Config(**dims, embedding_weight=1.0, reg_weight=2e-4)),
        # pythae's default codebook loss, not its EMA quantizer: its PixelCNN sampler fails on an
        # EMA model ("'Tensor' object is not callable", pixelcnn_sampler.py line 200)
        "vqvae": lambda: pm.VQVAE(pm.VQVAEConfig(**dims, num_embeddings=512, commitment_loss_factor=0.25)),
    }
    model = table[name]()
    model.set_encoder(Encoder(variational))
    model.set_decoder(Decoder())
    return model, variational


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--prior-epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nll-images", type=int, default=1000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    d = Path(args.data_dir)
    train = torch.from_numpy(np.load(d / "train_images.npy")).float().div(255.0).reshape(-1, 1, 28, 28)
    test = torch.from_numpy(np.load(d / "test_images.npy")).float().div(255.0).reshape(-1, 1, 28, 28)
    model, variational = build(args.model)
    timer = EpochTimer()
    budget = dict(
        num_epochs=args.epochs,
        learning_rate=1e-3,
        per_device_train_batch_size=128,
        per_device_eval_batch_size=128,
        no_cuda=True,
        steps_saving=None,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "rae":
            config = CoupledOptimizerTrainerConfig(output_dir=tmp, **budget)
        else:
            config = BaseTrainerConfig(output_dir=tmp, optimizer_cls="Adam", **budget)
        TrainingPipeline(model=model, training_config=config)(
            train_data=train, eval_data=None, callbacks=[timer]
        )
        model.eval()
        out: dict = {"epoch_seconds": np.array(timer.times)}
        with torch.no_grad():
            recon, means = [], []
            for s in range(0, len(test), 1000):
                o = model({"data": test[s : s + 1000]})
                recon.append(o.recon_x.reshape(-1, PIXELS))
                means.append(model.encoder(test[s : s + 1000]).embedding)
        out["recon"] = torch.cat(recon).numpy().astype(np.float32)
        out["means"] = torch.cat(means).numpy()
        started = time.perf_counter()
        if args.model == "vqvae":
            prior = PixelCNNSampler(model, PixelCNNSamplerConfig())
            prior.fit(
                train,
                training_config=BaseTrainerConfig(
                    output_dir=tmp,
                    num_epochs=args.prior_epochs,
                    learning_rate=1e-3,
                    per_device_train_batch_size=128,
                    no_cuda=True,
                    steps_saving=None,
                    seed=args.seed,
                ),
            )
        elif args.model == "vamp":
            prior = VAMPSampler(model)
        else:
            prior = NormalSampler(model)
        out["prior_fit_seconds"] = time.perf_counter() - started
        out["prior"] = prior.sample(num_samples=SAMPLES, batch_size=1000).reshape(-1, PIXELS).numpy()
        gmm = GaussianMixtureSampler(model, GaussianMixtureSamplerConfig(n_components=10))
        gmm.fit(train)
        out["gmm"] = gmm.sample(num_samples=SAMPLES, batch_size=1000).reshape(-1, PIXELS).numpy()
        if variational and hasattr(model, "get_nll"):
            started = time.perf_counter()
            with torch.no_grad():
                nll = model.get_nll(test[: args.nll_images], n_samples=NLL_K, batch_size=NLL_K)
                out["nll"] = np.array([nll])
            out["nll_seconds"] = time.perf_counter() - started
    np.savez(args.out, **out)


if __name__ == "__main__":
    main()
