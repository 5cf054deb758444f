"""AnomalyDetector: the scikit-learn / PyOD convention, scores that separate, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from vaekit.errors import VaekitError
from vaekit.tasks.anomaly import AnomalyDetector, _kth_distance


def bars(n: int, vertical: bool, seed: int, side: int = 12) -> np.ndarray:
    """(n, side, side) uint8 images with one bright bar each, horizontal or vertical."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 30, (n, side, side)).astype(np.uint8)
    for i, pos in enumerate(rng.integers(1, side - 1, n)):
        if vertical:
            x[i, :, pos] = 255
        else:
            x[i, pos, :] = 255
    return x


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    det = AnomalyDetector(latent_dim=4, hidden=(64,), epochs=40, batch_size=32, contamination=0.05)
    return det.fit(bars(320, vertical=False, seed=0), out=tmp_path_factory.mktemp("det") / "run")


def test_fit_returns_self_and_learns_the_underscore_attributes(fitted):
    assert isinstance(fitted, AnomalyDetector)
    assert fitted.decision_scores_.shape == (len(fitted.labels_),)
    assert set(np.unique(fitted.labels_)) <= {0, 1}


def test_threshold_from_contamination_is_the_training_quantile(fitted):
    assert fitted.threshold_ == pytest.approx(np.quantile(fitted.decision_scores_, 0.95))
    assert fitted.labels_.mean() == pytest.approx(0.05, abs=0.01)


@pytest.mark.learned
def test_predict_agrees_with_the_threshold_and_scores_separate_the_classes(fitted):
    normal, odd = bars(100, False, seed=1), bars(100, True, seed=2)
    x = np.concatenate([normal, odd])
    scores = fitted.decision_function(x)
    assert np.array_equal(fitted.predict(x), (scores > fitted.threshold_).astype(int))
    # higher = more anomalous; 1.00 for every score kind over seeds 0-4 x {bf16, float32}, Intel Xeon with AMX (benchmarks/margins.py)
    assert roc_auc_score([0] * 100 + [1] * 100, scores) > 0.95


@pytest.mark.learned
def test_every_score_kind_ranks_anomalies_higher(fitted):
    x = np.concatenate([bars(50, False, seed=3), bars(50, True, seed=4)])
    for kind in ("mse", "bce", "elbo"):
        fitted.score = kind
        assert roc_auc_score([0] * 50 + [1] * 50, fitted.decision_function(x)) > 0.9, kind
    fitted.score = "combined"


def test_save_and_load_give_the_same_scores(fitted, tmp_path):
    x = bars(20, True, seed=5)
    fitted.save(tmp_path / "det")
    again = AnomalyDetector.load(tmp_path / "det")
    assert np.allclose(again.decision_function(x), fitted.decision_function(x))
    assert again.threshold_ == fitted.threshold_


def test_kth_distance_is_exact_in_any_chunking():
    gen = torch.Generator().manual_seed(0)
    queries, codes = torch.randn(37, 5, generator=gen), torch.randn(23, 5, generator=gen)
    full = ((queries[:, None] - codes[None]) ** 2).sum(-1).sqrt()  # (37, 23)
    for k in (1, 3, 23):
        want = full.sort(1).values[:, k - 1].double()
        for budget in (1, 50, 1 << 24):  # one query per chunk, two per chunk, all at once
            assert torch.allclose(_kth_distance(queries, codes, k, budget), want, atol=1e-5)


def test_whitened_codes_measure_the_training_mahalanobis_distance(fitted):
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.randn(6, 4, generator=gen,
                                                                             dtype=torch.float64)
    d = a - b
    mahalanobis = ((d @ fitted.code_precision_) * d).sum(1)
    euclidean = (fitted._whiten(a) - fitted._whiten(b)).double().pow(2).sum(1)
    assert torch.allclose(euclidean, mahalanobis, rtol=1e-4)
    assert fitted.codes_.shape == (len(fitted.decision_scores_), 4)


def test_a_training_image_is_nearer_its_neighbours_than_a_new_kind_of_image(fitted):
    # The combined score's distance part: a horizontal bar's code lies among the training codes,
    # a vertical bar's does not (leave-one-out keeps the training scores on the same footing).
    codes = fitted._whiten(fitted.model_.encode(torch.from_numpy(
        np.concatenate([bars(50, False, seed=6), bars(50, True, seed=7)])[:, None]).float() / 255).mode())
    near = _kth_distance(codes, fitted.codes_, fitted.neighbors)
    assert near[:50].median() < near[50:].median()


def test_validation_percentile_sets_the_threshold_from_held_out_images(tmp_path):
    det = AnomalyDetector(latent_dim=4, hidden=(64,), epochs=5, batch_size=32, validation_percentile=90)
    det.fit(bars(200, False, seed=0), out=tmp_path / "run")
    # 10% of the images are held out; the threshold is their 90th percentile, so about 10% of
    # the (mostly seen) training images lie above it -- fewer, since they were trained on
    assert 0 < det.threshold_ and det.labels_.mean() < 0.3


