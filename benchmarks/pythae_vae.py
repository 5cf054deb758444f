"""pythae 0.1.2's VAE with the tutorial's layers (784-400-20, BCE), trained the way pythae's
documentation shows: ``TrainingPipeline(model, config)(train_data=..., eval_data=...)``, which
evaluates after every epoch as the tutorial loop does. Runs in the benchmark's own environment
(see speed.py), never in vaekit's.

    python benchmarks/pythae_vae.py --data-dir DIR --epochs 10 --out result.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
from pythae.trainers.training_callbacks import TrainingCallback
from torch import nn


class Encoder(BaseEncoder):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.mu = nn.Linear(400, 20)
        self.logvar = nn.Linear(400, 20)

    def forward(self, x):
        h = F.relu(self.fc1(x.reshape(-1, 784)))
        return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))


class Decoder(BaseDecoder):
    def __init__(self):
        super().__init__()
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, z):
        out = torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
        return ModelOutput(reconstruction=out.reshape(-1, 1, 28, 28))


class EpochTimer(TrainingCallback):
    def __init__(self):
        self.times, self.t0 = [], None

    def on_epoch_begin(self, training_config, **kwargs):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, training_config, **kwargs):
        self.times.append(time.perf_counter() - self.t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    d = Path(args.data_dir)
    train = torch.from_numpy(np.load(d / "train_images.npy")).float() / 255.0
    test = torch.from_numpy(np.load(d / "test_images.npy")).float() / 255.0
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        config = BaseTrainerConfig(output_dir=tmp, num_epochs=args.epochs, learning_rate=1e-3,
                                   per_device_train_batch_size=128,
                                   per_device_eval_batch_size=128, optimizer_cls="Adam",
                                   no_cuda=True, steps_saving=None, seed=args.seed)
        pipeline = TrainingPipeline(model=model, training_config=config)
        pipeline(train_data=train, eval_data=test, callbacks=[timer])
    model.eval()
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(test), 1000):
            x = test[s : s + 1000]
            # pythae's VAE loss is the batch mean of (recon BCE sum + KL) per image
            total += model({"data": x}).loss.item() * len(x)
    Path(args.out).write_text(json.dumps({"epoch_seconds": timer.times,
                                          "test_loss": [total / len(test)]}))


if __name__ == "__main__":
    main()
