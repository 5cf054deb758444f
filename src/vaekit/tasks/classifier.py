"""A small reference classifier per data set, whose features score generated images.

Trained once on a data set's training split and cached under ``$VAEKIT_DATA/classifiers/`` as
safetensors + JSON (its test accuracy included), like every other vaekit artifact. Its 128-d
penultimate features give the Fréchet distance between real and generated images (the idea of
FID, with a network that knows this data set), and its softmax gives the confidence on samples.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from vaekit.datasets import Dataset, ImageSet, to_float
from vaekit.datasets.store import data_root
from vaekit.files import atomic_write, write_json
from vaekit.tasks.metrics import frechet_from_stats

FEATURES = 128


class _Pool(nn.AdaptiveAvgPool2d):
    """Adaptive average pooling that passes a map already of its output size through: torch's
    kernel copies it anyway (27 ms for 1,000 MNIST images' 64x7x7 maps on 2 cores, as long as the
    two convolutions before it), and the average of one value is that value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if tuple(x.shape[-2:]) == tuple(self.output_size) else super().forward(x)


class ReferenceNet(nn.Module):
    """Two stride-2 convolutions and a 128-unit layer: (B, C, H, W) -> features (B, 128), logits."""

    def __init__(self, image_shape: tuple[int, int, int], classes: int):
        super().__init__()
        c, h, w = image_shape
        self.conv = nn.Sequential(nn.Conv2d(c, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1),
                                  nn.ReLU(), _Pool((min(7, h), min(7, w))), nn.Flatten())
        self.features = nn.Sequential(nn.Linear(64 * min(7, h) * min(7, w), FEATURES), nn.ReLU())
        self.out = nn.Linear(FEATURES, classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, 128) features."""
        return self.features(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))


class ReferenceClassifier:
    """A trained ReferenceNet with its test accuracy; ``features`` and ``probabilities`` batch."""

    def __init__(self, net: ReferenceNet, info: dict):
        self.net = net.eval()
        self.info = info

    @property
    def test_accuracy(self) -> float:
        """Accuracy on the data set's test split (or held-out part) when it was trained."""
        return self.info["test_accuracy"]

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """(N, C, H, W) float in [0, 1] -> (N, 128)."""
        return torch.cat([self.net.embed(images[s : s + batch_size].float())
                          for s in range(0, len(images), batch_size)])

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """(N, C, H, W) float in [0, 1] -> (N, classes) softmax."""
        return torch.cat([F.softmax(self.net(images[s : s + batch_size].float()), 1)
                          for s in range(0, len(images), batch_size)])

    def reference(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (128,) and covariance (128, 128) of real images' features, float64: computed once,
        then compared with any number of generated sets by ``judge``."""
        feats = self.features(real).double()
        return feats.mean(0), torch.cov(feats.T)

    @torch.no_grad()
    def judge(self, reference: tuple[torch.Tensor, torch.Tensor], generated: torch.Tensor,
              batch_size: int = 1000) -> dict:
        """One pass over generated images (N, C, H, W) in [0, 1]: their Fréchet distance to the
        ``reference`` set, the classifier's mean top-class probability ("confidence"), and the
        share of them it assigns to each class ("shares", (classes,) float64)."""
        feats, probs = [], []
        for s in range(0, len(generated), batch_size):
            f = self.net.embed(generated[s : s + batch_size].float())  # (B, 128)
            feats.append(f)
            probs.append(F.softmax(self.net.out(f), 1))
        feats, probs = torch.cat(feats).double(), torch.cat(probs)
        top = probs.max(1)
        shares = torch.bincount(top.indices, minlength=probs.shape[1]).double() / max(1, len(probs))
        return {"frechet": frechet_from_stats(*reference, feats.mean(0), torch.cov(feats.T)),
                "confidence": float(top.values.mean()), "shares": shares}


def _cache_stem(name: str, shape: tuple[int, int, int]) -> str:
    tag = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.split("/")[-1])[:40]
    digest = hashlib.sha256(f"{name}|{shape}".encode()).hexdigest()[:10]
    return f"{tag}-{shape[0]}x{shape[1]}x{shape[2]}-{digest}"


MAX_EPOCHS = 300


def reference_classifier(data: Dataset, train: ImageSet, test: ImageSet, seed: int = 0,
                         log=None) -> ReferenceClassifier | None:
    """The cached classifier for ``data`` at its image shape, trained first if needed.

    Returns None for unlabelled data. Training: Adam 1e-3, batch 128, enough epochs for at least
    1500 updates (3 on MNIST) but at most 300, on ``train``; accuracy measured on ``test``.
    """
    if train.labels is None or not data.class_names:
        return None
    log = log or (lambda m: print(m, file=sys.stderr))
    shape, classes = train.shape, len(data.class_names)
    stem = data_root() / "classifiers" / _cache_stem(data.name, shape)
    weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if weights.is_file() and meta.is_file():
        net = ReferenceNet(shape, classes)
        net.load_state_dict(load_file(str(weights)))
        return ReferenceClassifier(net, json.loads(meta.read_text()))
    log(f"training the reference classifier for {data.name} (once; cached in {stem.parent}) ...")
    # Seeded initialisation and order, without disturbing the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ReferenceNet(shape, classes)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        steps_per_epoch = math.ceil(len(train) / 128)
        # 1500 updates, but no more than MAX_EPOCHS passes: a few hundred images are learnt long
        # before 1500 passes over them (a 16-image folder took 8 s for nothing)
        epochs = min(MAX_EPOCHS, max(3, math.ceil(1500 / steps_per_epoch)))
        labels = train.all_labels()
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(train), generator=gen)
            for s in range(0, len(train), 128):
                idx = order[s : s + 128]
                loss = F.cross_entropy(net(to_float(train.take(idx))), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    net.eval()
    clf = ReferenceClassifier(net, {})
    test_x, test_y = to_float(test.all_images()), test.all_labels()
    accuracy = float((clf.probabilities(test_x).argmax(1) == test_y).double().mean())
    info = {"data": data.name, "image_shape": list(shape), "classes": classes, "epochs": epochs,
            "test_accuracy": accuracy, "test_images": len(test)}
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    atomic_write(weights, lambda p: save_file(state, str(p)))
    write_json(meta, info)
    log(f"reference classifier: test accuracy {accuracy:.3f}")
    clf.info = info
    return clf
