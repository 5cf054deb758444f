"""The face VAE tutorial loop, written from the founding documents' description, as a baseline.

The seeds' CelebA VAE: images resized to 3x128x128; an encoder of four stride-2 Conv-BatchNorm-
LeakyReLU blocks (3-32-64-64-64) and two Linear(4096, 500) heads; a decoder Linear(500, 4096),
then four nearest-upsample x2 + conv blocks back to 3 channels, sigmoid; MSE(sum) + KL; Adam,
one-cycle learning rate (max 1e-3), batch 64, 5% of the images held out and evaluated each epoch.
The layers match vaekit's `--backbone conv` exactly (a LeakyReLU after the decoder's Linear, a
plain conv as the last block), so both do the same arithmetic. The loop is the usual one: a
per-item ``Dataset`` over the decoded images, a ``DataLoader`` (batch 64, shuffled), the default
NCHW layout and float32. Files are decoded once, before timing, so the loop is not charged for
JPEG decoding (the seeds' fastai pipeline decodes every file every epoch). Imports nothing from
vaekit.

    python benchmarks/tutorial_face_vae.py --folder faces/ --epochs 3 --out result.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Faces(Dataset):
    """One image per __getitem__: a decoded uint8 array -> float tensor (3, 128, 128) in [0, 1]."""

    def __init__(self, images: list[np.ndarray]):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i]).permute(2, 0, 1).float().div(255.0), 0


def read_folder(folder: Path) -> list[np.ndarray]:
    out = []
    for p in sorted(folder.rglob("*.jpg")):
        with Image.open(p) as im:
            out.append(np.asarray(ImageOps.fit(im.convert("RGB"), (128, 128), Image.Resampling.BILINEAR)))
    return out


def conv_layer(ni: int, nf: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ni, nf, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(nf),
                         nn.LeakyReLU(0.2))


class FaceVAE(nn.Module):
    def __init__(self, latent: int = 500):
        super().__init__()
        self.encoder = nn.Sequential(conv_layer(3, 32, 2), conv_layer(32, 64, 2), conv_layer(64, 64, 2),
                                     conv_layer(64, 64, 2), nn.Flatten())
        self.l1, self.l2 = nn.Linear(4096, latent), nn.Linear(4096, latent)
        self.project = nn.Linear(latent, 4096)
        up = nn.UpsamplingNearest2d
        self.decoder = nn.Sequential(up(scale_factor=2), conv_layer(64, 64), up(scale_factor=2),
                                     conv_layer(64, 64), up(scale_factor=2), conv_layer(64, 32),
                                     up(scale_factor=2), nn.Conv2d(32, 3, 3, padding=1))

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.l1(h), self.l2(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        d = F.leaky_relu(self.project(z), 0.2).view(-1, 64, 8, 8)
        return torch.sigmoid(self.decoder(d)), mu, logvar


def loss_function(recon, x, mu, logvar):
    mse = F.mse_loss(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return mse + kld


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    images = read_folder(args.folder)
    perm = np.random.default_rng(args.seed).permutation(len(images))
    n_val = round(0.05 * len(images))
    valid = Faces([images[i] for i in perm[:n_val]])
    train = Faces([images[i] for i in perm[n_val:]])
    train_loader = DataLoader(train, batch_size=64, shuffle=True)
    valid_loader = DataLoader(valid, batch_size=64)
    model = FaceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # fastai's fit_one_cycle(lr=1e-3): a quarter warming up from lr/25, cosine down to lr/25e5,
    # Adam's beta1 cycling 0.95 -> 0.85 -> 0.95
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, pct_start=0.25, div_factor=25.0,
                                                    final_div_factor=1e5,
                                                    total_steps=args.epochs * len(train_loader))
    seconds, train_losses, val_losses = [], [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        total = 0.0
        for x, _ in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_function(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
        model.eval()
        val = 0.0
        with torch.no_grad():
            for x, _ in valid_loader:
                recon, mu, logvar = model(x)
                val += loss_function(recon, x, mu, logvar).item()
        seconds.append(time.perf_counter() - t0)
        train_losses.append(total / len(train))
        val_losses.append(val / len(valid))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    args.out.write_text(json.dumps({"epoch_seconds": seconds, "train_loss": train_losses,
                                    "val_loss": val_losses, "peak_rss_bytes": peak, "images": len(images)}))


if __name__ == "__main__":
    main()
