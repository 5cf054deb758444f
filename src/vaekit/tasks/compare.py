"""The AE-vs-VAE study: the same figures and numbers for two runs, side by side.

``compare(run_a, run_b, out)`` writes ``out/figures/*.png``, ``out/compare.json`` with every
number, and ``out/report.html`` (images embedded, so the file stands alone).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from vaekit.checkpoint import load, read_config
from vaekit.classifier import reference_classifier
from vaekit.datasets import to_float
from vaekit.errors import VaekitError
from vaekit.files import write_json
from vaekit.metrics import effective_classes, latent_stats
from vaekit.plots import bars, save_grid, scatter_panels
from vaekit.report import write_report
from vaekit.tasks.generate import reconstruct_pairs, sample_images
from vaekit.tasks.latent import encode_set, interpolate, manifold, pca_2d, pick_pairs, traverse
from vaekit.tasks.rundata import run_data

MAX_EVAL = 10_000  # test images (and as many generated ones) for the Fréchet distances
TSNE_POINTS = 2_000


def compare(run_a: str | Path, run_b: str | Path, out: str | Path, seed: int = 0, log=None) -> dict:
    """Study two trained runs on the test split of the first one's data; returns the numbers.

    Both runs must have been trained on the same data at the same image shape.
    """
    log = log or (lambda m: print(m, file=sys.stderr))
    runs = [Path(run_a), Path(run_b)]
    configs = [read_config(r) for r in runs]
    if configs[0]["model"]["image_shape"] != configs[1]["model"]["image_shape"]:
        raise VaekitError(
            f"{runs[0]} and {runs[1]} model different image shapes "
            f"({configs[0]['model']['image_shape']} vs {configs[1]['model']['image_shape']})"
        )
    names = [c["model"]["model"].upper() for c in configs]
    if names[0] == names[1]:
        names = [f"{n} ({r.name})" for n, r in zip(names, runs, strict=True)]
    out = Path(out)
    figures = out / "figures"
    data, splits = run_data(runs[0])
    test = splits.test
    n_eval = min(MAX_EVAL, len(test))
    real = to_float(test.take(torch.arange(n_eval)))
    labels = test.all_labels()
    clf = reference_classifier(data, splits.train, test, seed=seed, log=log)
    gen = torch.Generator().manual_seed(seed)
    pairs = pick_pairs(len(test), labels, data.class_names, 5, gen)
    ends = to_float(test.take(torch.tensor([i for pair in pairs for i in pair], dtype=torch.long)))
    models = [load(r) for r in runs]
    reference = clf.reference(real) if clf is not None else None  # real features, once
    result = {
        "data": configs[0]["train"]["data"],
        "test_protocol": splits.test_protocol,
        "latent_dim": models[0].latent_dim,
        "eval_images": n_eval,
        "class_names": list(data.class_names or []),
        "classifier": clf.info if clf else None,
        "models": {},
    }
    codes_all = {}
    for tag, name, run, model, cfg in zip(("a", "b"), names, runs, models, configs, strict=True):
        log(f"studying {name} ({run}) ...")
        summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
        codes, kl_dims = encode_set(model, test)
        codes_all[name] = codes
        stats = latent_stats(codes, kl_dims if model.variational else None)
        samples = sample_images(model, n_eval, seed=seed)
        recon = torch.cat([model.reconstruct(real[s : s + 1000]) for s in range(0, n_eval, 1000)])
        entry = {"run": str(run), "kind": cfg["model"]["model"], "summary": summary, "latent": stats}
        if clf is not None:
            prior, rebuilt = clf.judge(reference, samples), clf.judge(reference, recon)
            entry["frechet_prior"], entry["frechet_recon"] = prior["frechet"], rebuilt["frechet"]
            entry["confidence_prior"], entry["confidence_recon"] = prior["confidence"], rebuilt["confidence"]
            entry["class_shares_prior"] = prior["shares"].tolist()
            entry["effective_classes_prior"] = effective_classes(prior["shares"])
        fig = {
            "recon": save_grid(reconstruct_pairs(model, real[:32]), figures / f"recon_{tag}.png"),
            "prior": save_grid(samples[:64], figures / f"prior_{tag}.png"),
            "traverse": save_grid(
                traverse(model, real[0], dims=_top_dims(stats, model.latent_dim)),
                figures / f"traverse_{tag}.png",
                nrow=9,
            ),
        }
        if pairs:
            strips = torch.cat([interpolate(model, ends[2 * k], ends[2 * k + 1]) for k in range(len(pairs))])
            fig["interpolate"] = save_grid(strips, figures / f"interpolate_{tag}.png", nrow=10)
        if model.latent_dim == 2:
            fig["manifold"] = save_grid(manifold(model, 20), figures / f"manifold_{tag}.png", nrow=20, pad=0)
        entry["figures"] = {k: str(v.relative_to(out)) for k, v in fig.items()}
        entry["traversed_dims"] = _top_dims(stats, model.latent_dim)
        result["models"][name] = entry
    result["figures"] = _latent_figures(codes_all, labels, data.class_names, figures, out, seed)
    kl = {n: e["latent"]["kl_per_dim"] for n, e in result["models"].items() if "kl_per_dim" in e["latent"]}
    if kl:
        result["figures"]["kl_per_dim"] = str(
            bars(
                kl, figures / "kl_per_dim.png", "KL per latent dimension", "dimension", "nats per image"
            ).relative_to(out)
        )
    if clf is not None:
        result["figures"]["class_shares"] = _class_share_figure(result, labels[:n_eval], data.class_names,
                                                                figures, out)
    result["pairs"] = pairs
    result["verdict"] = verdict(result)
    write_json(out / "compare.json", result)
    write_report(result, out)
    return result


def _class_share_figure(result: dict, labels: torch.Tensor, class_names, figures: Path, out: Path) -> str:
    """Bars: which classes the reference classifier sees in each model's prior samples, and the
    test images' own class shares for reference."""
    series = {f"{n}: prior samples": e["class_shares_prior"] for n, e in result["models"].items()}
    counts = torch.bincount(labels, minlength=len(class_names)).double()  # (classes,)
    series["test images"] = (counts / len(labels)).tolist()
    n = result["eval_images"]
    path = bars(series, figures / "class_shares.png", f"Classes the reference classifier sees in {n:,} "
                "decoded N(0, I) draws", "class", "share of images", labels=list(class_names))
    return str(path.relative_to(out))


