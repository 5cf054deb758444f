"""The tutorial VAE loop, written from the description of pytorch/examples `vae`, as a baseline.

Per-item Dataset (each image converted on its own, as torchvision's MNIST + ToTensor does) and a
DataLoader; batch 128; Adam(lr=1e-3) with PyTorch's default settings; sigmoid output with
BCE(sum) + KL; 784-400-20 fully connected. Imports nothing from vaekit except the cached arrays.

    python benchmarks/tutorial_vae.py --data mnist --epochs 10 --out result.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset


class IDXImages(Dataset):
    """One image per __getitem__: uint8 array -> PIL image -> float tensor in [0, 1]."""

    def __init__(self, images: np.ndarray):
        self.images = images  # (N, 28, 28) uint8

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i], mode="L")
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None], 0


class TutorialVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def loss_function(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", required=True, help="vaekit's cache folder of the data set")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    d = Path(args.data_dir)
    train = IDXImages(np.load(d / "train_images.npy")[:, 0])
    test = IDXImages(np.load(d / "test_images.npy")[:, 0])
    train_loader = DataLoader(train, batch_size=128, shuffle=True)
    test_loader = DataLoader(test, batch_size=128, shuffle=False)
    model = TutorialVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    epoch_seconds, test_losses = [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        for x, _ in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_function(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - t0)
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test_loader:
                recon, mu, logvar = model(x)
                total += loss_function(recon, x, mu, logvar).item()
        test_losses.append(total / len(test))
    Path(args.out).write_text(json.dumps({"epoch_seconds": epoch_seconds, "test_loss": test_losses}))


if __name__ == "__main__":
    main()