def test_wrong_shapes_and_unfitted_use_give_clear_errors(fitted):
    with pytest.raises(VaekitError, match=r"expected images of shape \(N, 1, 12, 12\)"):
        fitted.decision_function(np.zeros((3, 1, 16, 16), np.uint8))
    with pytest.raises(VaekitError, match="expected images of shape"):
        fitted.decision_function(torch.zeros(3, 3, 12, 12))
    with pytest.raises(VaekitError, match="not fitted"):
        AnomalyDetector().decision_function(np.zeros((2, 12, 12)))
    with pytest.raises(VaekitError, match="^score: elbo needs a VAE"):
        AnomalyDetector(model="ae", score="elbo").fit(bars(10, False, 0))
    with pytest.raises(VaekitError, match="^contamination: expected a share"):
        AnomalyDetector(contamination=0.7).fit(bars(10, False, 0))
    with pytest.raises(VaekitError, match="^neighbors: expected an integer"):
        AnomalyDetector(neighbors=0).fit(bars(10, False, 0))


def test_a_detector_folder_without_its_codes_is_refused(fitted, tmp_path):
    fitted.save(tmp_path / "det")
    (tmp_path / "det" / "detector_codes.safetensors").unlink()
    with pytest.raises(VaekitError, match="detector_codes.safetensors is missing"):
        AnomalyDetector.load(tmp_path / "det")


@pytest.mark.learned
def test_cli_fit_and_score_a_folder(tmp_path, data_home):
    from conftest import make_image_folder, run_here

    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=16, size=(16, 16), mode="L")
    det = tmp_path / "det"
    run_here("anomaly", "fit", "--data", str(folder), "--classes", "0", "--out", str(det), "--latent-dim", "4",
            "--epochs", "20", "--no-progress")
    assert (det / "detector.json").is_file()
    proc = run_here("anomaly", "score", str(det), str(folder), "-o", str(tmp_path / "s.csv"), "--top", "5")
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "path,score,label" and len(rows) == 33
    scores = [float(r.split(",")[1]) for r in rows[1:]]
    assert scores == sorted(scores, reverse=True)
    # class 1 (brighter) was never seen: its images should fill the top of the list
    assert sum("class_1" in r for r in rows[1:17]) >= 12  # 16 of 16 over seeds 0-4 x {bf16, float32}
    assert (tmp_path / "s_top.png").is_file() and "above the threshold" in proc.stdout
    bad = run_here("anomaly", "score", str(tmp_path), str(folder), check=False)
    assert bad.returncode == 2 and "not an anomaly detector" in bad.stderr


@pytest.mark.parametrize("kind", ["copies of one picture", "one grey level"])
def test_degenerate_normal_images_give_a_working_detector(kind, tmp_path, data_home):
    # codes with no spread at all (a zero covariance) once ended in an internal Cholesky error;
    # now the detector flags anything unlike the training picture
    from conftest import run_here
    from PIL import Image

    rng = np.random.default_rng(0)
    picture = rng.integers(0, 255, (16, 16), dtype=np.uint8) if kind.startswith("copies") else np.full((16, 16), 128, np.uint8)
    folder, probe = tmp_path / "normal", tmp_path / "probe"
    folder.mkdir(), probe.mkdir()
    for i in range(50):
        Image.fromarray(picture).save(folder / f"{i}.png")
    Image.fromarray(picture).save(probe / "a_same.png")
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(probe / "b_other.png")
    det = tmp_path / "det"
    run_here("anomaly", "fit", "--data", str(folder), "--out", str(det), "--image-size", "16", "--epochs", "2",
             "--no-progress")
    run_here("anomaly", "score", str(det), str(probe), "-o", str(tmp_path / "s.csv"))
    rows = {r.split(",")[0].rsplit("/", 1)[1]: r.split(",")[1:] for r in (tmp_path / "s.csv").read_text().splitlines()[1:]}
    # every training score ties, so which side of the threshold a copy lands is float noise; the
    # other picture is flagged, and stands far above the copy (scores in training spreads)
    assert rows["b_other.png"][1] == "1"
    assert float(rows["b_other.png"][0]) > float(rows["a_same.png"][0]) + 10


def test_one_image_is_refused_in_one_line(tmp_path, data_home):
    from conftest import run_main
    from PIL import Image

    (tmp_path / "one").mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "one" / "x.png")
    code, _, err = run_main("anomaly", "fit", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "det"))
    assert code == 2 and err.count("vaekit: error:") == 1 and "too few to train on" in err
    assert not (tmp_path / "det").exists()
