"""Features for other algorithms: posterior means (never random draws), written as a table, and
how well they cluster and linearly separate the classes, next to PCA with as many dimensions.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch

from vaekit.datasets import ImageSet, Splits, to_float
from vaekit.errors import VaekitError
from vaekit.files import atomic_write
from vaekit.models.inference import encode

FORMATS = (".npy", ".csv", ".parquet")
PROBE_TRAIN = 20_000  # training images the linear probe sees at most (keeps it to seconds)


def encode_features(model, images: ImageSet) -> torch.Tensor:
    """Posterior means (N, D) float32 of every image: the deterministic features of a run."""
    return encode(model, images)[0]


SPLITS = ("test", "train", "all")


def feature_sets(run, data: str | None = None, split: str = "test") -> list[ImageSet]:
    """The image sets to encode: the run's own splits (``all`` = train, val and test), or
    another data set (name or folder) brought to the model's shape."""
    from vaekit import datasets
    from vaekit.errors import SettingError

    if split not in SPLITS:
        raise SettingError("split", f"one of {', '.join(SPLITS)}", split)
    if data is None:
        s = run.splits
        return {"test": [s.test], "train": [s.train], "all": [s.train, s.val, s.test]}[split]
    c, h, _ = run.model_config.image_shape
    loaded = datasets.load(data, h, c)
    test = loaded.test if loaded.test is not None else loaded.train
    return {"test": [test], "train": [loaded.train],
            "all": [loaded.train] + ([loaded.test] if loaded.test is not None else [])}[split]


def encode_sets(model, sets: list[ImageSet]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Posterior means of every image of ``sets`` (N, D), and their labels (N,) when all have them."""
    feats = torch.cat([encode_features(model, s) for s in sets])
    labels = [s.all_labels() for s in sets]
    return feats, (torch.cat(labels) if all(v is not None for v in labels) else None)


def check_format(path: str | Path) -> Path:
    """The features file's path, when its ending names a format ``write_features`` writes."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise VaekitError(f"{path}: expected a file ending in {', '.join(FORMATS)}", "output")
    return path


def write_features(features: torch.Tensor, labels: torch.Tensor | None, path: str | Path) -> Path:
    """Write features (N, D) -- and a ``label`` column when labels are given -- to .npy, .csv or
    .parquet (needs pyarrow), atomically. .npy holds the features only; labels go beside it as
    ``<stem>_labels.npy``."""
    path = check_format(path)
    suffix = path.suffix.lower()
    x = features.float().numpy()
    if suffix == ".npy":
        atomic_write(path, lambda p: _save_npy(p, x))
        if labels is not None:
            atomic_write(path.with_name(path.stem + "_labels.npy"), lambda p: _save_npy(p, labels.numpy()))
        return path
    names = [f"z{i}" for i in range(x.shape[1])]
    if suffix == ".csv":
        buf = io.StringIO()
        head = names + (["label"] if labels is not None else [])
        buf.write(",".join(head) + "\n")
        table = x if labels is None else np.column_stack([x, labels.numpy()])
        fmt = ["%.6g"] * x.shape[1] + (["%d"] if labels is not None else [])
        np.savetxt(buf, table, fmt=fmt, delimiter=",")
        return atomic_write(path, buf.getvalue())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise VaekitError(f"{path}: writing parquet needs pyarrow (pip install pyarrow), or use "
                          ".npy or .csv", "output") from None
    cols = {n: x[:, i] for i, n in enumerate(names)}
    if labels is not None:
        cols["label"] = labels.numpy()
    table = pa.table(cols)
    return atomic_write(path, lambda p: pq.write_table(table, str(p)))


def cluster_study(model, splits: Splits, k: int, seed: int = 0) -> dict:
    """k-means and a linear probe on the run's features vs PCA features of the same size.

    Both feature maps are fitted on the training split; k-means (``k`` clusters, 10 restarts)
    runs on the test split's features and is scored against its labels with NMI and ARI; the
    probe is a logistic regression trained on up to 20,000 training images' features and scored
    by test accuracy. Returns {"vae" or "ae": {...}, "pca": {...}, "protocol": ...}.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.preprocessing import StandardScaler

    train_y, test_y = splits.train.all_labels(), splits.test.all_labels()
    if test_y is None or train_y is None:
        raise VaekitError("cluster: the run's data has no labels to score clusters against")
    d = model.latent_dim
    gen = np.random.default_rng(seed)
    probe_idx = np.sort(gen.permutation(len(splits.train))[:PROBE_TRAIN])
    probe_set = splits.train.subset(probe_idx)
    probe_pixels = _flat(probe_set)  # (n, C*H*W), used to fit PCA and then transformed by it
    pca = PCA(n_components=d, random_state=seed).fit(probe_pixels)
    feats = {
        model.config.model: (encode_features(model, probe_set).numpy(),
                             encode_features(model, splits.test).numpy()),
        "pca": (pca.transform(probe_pixels), pca.transform(_flat(splits.test))),
    }
    out = {}
    for name, (train_f, test_f) in feats.items():
        t0 = time.perf_counter()
        clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(test_f)
        scaler = StandardScaler().fit(train_f)
        probe = LogisticRegression(max_iter=1000).fit(scaler.transform(train_f), train_y[probe_idx].numpy())
        accuracy = float((probe.predict(scaler.transform(test_f)) == test_y.numpy()).mean())
        out[name] = {"nmi": float(normalized_mutual_info_score(test_y.numpy(), clusters)),
                     "ari": float(adjusted_rand_score(test_y.numpy(), clusters)),
                     "probe_accuracy": accuracy, "seconds": time.perf_counter() - t0}
    out["protocol"] = (f"{d}-d features: posterior means vs PCA fitted on {len(probe_idx)} training "
                       f"images; k-means (k={k}, 10 restarts, seed {seed}) on the {len(splits.test)} "
                       "test images, NMI/ARI against their labels; linear probe = logistic regression "
                       "on standardised training features, test accuracy")
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a temporary name
        np.save(f, array)


def _flat(images: ImageSet) -> np.ndarray:
    return to_float(images.all_images()).flatten(1).numpy()
