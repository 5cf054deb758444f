"""Disentanglement metrics: does one latent dimension capture one factor of the data?

Five scores, by disentanglement_lib's definitions and protocol sizes (Locatello et al. 2019),
each computed on the posterior mean of images drawn from a data set with known factors
(vaekit.datasets.factors):

    beta_vae      Higgins et al. 2017: from pairs of batches sharing one factor, a logistic
                  regression on the mean |z1 - z2| names the shared factor; its held-out accuracy
    factor_vae    Kim & Mnih 2018: in a batch sharing one factor, the dimension whose variance
                  (over its global variance) is smallest votes for that factor; the accuracy of
                  a majority-vote classifier on held-out votes
    mig           Chen et al. 2018: per factor, the gap between the two largest mutual
                  informations with a latent dimension (codes in 20-bin histograms), over the
                  factor's entropy; averaged
    sap           Kumar et al. 2018: per factor, the gap between the two best held-out accuracies
                  of a linear SVM on one dimension; averaged
    dci           Eastwood & Williams 2018: gradient-boosted trees' feature importances give
                  disentanglement (each dimension for one factor), completeness (each factor in
                  one dimension) and informativeness (held-out accuracy)

``FAST`` shrinks the sample sizes (stated in every result) for a quick look on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

Represent = Callable[[np.ndarray], np.ndarray]  # factor indices (N, K) -> codes (N, D)


@dataclass(frozen=True)
class Sizes:
    """How many points each metric samples (disentanglement_lib's ``metric_configs``)."""

    batch: int = 64  # images sharing a factor, for beta_vae and factor_vae
    beta_vae_train: int = 10_000
    beta_vae_eval: int = 5_000
    factor_vae_variance: int = 10_000
    factor_vae_train: int = 10_000
    factor_vae_eval: int = 5_000
    factor_vae_threshold: float = 0.05  # dimensions whose global std is below this are collapsed
    mig: int = 10_000
    mig_bins: int = 20
    sap_train: int = 10_000
    sap_test: int = 5_000
    dci_train: int = 10_000
    dci_test: int = 5_000


DLIB = Sizes()
FAST = Sizes(beta_vae_train=1_000, beta_vae_eval=500, factor_vae_variance=5_000, factor_vae_train=1_000,
             factor_vae_eval=500, mig=5_000, sap_train=2_000, sap_test=1_000, dci_train=2_000, dci_test=1_000)


def _codes(represent: Represent, factors: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Codes (N, D) float64 of factor rows (N, K), a chunk at a time."""
    return np.concatenate([np.asarray(represent(factors[s : s + chunk]), dtype=np.float64)
                           for s in range(0, len(factors), chunk)])


def _sharing(data, n: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` batches of ``batch`` factor draws that share one factor each: (which factor (n,),
    factors (n, batch, K)), the shared factor's value taken from each batch's first draw."""
    which = rng.integers(0, len(data.sizes), n)
    factors = data.sample_factors(n * batch, rng).reshape(n, batch, -1)
    rows = np.arange(n)
    factors[rows, :, which] = factors[rows, :1, which]
    return which, factors


def beta_vae_score(data, represent: Represent, sizes: Sizes, rng: np.random.Generator) -> dict:
    """Held-out accuracy of a logistic regression naming the shared factor from mean |z1 - z2|."""
    from sklearn.linear_model import LogisticRegression

    def points(n):  # pairs of draws sharing one factor (a value per pair), a batch of pairs per point
        which = rng.integers(0, len(data.sizes), n)
        first = data.sample_factors(n * sizes.batch, rng).reshape(n, sizes.batch, -1)
        second = data.sample_factors(n * sizes.batch, rng).reshape(first.shape)
        rows = np.arange(n)
        second[rows, :, which] = first[rows, :, which]
        z1 = _codes(represent, first.reshape(-1, first.shape[-1])).reshape(n, sizes.batch, -1)
        z2 = _codes(represent, second.reshape(-1, first.shape[-1])).reshape(n, sizes.batch, -1)
        return np.abs(z1 - z2).mean(1), which

    x, y = points(sizes.beta_vae_train)
    model = LogisticRegression(random_state=int(rng.integers(2**31))).fit(x, y)
    x_eval, y_eval = points(sizes.beta_vae_eval)
    return {"score": float(model.score(x_eval, y_eval)), "train_accuracy": float(model.score(x, y))}


def factor_vae_score(data, represent: Represent, sizes: Sizes, rng: np.random.Generator) -> dict:
    """Accuracy of the majority vote from "the dimension of least normalised variance" to the
    factor held fixed, on held-out batches; 0 when every dimension has collapsed."""
    variances = _codes(represent, data.sample_factors(sizes.factor_vae_variance, rng)).var(0, ddof=1)
    active = np.flatnonzero(np.sqrt(variances) >= sizes.factor_vae_threshold)
    if not len(active):
        return {"score": 0.0, "train_accuracy": 0.0, "active_dims": 0}

    def votes(n):
        which, factors = _sharing(data, n, sizes.batch, rng)
        z = _codes(represent, factors.reshape(-1, factors.shape[-1])).reshape(n, sizes.batch, -1)
        least = active[np.argmin(z[:, :, active].var(1, ddof=1) / variances[active], 1)]
        table = np.zeros((len(data.sizes), len(variances)), dtype=np.int64)
        np.add.at(table, (which, least), 1)
        return table  # (K, D): how often dimension d was least variable with factor k fixed

    train = votes(sizes.factor_vae_train)
    vote = train.argmax(0)  # each dimension's factor
    held = votes(sizes.factor_vae_eval)
    cols = np.arange(train.shape[1])
    return {"score": float(held[vote, cols].sum() / held.sum()),
            "train_accuracy": float(train[vote, cols].sum() / train.sum()), "active_dims": int(len(active))}


def histogram_bins(codes: np.ndarray, bins: int) -> np.ndarray:
    """Each dimension of codes (N, D) cut into ``bins`` equal-width bins over its range: (N, D) int."""
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], bins)[1][:-1]
        out[:, d] = np.digitize(codes[:, d], edges)
    return out


