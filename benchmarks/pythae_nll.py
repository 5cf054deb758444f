"""pythae 0.1.2's ``VAE.get_nll`` on a vaekit MLP VAE's weights, for time and agreement.

Runs in the benchmark's own environment (``benchmarks/.venv-pythae``), never in vaekit's:
benchmarks/iwae.py writes the weights (``torch.save`` of the state dict) and the model settings,
and the images as an (N, 784) .npy of 0/1 pixels.

    python benchmarks/pythae_nll.py weights.pt model.json x.npy --k 5000 --out result.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from torch import nn

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(widths: list[int], act: str, last_plain: bool) -> list[nn.Module]:
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if not (last_plain and i == len(widths) - 2):
            layers.append(ACT[act]())
    return layers


class Encoder(BaseEncoder):
    """vaekit's MLP encoder and head, with the same parameter names (encoder.net.*, head.*)."""

    def __init__(self, cfg: dict):
        super().__init__()
        pixels = math.prod(cfg["image_shape"])
        self.encoder = nn.Module()
        layers = mlp([pixels, *cfg["hidden"]], cfg["activation"], False)
        self.encoder.net = nn.Sequential(nn.Flatten(), *layers)
        self.head = nn.Linear(cfg["hidden"][-1], 2 * cfg["latent_dim"])

    def forward(self, x):
        mean, logvar = self.head(self.encoder.net(x)).chunk(2, dim=1)
        return ModelOutput(embedding=mean, log_covariance=logvar)


class Decoder(BaseDecoder):
    """vaekit's MLP decoder (decoder.net.*), with the sigmoid pythae's bce likelihood expects."""

    def __init__(self, cfg: dict):
        super().__init__()
        pixels = math.prod(cfg["image_shape"])
        widths = [cfg["latent_dim"], *reversed(cfg["hidden"]), pixels]
        self.decoder = nn.Module()
        self.decoder.net = nn.Sequential(*mlp(widths, cfg["activation"], True),
                                         nn.Unflatten(1, tuple(cfg["image_shape"])))

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.decoder.net(z)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("model_json")
    ap.add_argument("images")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cfg = json.loads(open(args.model_json).read())
    state = torch.load(args.weights)
    enc, dec = Encoder(cfg), Decoder(cfg)
    enc.load_state_dict({n: v for n, v in state.items() if n.startswith(("encoder.", "head."))})
    dec.load_state_dict({n: v for n, v in state.items() if n.startswith("decoder.")})
    model = VAE(VAEConfig(input_dim=tuple(cfg["image_shape"]), latent_dim=cfg["latent_dim"],
                          reconstruction_loss="bce"), encoder=enc, decoder=dec).eval()
    x = torch.from_numpy(np.load(args.images)).float().reshape(-1, *cfg["image_shape"])
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        log_p = model.get_nll(x, n_samples=args.k, batch_size=100)
    seconds = time.perf_counter() - t0
    # pythae leaves out the log(2 pi) terms of p(z) and q(z|x): they cancel, so none is missing
    json.dump({"nll": -float(log_p), "seconds": seconds, "images": len(x), "k": args.k},
              open(args.out, "w"))


if __name__ == "__main__":
    main()
