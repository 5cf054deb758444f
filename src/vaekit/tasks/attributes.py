"""Attribute directions: where "glasses", "a beard" or "a woman" lies in a run's latent space.

From images labelled for named attributes (vaekit.datasets.labels), each attribute gets, in the
space of posterior means (D,):

    direction  the mean code of the images with the attribute minus the mean code of those
               without: adding it to a code adds the attribute, subtracting it takes it away
    probe      a logistic regression from codes to the attribute (balanced classes); its weights
               are a second direction, its held-out balanced accuracy (4-fold cross-validation:
               every image scored by a probe that did not see it) says how plainly the codes hold
               the attribute, and ``Run.describe`` scores new images with it

and a check of the direction: walking from the average code along it, each decoded face is
encoded again and the probe's logit read; the walk is *monotonic* when the logit never falls.

A numeric attribute (values other than 0 and 1) is split at its median: above is "has it".
"""

from __future__ import annotations

import numpy as np
import sklearn
import torch

from vaekit.datasets.labels import Labels
from vaekit.errors import VaekitError

FOLDS = 4  # cross-validation folds of the probe's held-out accuracy
# The probe's inverse regularisation: of 0.01, 0.1, 1 and 10, 10 held out best on face VAEs of
# the ORL faces (five seeds; a small attribute such as glasses needs the weaker penalty)
PROBE_C = 10.0
WALK = np.linspace(-1.5, 1.5, 9)  # the check's steps, in units of the direction


def attribute_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labelled (N,) bool, has-it (N,) bool) for one attribute's values (NaN = unlabelled)."""
    labelled = ~np.isnan(values)
    v = values[labelled]
    binary = np.isin(v, (0.0, 1.0)).all()
    has = np.zeros(len(values), bool)
    has[labelled] = v > 0.5 if binary else v > np.median(v)
    return labelled, has


def fit_probe(codes: np.ndarray, has: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """A balanced logistic regression on codes (N, D) standardised; returns its weights and bias
    in the raw code space ((D,), scalar), so logit = codes @ w + b."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = codes.mean(0), codes.std(0) + 1e-8
    clf = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit((codes - mean) / scale, has)
    w = clf.coef_[0] / scale
    return w, float(clf.intercept_[0] - (w * mean).sum())


def balanced_accuracy(logits: np.ndarray, has: np.ndarray) -> float:
    """The mean of the accuracies on images with and without the attribute."""
    pred = logits > 0
    return float((pred[has].mean() + (~pred[~has]).mean()) / 2)


def fold_of(has: np.ndarray, seed: int, folds: int = FOLDS) -> np.ndarray:
    """(N,) int: each image's cross-validation fold, dealt in turn within each group (with and
    without the attribute) after a seeded shuffle, so every fold holds both in proportion."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(has), np.int64)
    for group in (np.flatnonzero(has), np.flatnonzero(~has)):
        fold[rng.permutation(group)] = np.arange(len(group)) % folds
    return fold


def held_out_logits(codes: np.ndarray, has: np.ndarray, seed: int) -> np.ndarray:
    """(N,) each image's probe logit from a probe fitted on the other folds."""
    fold, logits = fold_of(has, seed), np.empty(len(has))
    for k in range(FOLDS):
        w, b = fit_probe(codes[fold != k], has[fold != k], seed)
        logits[fold == k] = codes[fold == k] @ w + b
    return logits