def mutual_information(codes_binned: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information in nats between each binned dimension and each factor: (D, K)."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(factors[:, k], codes_binned[:, d]) for k in range(factors.shape[1])]
                     for d in range(codes_binned.shape[1])])


def mig(data, represent: Represent, sizes: Sizes, rng: np.random.Generator) -> dict:
    """Mutual information gap, and the (D, K) mutual-information matrix it comes from."""
    factors = data.sample_factors(sizes.mig, rng)
    return mig_of(_codes(represent, factors), factors, sizes.mig_bins)


def mig_of(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> dict:
    """MIG of codes (N, D) for factor indices (N, K)."""
    from sklearn.metrics import mutual_info_score

    info = mutual_information(histogram_bins(codes, bins), factors)
    entropy = np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])
    top = np.sort(info, 0)[::-1]
    gaps = (top[0] - top[1]) / entropy if len(top) > 1 else top[0] / entropy
    return {"score": float(gaps.mean()), "per_factor": gaps.tolist(), "mutual_information": info.tolist(),
            "factor_entropy": entropy.tolist()}


def sap(data, represent: Represent, sizes: Sizes, rng: np.random.Generator) -> dict:
    """Separated attribute predictability for discrete factors: per factor, the gap between the
    two best held-out accuracies of a linear SVM (C = 0.01, balanced) on one dimension."""
    train = data.sample_factors(sizes.sap_train, rng)
    test = data.sample_factors(sizes.sap_test, rng)
    return sap_of(_codes(represent, train), train, _codes(represent, test), test)


