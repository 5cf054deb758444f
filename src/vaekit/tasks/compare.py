"""The AE-vs-VAE study: the same figures and numbers for two runs, side by side.

``study(run_a, run_b)`` returns every number and each figure as data; ``write_study(result,
out)`` draws the figures into ``out/figures/*.png`` and writes ``out/compare.json`` and
``out/report.html`` (images embedded, so the file stands alone). ``compare`` does both.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vaekit.datasets import to_float
from vaekit.errors import VaekitError
from vaekit.files import write_json
from vaekit.models.inference import encode, reconstruct, reconstruct_pairs
from vaekit.report.html import write_report
from vaekit.run import Run
from vaekit.tasks.classifier import reference_classifier
from vaekit.tasks.latent import interpolate, manifold, pca_2d, pick_pairs, traverse
from vaekit.tasks.metrics import effective_classes, latent_stats


@dataclass
class Figure:
    """A figure as data: ``kind`` "grid" (an image tensor (N, C, H, W)), "scatter" (panels of
    points) or "bars" (named series), with the drawing options of ``vaekit.report.plots``."""

    kind: str
    data: object
    options: dict = field(default_factory=dict)

    def draw(self, path: Path) -> Path:
        from vaekit.report.plots import bars, save_grid, scatter_panels

        if self.kind == "grid":
            return save_grid(self.data, path, **self.options)
        if self.kind == "scatter":
            return scatter_panels(self.data, path, **self.options)
        o = dict(self.options)
        return bars(self.data, path, o.pop("title"), o.pop("xlabel"), o.pop("ylabel"), **o)


MAX_EVAL = 10_000  # test images (and as many generated ones) for the Fréchet distances
TSNE_POINTS = 2_000


def compare(run_a, run_b, out: str | Path, seed: int = 0, log=None) -> dict:
    """``study`` two runs and write the report under ``out`` (``write_study``); returns the numbers."""
    return write_study(study(run_a, run_b, seed, log), out)


def study(run_a, run_b, seed: int = 0, log=None) -> dict:
    """Study two trained runs on the test split of the first one's data; returns every number,
    and under ``"figures"`` each figure as data (``Figure``) for a front end to draw.

    Both runs must have been trained on the same data at the same image shape.
    """
    log = log or (lambda m: print(m, file=sys.stderr))
    runs = [Run.open(run_a), Run.open(run_b)]
    shapes = [r.model_config.image_shape for r in runs]
    if shapes[0] != shapes[1]:
        raise VaekitError(f"{runs[0].path} and {runs[1].path} model different image shapes "
                          f"({list(shapes[0])} vs {list(shapes[1])})")
    names = [r.model_config.model.upper() for r in runs]
    if names[0] == names[1]:
        names = [f"{n} ({r.name})" for n, r in zip(names, runs, strict=True)]
    data, splits = runs[0].data, runs[0].splits
    test = splits.test
    n_eval = min(MAX_EVAL, len(test))
    real = to_float(test.take(torch.arange(n_eval)))
    labels = test.all_labels()
    clf = reference_classifier(data, splits.train, test, seed=seed, log=log)
    gen = torch.Generator().manual_seed(seed)
    pairs = pick_pairs(len(test), labels, data.class_names, 5, gen)
    ends = to_float(test.take(torch.tensor([i for pair in pairs for i in pair], dtype=torch.long)))
    reference = clf.reference(real) if clf is not None else None  # real features, once
    result = {
        "data": runs[0].settings.data,
        "test_protocol": splits.test_protocol,
        "latent_dim": runs[0].model.latent_dim,
        "eval_images": n_eval,
        "class_names": list(data.class_names or []),
        "classifier": clf.info if clf else None,
        "models": {},
    }
    figures: dict[str, Figure] = {}
    codes_all = {}
    for tag, name, run in zip(("a", "b"), names, runs, strict=True):
        log(f"studying {name} ({run.path}) ...")
        model = run.model
        codes, kl_dims = encode(model, test)
        codes_all[name] = codes
        stats = latent_stats(codes, kl_dims if model.variational else None)
        samples = run.sample(n_eval, "prior", seed)
        recon = reconstruct(model, real)
        entry = {"run": str(run.path), "kind": run.model_config.model, "summary": run.summary,
                 "latent": stats}
        if clf is not None:
            prior, rebuilt = clf.judge(reference, samples), clf.judge(reference, recon)
            entry["frechet_prior"], entry["frechet_recon"] = prior["frechet"], rebuilt["frechet"]
            entry["confidence_prior"], entry["confidence_recon"] = prior["confidence"], rebuilt["confidence"]
            entry["class_shares_prior"] = prior["shares"].tolist()
            entry["effective_classes_prior"] = effective_classes(prior["shares"])
            # what `vaekit sample` draws: the objective's own sampler (a mixture of the codes for sharp)
            entry["sampler"] = run.default_sampler
            entry["frechet_own"] = prior["frechet"] if entry["sampler"] == "prior" else \
                clf.judge(reference, run.sample(n_eval, entry["sampler"], seed))["frechet"]
        own = {
            "recon": Figure("grid", reconstruct_pairs(model, real[:32])),
            "prior": Figure("grid", samples[:64]),
            "traverse": Figure("grid", traverse(model, real[0], dims=_top_dims(stats, model.latent_dim)),
                               {"nrow": 9}),
        }
        if pairs:
            strips = torch.cat([interpolate(model, ends[2 * k], ends[2 * k + 1]) for k in range(len(pairs))])
            own["interpolate"] = Figure("grid", strips, {"nrow": 10})
        if model.latent_dim == 2:
            own["manifold"] = Figure("grid", manifold(model, 20), {"nrow": 20, "pad": 0})
        figures |= {f"{key}_{tag}": fig for key, fig in own.items()}
        entry["figures"] = {key: f"figures/{key}_{tag}.png" for key in own}
        entry["traversed_dims"] = _top_dims(stats, model.latent_dim)
        result["models"][name] = entry
    figures |= _latent_figures(codes_all, labels, data.class_names, seed)
    kl = {n: e["latent"]["kl_per_dim"] for n, e in result["models"].items() if "kl_per_dim" in e["latent"]}
    if kl:
        figures["kl_per_dim"] = Figure("bars", kl, {"title": "KL per latent dimension", "xlabel": "dimension",
                                                    "ylabel": "nats per image"})
    if clf is not None:
        figures["class_shares"] = _class_share_figure(result, labels[:n_eval], data.class_names)
    result["figures"] = figures
    result["pairs"] = pairs
    result["verdict"] = verdict(result)
    return result


def write_study(result: dict, out: str | Path) -> dict:
    """Draw a ``study``'s figures into ``out/figures/``, and write ``out/compare.json`` and the
    self-contained ``out/report.html``. Returns the result with each figure replaced by its path
    (relative to ``out``)."""
    out = Path(out)
    drawn = {key: str(fig.draw(out / "figures" / f"{key}.png").relative_to(out))
             for key, fig in result["figures"].items()}
    shared = {key: path for key, path in drawn.items() if not key.endswith(("_a", "_b"))}
    result = {**result, "figures": shared}
    write_json(out / "compare.json", result)
    write_report(result, out)
    return result


def train_pair(settings, out: str | Path) -> list[Path]:
    """Train an AE and a VAE with the same ``settings`` (a TrainConfig) into ``out/ae``, ``out/vae``."""
    import dataclasses

    from vaekit.train.loop import fit

    return [fit(dataclasses.replace(settings, model=kind, out=str(Path(out) / kind)))
            for kind in ("ae", "vae")]


def headline(result: dict) -> str:
    """The comparison's headline numbers, a line per model, then the verdict."""
    lines = []
    for name, entry in result["models"].items():
        fd = (f"Fréchet distance of prior samples {entry['frechet_prior']:.1f}, "
              f"{entry['effective_classes_prior']:.1f} classes in them, " if "frechet_prior" in entry else "")
        lines.append(f"  {name}: {fd}{entry['latent']['within_3sigma']:.1%} of test codes within 3σ, "
                     f"test loss {entry['summary'].get('test_loss', float('nan')):.1f}")
    return "\n".join(lines + [result["verdict"]])


