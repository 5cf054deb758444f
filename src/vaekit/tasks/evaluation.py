"""``vaekit.evaluate``: every number about a trained run on its test split, each with its protocol.

The result is a dict of sections (``elbo``, ``reconstruction``, ``latent``, and ``denoise`` when
a corruption is given), each holding its values and a ``protocol`` sentence. Nothing is written
here: `vaekit evaluate` writes the dict to ``eval.json`` and the denoising grid beside it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from vaekit.datasets import FACTOR_SETS, ImageSet, to_float
from vaekit.datasets.corrupt import parse_corruption
from vaekit.errors import SettingError, VaekitError
from vaekit.models.inference import encode, reconstruct
from vaekit.objectives import OBJECTIVES, means, set_terms
from vaekit.run import Run
from vaekit.run.data import run_data
from vaekit.settings import BINARIZE, TrainConfig, overlay
from vaekit.tasks.classifier import reference_classifier
from vaekit.tasks.denoise import denoising_quality, fidelity
from vaekit.tasks.likelihood import log_likelihood, uses_bf16
from vaekit.tasks.metrics import latent_stats
from vaekit.train.device import PRECISIONS

GRID_COLUMNS = 16
GMM_COMPONENTS = 10
DEFAULT_K = 100  # everyday default; the literature's protocol is k = 5000


def evaluate(run: str | Path | Run, denoise: str | None = None, compress: int | None = None,
             n: int | None = None, seed: int = 0, log=None,
             k: int = DEFAULT_K, binarize: str | None = None, precision: str = "auto",
             progress: bool = True, data: str | None = None, disentanglement: bool = False,
             fast: bool = False) -> dict:
    """Evaluate a run on its test split (the same split it was trained with).

    k: importance samples per image for the log-likelihood estimate (the IWAE bound L_k; 0
    skips it). binarize: none, dynamic or static test images (default: as the run trained).
    precision: "auto" (bf16 decoder products where the CPU has them natively) or "32".
    data: evaluate on another data set's test split (e.g. Fashion-MNIST under an MNIST model,
    for out-of-distribution likelihoods), brought to the model's image shape (no sample-quality
    section then: samples are judged against the data the model learnt).
    denoise: a corruption spec (``gaussian:0.5``, see ``vaekit.datasets.corrupt``): also report PSNR and
    SSIM of corrupted vs clean and of denoised vs clean; the clean / corrupted / denoised images
    come back under ``result["denoise"]["images"]`` (tensors, for a grid).
    compress: bits per latent dimension: also compress the test images to a .vkz file and report
    bytes per image and PSNR/SSIM of the decompressed images.
    n: evaluate on the first n test images only (default: all).
    disentanglement: also score how far each latent dimension captures one factor of the data
    (a data set with known factors, ``dsprites-like``); fast: at smaller, stated sample sizes.
    Returns the result dict.
    """
    log = log or (lambda m: print(m, file=sys.stderr))
    run = Run.open(run)
    if binarize is not None and binarize not in BINARIZE:
        raise SettingError("binarize", f"one of {', '.join(BINARIZE)}", binarize)
    if k < 0:
        raise SettingError("k", "an integer >= 0 (0 skips the likelihood)", k)
    if precision not in PRECISIONS:
        raise SettingError("precision", f"one of {', '.join(PRECISIONS)}", precision)
    if n is not None and n < 1:
        raise SettingError("n", "an integer >= 1", n)
    corruption = parse_corruption(denoise) if denoise is not None else None
    if compress is not None and not 1 <= compress <= 16:
        raise SettingError("compress", "1 to 16 bits per latent dimension", compress)
    log(f"evaluating {run.path} ...")
    cfg = dataclasses.replace(run.settings, binarize=binarize or run.settings.binarize)
    model = run.model
    if model.conditional and (denoise is not None or compress is not None):
        raise VaekitError("expected an unconditional run (ae, vae) for --denoise and --compress: a "
                          "cvae needs each image's label to encode it", "denoise" if denoise else "compress")
    own_data = data is None
    if binarize is None and own_data:
        data, splits = run.data, run.splits
    else:
        data, splits = run_data(run, cfg.binarize, data)
    if data.name != cfg.data:
        cfg = dataclasses.replace(cfg, data=data.name)
    if disentanglement:
        _check_factors(data, model)
    test = splits.test
    if n is not None:
        test = test.subset(torch.arange(min(n, len(test))).numpy())
    split = f"{splits.test_protocol}" + (f", first {len(test)} images" if n is not None else "")
    result: dict = {"run": str(run.path), "data": cfg.data, "split": split, "images": len(test)}
    t0 = time.perf_counter()
    clean = to_float(test.all_images())  # (N, C, H, W), read once for every section below
    labels = test.all_labels() if model.conditional else None
    if model.variational:
        result["elbo"] = _objective_terms(model, test, cfg, seed)
        if k > 0 and cfg.loss == "bce":
            result["likelihood"] = _likelihood(model, clean, labels, cfg, k, seed, precision, progress)
        elif k > 0:
            result["likelihood"] = {"protocol": "not estimated: a run trained with --loss mse has no "
                                                "likelihood (its decoder variance is undefined)"}
    else:
        terms = means(set_terms(model, test, torch.arange(len(test)), cfg, 1024,
                                next(model.parameters()).device, seed))
        result["loss"] = {**{k: v for k, v in terms.items() if k != "kl"},
                          "protocol": f"the {cfg.objective} objective's terms per image, reconstruction "
                                      f"{cfg.loss} (an AE has no ELBO)"}
    result["reconstruction"] = _reconstruction(model, clean, labels)
    codes, kl_dims = encode(model, test)
    stats = latent_stats(codes, kl_dims if model.variational else None)
    result["latent"] = {"active_units": stats["active_units"], "latent_dim": model.latent_dim,
                        "within_3sigma": stats["within_3sigma"],
                        "protocol": "active units: dimensions with Cov_x E[z|x] > 0.01 (Burda et al.); "
                                    "within_3sigma: share of test posterior means with every |z_i| <= 3"}
    # samples are judged against the data the model learnt; under another data set's test split
    # (an out-of-distribution likelihood) that comparison would mean nothing
    clf = reference_classifier(data, splits.train, splits.test, seed=0, log=log) if own_data else None
    if clf is not None:
        result["samples"] = _sample_quality(run, clf, clean, seed)
    if corruption is not None:
        q = denoising_quality(model, clean, corruption, seed)
        cols = min(GRID_COLUMNS, len(clean))
        q["images"] = torch.cat([im[:cols] for im in q["images"]])  # rows: clean, corrupted, denoised
        q["protocol"] = (f"{corruption.spec} applied once (seed {seed}) to each test image; PSNR is "
                         "10 log10(1/MSE) per image, averaged; SSIM with an 11x11 Gaussian window "
                         "(sigma 1.5); rows of the grid: clean, corrupted, denoised")
        result["denoise"] = q
    if compress is not None:
        result["compress"] = compression_quality(model, clean, compress, run.path)
    if disentanglement:
        result["disentanglement"] = _disentanglement(model, data.factors, fast, seed, log)
    result["seconds"] = time.perf_counter() - t0
    return result


def compression_quality(model, clean: torch.Tensor, bits: int, run: Path | None = None) -> dict:
    """Compress ``clean`` (N, C, H, W) into .vkz bytes, rebuild, and measure size and fidelity."""
    import tempfile

    from vaekit.tasks.compress import compress, decompress

    blob = compress(model, clean, bits, run=run)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.vkz"
        path.write_bytes(blob)
        _, rebuilt = decompress(path, model)
    n, d = len(clean), model.latent_dim
    out = fidelity(rebuilt, clean)
    out |= {"bits": bits, "code_bytes_per_image": d * bits / 8, "file_bytes": len(blob),
            "file_bytes_per_image": len(blob) / n,
            "protocol": (f"{n} test images in one .vkz file: {d} posterior-mean dimensions x {bits} bits "
                         "(equal-probability Gaussian bins) per image plus one header; PSNR/SSIM of "
                         "the decompressed images vs the originals")}
    return out


def _sample_quality(run: Run, clf, real: torch.Tensor, seed: int) -> dict:
    """Fréchet distance and classifier confidence of decoded prior and mixture samples."""
    n, model = len(real), run.model
    prior = run.sample(n, "prior", seed)
    reference = clf.reference(real)  # the test images' features, once for both sample sets
    judged = clf.judge(reference, prior)
    out = {"frechet_prior": judged["frechet"], "confidence_prior": judged["confidence"]}
    if not model.conditional:  # a cvae's codes depend on the label; one mixture does not fit them
        gmm = run.sample(n, "gmm", seed, components=GMM_COMPONENTS)
        judged = clf.judge(reference, gmm)
        out |= {"frechet_gmm": judged["frechet"], "confidence_gmm": judged["confidence"]}
    prior_name = run.model_config.prior
    if prior_name == "codebook":
        prior_name += "; its PixelCNN once fitted"
    return out | {
        "classifier_test_accuracy": clf.test_accuracy,
        "protocol": (f"{n} decoded samples vs the {n} test images, Fréchet distance of the reference "
                     "classifier's 128-d features (lower = closer to the data); prior: z from the "
                     f"model's prior ({prior_name}); "
                     f"gmm: z from a {GMM_COMPONENTS}-component Gaussian mixture fitted to the "
                     "training codes (`vaekit sample --sampler gmm`); a cvae's prior samples "
                     "cycle through the classes"),
    }


def _pixels_protocol(cfg) -> str:
    if cfg.binarize == "none":
        return "Bernoulli likelihood of grey pixel values in [0, 1], not binarized"
    return f"Bernoulli likelihood of {cfg.binarize}ally binarized pixels"


def _likelihood(model, images: torch.Tensor, labels: torch.Tensor | None, cfg, k: int,
                seed: int, precision: str, progress: bool) -> dict:
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    log_px = log_likelihood(model, images, k, labels, seed=seed, precision=precision, progress=progress)
    seconds = time.perf_counter() - t0
    nll = -log_px
    c, h, w = model.config.image_shape
    mean = float(nll.mean())
    return {"nll": mean, "nll_stderr": float(nll.std() / math.sqrt(len(nll))),
            "bits_per_dim": mean / (c * h * w * math.log(2)), "k": k, "seconds": seconds,
            "protocol": (f"negative IWAE bound -L_k in nats per image, k = {k} importance samples from "
                         f"q(z|x) per image (Burda et al. 2016; an upper bound on -log p(x) that "
                         f"tightens as k grows); {_pixels_protocol(cfg)}; decoder products in "
                         f"{'bfloat16' if uses_bf16(precision, device) else 'float32'}, sums in float32/64; "
                         f"seed {seed}")}


def _objective_terms(model, test: ImageSet, cfg, seed: int) -> dict:
    """The negative ELBO (one posterior sample per image) and every term of the run's objective."""
    device = next(model.parameters()).device
    # the elbo objective in place of the run's, without the run's objective's own settings
    elbo_cfg = TrainConfig(**overlay(cfg.to_dict(), {"k": 1, "beta": 1.0, "objective": "elbo"}))
    t = means(set_terms(model, test, torch.arange(len(test)), elbo_cfg, 1024, device, seed))
    c, h, w = model.config.image_shape
    out = {"neg_elbo": t["loss"], "recon": t["recon"], "kl": t["kl"]}
    # an objective with a network of its own (FactorVAE's discriminator) needs it, and a saved
    # model does not carry it: its terms are in summary.json, measured when training ended
    plain = OBJECTIVES[cfg.objective].network is None
    if (cfg.objective != "elbo" or cfg.beta != 1.0 or cfg.k != 1) and plain:
        own = means(set_terms(model, test, torch.arange(len(test)), cfg, 1024, device, seed))
        out |= {f"objective_{k}": v for k, v in own.items()}
    if cfg.loss == "bce":
        out["bits_per_dim"] = t["loss"] / (c * h * w * math.log(2))
        out["protocol"] = (f"negative ELBO in nats per image ({_pixels_protocol(cfg)}; one posterior "
                           f"sample per image); bits/dim = nats / ({c * h * w} ln 2)")
    else:
        out["protocol"] = ("sum of squared errors + KL per image (one posterior sample); with "
                           "--loss mse this is not a likelihood, so no bits/dim")
    return out