def sap_of(z: np.ndarray, train: np.ndarray, z_test: np.ndarray, test: np.ndarray,
           continuous: bool = False) -> dict:
    """SAP of codes (N, D) for factors (N, K), a classifier per pair trained on ``z`` and scored
    on ``z_test``; continuous: the squared correlation of each pair instead (factors as numbers)."""
    from sklearn.svm import LinearSVC

    scores = np.zeros((z.shape[1], train.shape[1]))
    for d in range(z.shape[1]):
        for k in range(train.shape[1]):
            if continuous:
                c = np.cov(z[:, d], train[:, k], ddof=1)
                scores[d, k] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
                continue
            svm = LinearSVC(C=0.01, class_weight="balanced").fit(z[:, d : d + 1], train[:, k])
            scores[d, k] = np.mean(svm.predict(z_test[:, d : d + 1]) == test[:, k])
    top = np.sort(scores, 0)
    return {"score": float(np.mean(top[-1] - top[-2])) if len(top) > 1 else 0.0, "accuracy": scores.tolist()}


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """1 - the entropy (in base ``base``) of each column of non-negative weights ``p``."""
    q = (p + 1e-11) / (p + 1e-11).sum(0)
    return 1.0 - (-(q * np.log(q)).sum(0) / np.log(base))


def dci(data, represent: Represent, sizes: Sizes, rng: np.random.Generator) -> dict:
    """Disentanglement, completeness and informativeness from gradient-boosted trees' feature
    importances (D, K), one classifier per factor (scikit-learn's defaults)."""
    train = data.sample_factors(sizes.dci_train, rng)
    test = data.sample_factors(sizes.dci_test, rng)
    return dci_of(_codes(represent, train), train, _codes(represent, test), test, int(rng.integers(2**31)))


def dci_of(z: np.ndarray, train: np.ndarray, z_test: np.ndarray, test: np.ndarray,
           seed: int | None = 0) -> dict:
    """DCI of codes (N, D) for factors (N, K), trees trained on ``z`` and scored on ``z_test``."""
    from sklearn.ensemble import GradientBoostingClassifier

    importance = np.zeros((z.shape[1], train.shape[1]))
    accuracy = []
    for k in range(train.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(z, train[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        accuracy.append((model.score(z, train[:, k]), model.score(z_test, test[:, k])))
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    per_code = _one_minus_entropy(importance.T, importance.shape[1])  # (D,)
    per_factor = _one_minus_entropy(importance, importance.shape[0])  # (K,)
    return {"disentanglement": float((per_code * weights.sum(1) / weights.sum()).sum()),
            "completeness": float((per_factor * weights.sum(0) / weights.sum()).sum()),
            "informativeness_train": float(np.mean([a for a, _ in accuracy])),
            "informativeness": float(np.mean([b for _, b in accuracy])), "importance": importance.tolist()}


METRICS: dict[str, Callable[..., dict]] = {
    "beta_vae": beta_vae_score, "factor_vae": factor_vae_score, "mig": mig, "sap": sap, "dci": dci,
}


def disentanglement(data, represent: Represent, fast: bool = False, seed: int = 0,
                    metrics: tuple[str, ...] = tuple(METRICS), log=lambda m: None,
                    sizes: Sizes | None = None) -> dict:
    """Every metric of ``represent``'s codes on factor data ``data`` (``sizes``, ``names``,
    ``sample_factors(n, rng)``), each from its own seeded generator so that one can be recomputed
    alone. Returns {metric: {score, ...}} plus the protocol, the sizes and scikit-learn's version.
    sizes: other sample sizes than dlib's (or ``FAST``'s, with ``fast``), stated in the result."""
    import sklearn

    sizes = sizes or (FAST if fast else DLIB)
    out = {}
    for i, name in enumerate(metrics):
        log(f"disentanglement: {name} ...")
        out[name] = METRICS[name](data, represent, sizes, np.random.default_rng([seed, i]))
    out["factors"] = list(data.names)
    which = {DLIB: "and sizes", FAST: "at the --fast sizes"}.get(sizes, "at the sizes given")
    out["protocol"] = (f"disentanglement_lib's definitions {which} on the posterior mean, "
                       f"scikit-learn {sklearn.__version__}, seed {seed}")
    out["sizes"] = asdict(sizes)
    return out