def _class_share_figure(result: dict, labels: torch.Tensor, class_names) -> Figure:
    """Bars: which classes the reference classifier sees in each model's prior samples, and the
    test images' own class shares for reference."""
    series = {f"{n}: prior samples": e["class_shares_prior"] for n, e in result["models"].items()}
    counts = torch.bincount(labels, minlength=len(class_names)).double()  # (classes,)
    series["test images"] = (counts / len(labels)).tolist()
    n = result["eval_images"]
    return Figure("bars", series, {"title": f"Classes the reference classifier sees in {n:,} decoded N(0, I) "
                                            "draws", "xlabel": "class", "ylabel": "share of images",
                                   "labels": list(class_names)})


def _top_dims(stats: dict, latent_dim: int, k: int = 10) -> list[int]:
    """The dimensions worth traversing: the most active (by spread of the codes) first."""
    order = np.argsort(-np.asarray(stats["std"]))
    return sorted(int(d) for d in order[: min(k, latent_dim)])


def _latent_figures(codes: dict[str, torch.Tensor], labels, class_names, seed: int) -> dict[str, Figure]:
    lab = labels.numpy() if labels is not None else None
    names = list(codes)
    dim = codes[names[0]].shape[1]
    if dim == 2:
        panels = [(f"{n}: test codes", codes[n].numpy(), lab) for n in names]
        return {"latent": Figure("scatter", panels, {"class_names": class_names})}
    pca = [(f"{n}: PCA of test codes", pca_2d(codes[n]).numpy(), lab) for n in names]
    free = {"class_names": class_names, "prior_circles": False, "same_scale": False}
    from sklearn.manifold import TSNE

    pick = torch.randperm(len(codes[names[0]]), generator=torch.Generator().manual_seed(seed))[:TSNE_POINTS]
    tsne = []
    for n in names:
        emb = TSNE(n_components=2, init="pca", random_state=seed,
                   perplexity=min(30.0, (len(pick) - 1) / 3)).fit_transform(codes[n][pick].numpy())
        tsne.append((f"{n}: t-SNE of {len(pick)} test codes", emb,
                     lab[pick.numpy()] if lab is not None else None))
    return {"pca": Figure("scatter", pca, {**free, "axis_names": ("PC1", "PC2")}),
            "tsne": Figure("scatter", tsne, {**free, "axis_names": ("t-SNE 1", "t-SNE 2")})}


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
            f"score {g['frechet_recon']:.1f} vs {w['frechet_recon']:.1f}: "
            + (f"both reconstruct, but only random points of the {good} decode into images like the data."
               if w["frechet_recon"] >= 0.5 * g["frechet_recon"] else
               f"the {bad} reconstructs far better, but its random points decode less like the data "
               "(its codes stray from the prior's mass; a sampler fitted to them, `--sampler gmm`, helps).")
        )
        own = [(n, e) for n, e in result["models"].items() if e.get("sampler", "prior") != "prior"]
        if own:
            parts.append(" ".join(
                f"The {n} samples from its objective's own sampler ({e['sampler']}, fitted to its training "
                f"codes) unless told: those samples score {e['frechet_own']:.1f}." for n, e in own))
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