def _check_factors(data, model) -> None:
    """VaekitError naming --disentanglement unless the data has known factors at the model's size."""
    grid = data.factors
    if grid is None:
        raise VaekitError(f"{data.name} has no known factors: train on {' or '.join(FACTOR_SETS)} "
                          "to score disentanglement", "disentanglement")
    if tuple(model.config.image_shape) != (1, grid.side, grid.side):
        raise VaekitError(f"the model takes {tuple(model.config.image_shape)} images; {grid.name}'s are "
                          f"(1, {grid.side}, {grid.side}): train without --image-size / --image-channels",
                          "disentanglement")


def _disentanglement(model, grid, fast: bool, seed: int, log, sizes=None) -> dict:
    """The metrics of vaekit.tasks.disentanglement on the posterior means of ``grid``'s images,
    flat for the table, with the latent x factor mutual information and each dimension's factor."""
    from vaekit.tasks.disentanglement import disentanglement

    def represent(factors):  # (N, K) factor indices -> (N, D) posterior means
        return encode(model, to_float(torch.from_numpy(grid.images(factors))))[0].numpy()

    scores = disentanglement(grid, represent, fast=fast, seed=seed, log=log, sizes=sizes)
    info = np.array(scores["mig"]["mutual_information"])  # (D, K) nats
    out = {"beta_vae": scores["beta_vae"]["score"], "factor_vae": scores["factor_vae"]["score"],
           "mig": scores["mig"]["score"], "sap": scores["sap"]["score"],
           "dci_disentanglement": scores["dci"]["disentanglement"],
           "dci_completeness": scores["dci"]["completeness"],
           "dci_informativeness": scores["dci"]["informativeness"],
           "factors": scores["factors"], "mutual_information": info.tolist(),
           # each dimension's factor: the one it shares the most information with (None: nearly none)
           "captures": [scores["factors"][int(k)] if info[d, k] > 0.05 else None
                        for d, k in enumerate(info.argmax(1))],
           "sizes": scores["sizes"], "protocol": scores["protocol"]}
    return out