def find_directions(model, images: torch.Tensor, labels: Labels, seed: int = 0) -> dict:
    """Each attribute's direction, probe and checks, from images (N, C, H, W) in [0, 1] whose
    attribute values are ``labels.values`` (N, A). The result is what ``Run.attributes`` reads."""
    from vaekit.models.inference import decode, encode

    if model.conditional:
        raise VaekitError("attribute directions need a model that encodes an image alone; this run is "
                          "conditional on its class", "labels")
    codes = encode(model, images)[0].double().numpy()
    centre = codes.mean(0)
    out = {}
    for j, name in enumerate(labels.names):
        labelled, has_all = attribute_groups(labels.values[:, j])
        z, has = codes[labelled], has_all[labelled]
        n_has, n_not = int(has.sum()), int((~has).sum())
        if min(n_has, n_not) < FOLDS:
            raise VaekitError(f"{labels.source}: attribute {name}: expected at least {FOLDS} images with it "
                              f"and {FOLDS} without, found {n_has} and {n_not}", "labels")
        accuracy = balanced_accuracy(held_out_logits(z, has, seed), has)
        w, b = fit_probe(z, has, seed)  # the stored probe sees every labelled image
        direction = z[has].mean(0) - z[~has].mean(0)
        walk = torch.from_numpy(centre + WALK[:, None] * direction).float()
        again = encode(model, decode(model, walk))[0].double().numpy()
        logits = again @ w + b
        out[name] = {
            "direction": direction.tolist(), "probe": {"weights": w.tolist(), "bias": b},
            "with": n_has, "without": n_not,
            "held_out": {"balanced_accuracy": accuracy, "folds": FOLDS},
            "walk": {"steps": WALK.tolist(), "logits": logits.tolist(),
                     "monotonic": bool((np.diff(logits) >= 0).all())},
        }
    return {"source": labels.source, "centre": centre.tolist(), "attributes": out,
            "protocol": (f"posterior means; direction = mean(with) - mean(without); probe = balanced "
                         f"logistic regression (C={PROBE_C:g}, standardised codes), held-out balanced "
                         f"accuracy by {FOLDS}-fold cross-validation (seed {seed}); "
                         f"scikit-learn {sklearn.__version__}")}


def attribute_walk(model, attributes: dict, name: str, base: torch.Tensor | None = None, span: float = 1.5,
                   steps: int = 9) -> torch.Tensor:
    """Decode a walk along one attribute's direction: (steps, C, H, W) in [0, 1], from ``base``
    (a code (D,); default the average labelled code) minus ``span`` directions to plus ``span``."""
    from vaekit.models.inference import decode

    direction = torch.tensor(attributes["attributes"][name]["direction"])
    start = torch.tensor(attributes["centre"]) if base is None else base.double().cpu()
    t = torch.linspace(-span, span, steps, dtype=torch.float64)[:, None]
    return decode(model, (start + t * direction).float())


def labelled_images(run, labels: Labels) -> torch.Tensor:
    """The images ``labels`` speaks of, fitted to the run's model: (N, C, H, W) in [0, 1]."""
    from vaekit.datasets import to_float
    from vaekit.datasets.images import load_images

    if labels.paths is not None:
        return load_images(labels.paths, run.model_config.image_shape)
    train = run.data.train
    if labels.index.max() >= len(train):
        raise VaekitError(f"{labels.source}: column index: expected places among the {len(train)} training "
                          f"images of {run.settings.data}, found {int(labels.index.max())}", "labels")
    return to_float(train.take(torch.from_numpy(labels.index)))


def find_attributes(run, labels: str | None = None, seed: int = 0, log=print) -> dict:
    """Find each labelled attribute's direction for ``run`` (a Run) and store it in the run:
    attributes.json (``Run.attributes``) and attributes.png (a walk along each direction).

    labels: a CSV or a folder of attribute sub-folders (vaekit.datasets.labels); default: the
    labels shipped with the run's built-in data set.
    """
    from vaekit.datasets.labels import builtin_labels, read_labels
    from vaekit.files import write_json
    from vaekit.report.plots import labelled_strips
    from vaekit.run import layout

    if labels is None:
        labels = builtin_labels(run.settings.data)
        if labels is None:
            raise VaekitError(f"expected a labels CSV or folder; {run.settings.data} ships none", "labels")
    table = read_labels(labels)
    model = run.model
    result = find_directions(model, labelled_images(run, table), table, seed)
    names = list(result["attributes"])
    strips = torch.cat([attribute_walk(model, result, n, steps=len(WALK)) for n in names])
    tags = [f"{n} (held-out {a['held_out']['balanced_accuracy']:.2f})"
            for n, a in result["attributes"].items()]
    labelled_strips(strips, len(WALK), tags, run.path / layout.ATTRIBUTE_WALKS,
                    f"each attribute from -{WALK[-1]:g} to +{WALK[-1]:g} directions, from the average face")
    write_json(run.path / layout.ATTRIBUTES, result)
    for n, a in result["attributes"].items():
        walk = "monotonic" if a["walk"]["monotonic"] else "not monotonic"
        log(f"{n}: {a['with']} with / {a['without']} without; held-out probe balanced accuracy "
            f"{a['held_out']['balanced_accuracy']:.3f}; walk {walk}")
    return result
