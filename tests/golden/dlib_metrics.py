"""Produces tests/golden/dlib_metrics.json: disentanglement_lib 1.5's own metric functions on fixed
synthetic codes, which tests/test_disentanglement.py compares vaekit's metrics with.

disentanglement_lib no longer installs with its dependencies (TensorFlow 1); its metric modules
need only gin-config, absl-py and six besides numpy, scipy and scikit-learn, and import
``gin.tf`` only for its name, so a stand-in module serves. Run it as

    pip install --target /tmp/dlib --no-deps disentanglement-lib==1.5 gin-config absl-py six
    PYTHONPATH=/tmp/dlib python tests/golden/dlib_metrics.py

The codes: four factors of sizes 3, 6, 10 and 8, drawn with numpy's RandomState (a stream numpy
keeps stable across versions), mixed linearly by a fixed matrix, plus Gaussian noise, with a fifth
dimension of noise alone; ``fixed_sets()`` and ``codes()`` in this file are what both sides use.
"""

import json
import sys
import types
from pathlib import Path

import numpy as np

SIZES = (3, 6, 10, 8)
MIX = np.array([[1.0, 0.5, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.6, 0.0, 0.0],
                [0.3, 0.0, 1.0, 0.5, 0.0],
                [0.0, 0.0, 0.6, 1.0, 0.0]])  # factor k -> code dimension d; the fifth is noise alone
NOISE = np.array([0.4, 0.4, 0.4, 0.4, 1.0])


def codes(factors: np.ndarray, noise: np.random.RandomState) -> np.ndarray:
    """(N, 4) factor indices -> (N, 5) codes: a fixed mixing of the factors plus Gaussian noise."""
    return (factors / np.array(SIZES, dtype=np.float64)) @ MIX + noise.normal(size=(len(factors), 5)) * NOISE


def fixed_sets():
    """Train (600) and test (300) factors and their codes, from RandomState(0) and (1)."""
    rs, noise = np.random.RandomState(0), np.random.RandomState(1)
    train = np.stack([rs.randint(0, k, 600) for k in SIZES], 1)
    test = np.stack([rs.randint(0, k, 300) for k in SIZES], 1)
    return train, codes(train, noise), test, codes(test, noise)


class Toy:
    """disentanglement_lib's ground-truth data interface over the same factors; observations are
    the factors themselves, so the representation is ``codes`` with fresh noise."""

    num_factors = len(SIZES)
    factors_num_values = list(SIZES)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(0, k, num) for k in SIZES], 1)

    def sample_observations_from_factors(self, factors, random_state):
        return factors

    def sample_observations(self, num, random_state):
        return self.sample_factors(num, random_state)


def main() -> None:
    import gin
    import sklearn

    sys.modules["gin.tf"] = gin.tf = types.ModuleType("gin.tf")  # named only; TensorFlow is not needed
    from disentanglement_lib.evaluation.metrics import beta_vae, dci, factor_vae, mig, sap_score, utils

    gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
    gin.bind_parameter("discretizer.num_bins", 20)
    gin.bind_parameter("prune_dims.threshold", 0.05)
    train, z, test, z_test = fixed_sets()
    represent = lambda x, noise=np.random.RandomState(2): codes(x, noise)  # noqa: E731
    out = {
        "disentanglement_lib": "1.5", "scikit-learn": sklearn.__version__, "numpy": np.__version__,
        "mig": mig._compute_mig(z.T, train.T)["discrete_mig"],
        "sap": sap_score._compute_sap(z.T, train.T, z_test.T, test.T, False)["SAP_score"],
        "sap_continuous": sap_score._compute_sap(z.T, train.T, z_test.T, test.T, True)["SAP_score"],
        "dci": dci._compute_dci(z.T, train.T, z_test.T, test.T),
        # these two sample their own batches: the values are estimates (10,000 / 5,000 points)
        "beta_vae": beta_vae.compute_beta_vae_sklearn(Toy(), represent, np.random.RandomState(0), None, 64, 10_000,
                                                      5_000)["eval_accuracy"],
        "factor_vae": factor_vae.compute_factor_vae(Toy(), represent, np.random.RandomState(0), None, 64, 10_000,
                                                    5_000, 10_000)["eval_accuracy"],
    }
    out["dci"] = {k: float(v) for k, v in out["dci"].items()}
    path = Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(path.read_text())


if __name__ == "__main__":
    main()