def _reconstruction(model, clean: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
    out = fidelity(reconstruct(model, clean, labels), clean)
    out["protocol"] = ("decoded posterior means vs the test images; MSE per pixel, PSNR per image "
                       "averaged, SSIM (11x11 Gaussian window, sigma 1.5)")
    return out


def format_table(result: dict, protocols: bool = True) -> str:
    """The evaluation as aligned text rows: section, metric, value; with ``protocols``, each
    section's protocol sentence follows its rows, wrapped."""
    blocks = []  # (section label, [(metric, value)], protocol)
    for section in ("elbo", "likelihood", "loss", "reconstruction", "latent", "samples", "compress",
                    "denoise", "disentanglement"):
        if section not in result:
            continue
        values = result[section]
        if section == "denoise":
            rows = [(f"{k} {stage}", values[stage][k]) for stage in ("noisy", "denoised")
                    for k in ("psnr", "ssim")] + [("psnr gain (dB)", values["gain_db"])]
            blocks.append((f"denoise {values['corruption']}", rows, values.get("protocol")))
            continue
        rows = [(k, v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        blocks.append((section, rows, values.get("protocol")))
    width = max(len(b[0]) for b in blocks)
    lines = [f"{result['split']}"]
    for label, rows, protocol in blocks:
        lines += [f"  {label:<{width}}  {k:<16} {v:>10.4g}" for k, v in rows]
        if protocols and protocol:
            lines += textwrap.wrap(protocol, 100, initial_indent=" " * (width + 4) + "- ",
                                   subsequent_indent=" " * (width + 6))
    return "\n".join(lines)