def _top_dims(stats: dict, latent_dim: int, k: int = 10) -> list[int]:
    """The dimensions worth traversing: the most active (by spread of the codes) first."""
    order = np.argsort(-np.asarray(stats["std"]))
    return sorted(int(d) for d in order[: min(k, latent_dim)])


def _latent_figures(
    codes: dict[str, torch.Tensor], labels, class_names, figures: Path, out: Path, seed: int
) -> dict:
    lab = labels.numpy() if labels is not None else None
    names = list(codes)
    dim = codes[names[0]].shape[1]
    if dim == 2:
        panels = [(f"{n}: test codes", codes[n].numpy(), lab) for n in names]
        path = scatter_panels(panels, figures / "latent.png", class_names)
        return {"latent": str(path.relative_to(out))}
    result = {}
    pca = [(f"{n}: PCA of test codes", pca_2d(codes[n]).numpy(), lab) for n in names]
    result["pca"] = str(
        scatter_panels(
            pca, figures / "pca.png", class_names, ("PC1", "PC2"), prior_circles=False, same_scale=False
        ).relative_to(out)
    )
    from sklearn.manifold import TSNE

    pick = torch.randperm(len(codes[names[0]]), generator=torch.Generator().manual_seed(seed))[:TSNE_POINTS]
    tsne = []
    for n in names:
        emb = TSNE(
            n_components=2, init="pca", random_state=seed, perplexity=min(30.0, (len(pick) - 1) / 3)
        ).fit_transform(codes[n][pick].numpy())
        tsne.append(
            (f"{n}: t-SNE of {len(pick)} test codes", emb, lab[pick.numpy()] if lab is not None else None)
        )
    result["tsne"] = str(
        scatter_panels(
            tsne,
            figures / "tsne.png",
            class_names,
            ("t-SNE 1", "t-SNE 2"),
            prior_circles=False,
            same_scale=False,
        ).relative_to(out)
    )
    return result


def verdict(result: dict) -> str:
    """One paragraph, computed from the numbers, saying what they show."""
    (na, a), (nb, b) = result["models"].items()
    parts = []
    if "frechet_prior" in a:
        good, bad = (nb, na) if b["frechet_prior"] <= a["frechet_prior"] else (na, nb)
        g, w = result["models"][good], result["models"][bad]
        ratio = w["frechet_prior"] / max(g["frechet_prior"], 1e-9)
        parts.append(
            f"Decoded N(0, I) draws from the {good} are {ratio:.1f}x closer to real test images than "
            f"the {bad}'s in the reference classifier's feature space (Fréchet distance "
            f"{g['frechet_prior']:.1f} vs {w['frechet_prior']:.1f}; classifier confidence "
            f"{g['confidence_prior']:.0%} vs {w['confidence_prior']:.0%}), while their reconstructions "
            f"score {g['frechet_recon']:.1f} vs {w['frechet_recon']:.1f}: both reconstruct, but only "
            f"random points of the {good} decode into images like the data."
        )
        k = len(g["class_shares_prior"])
        top = max(range(k), key=lambda c: w["class_shares_prior"][c])
        names = result["class_names"]
        parts.append(
            f"The classifier reads the {good}'s samples as an effective {g['effective_classes_prior']:.1f} "
            f"of {k} classes and the {bad}'s as {w['effective_classes_prior']:.1f} "
            f"({w['class_shares_prior'][top]:.0%} of them read as {names[top]})."
        )
    parts.append(
        f"{a['latent']['within_3sigma']:.0%} of the {na}'s test codes lie within 3σ of N(0, 1) in "
        f"every dimension (largest coordinate {a['latent']['max_abs']:.1f}), against "
        f"{b['latent']['within_3sigma']:.0%} of the {nb}'s (largest {b['latent']['max_abs']:.1f}): "
        "the KL term keeps a VAE's codes where the prior puts its mass, so that is where samples land."
    )
    return " ".join(parts)
