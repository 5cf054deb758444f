"""The training loop. It knows the model only through the registered objective, which returns
named terms, so every registered model and objective trains, validates and logs the same way.

Per step the hot path is: slice a shuffled index, gather uint8 rows from memory, convert to float,
forward, loss, backward, fused Adam. Nothing reads a value back to Python except every
``REPORT_EVERY`` steps, for the progress bar and the finite-loss check.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vaekit import datasets
from vaekit.datasets import Dataset, to_float
from vaekit.datasets.binarize import binarize
from vaekit.datasets.corrupt import parse_corruption
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.models import MODELS, ModelConfig, build_model
from vaekit.models.inference import batch_for, reconstruct_pairs, sample_images
from vaekit.objectives import OBJECTIVES, Batch, add_terms, means, set_terms, terms_of
from vaekit.report.plots import save_grid
from vaekit.run import Run
from vaekit.run.card import write_card
from vaekit.run.checkpoint import (
    clean_temporaries,
    load_checkpoint,
    save,
    save_checkpoint,
    save_weights,
)
from vaekit.run.data import split_data
from vaekit.run.layout import CHECKPOINT, METRICS, SUMMARY, grid_name
from vaekit.settings import MODEL_CHOOSERS, ModelSettings, TrainConfig, resolve_length
from vaekit.train.adam import Adam, fused_adam_works
from vaekit.train.device import CpuLoad, check_accelerator, choose_threads, flush_denormals, resolve_precision
from vaekit.train.engine import make_engine
from vaekit.train.loggers import start_trackers
from vaekit.train.schedules import make_scheduler

REPORT_EVERY = 50
GRID_IMAGES = 32
RUN_ENV = "VAEKIT_RUN_DIR"  # hands the run folder to the extra processes Fabric launches
EVAL_BATCH = 1024


def fit(config: TrainConfig | None = None, resume: str | Path | None = None,
        dataset: Dataset | None = None, **settings) -> Path:
    """Train a model and return its run folder.

    config: a TrainConfig, or keyword ``settings`` of one (``fit(data="mnist", epochs=5)``).
    resume: a run folder to continue from its last checkpoint with its saved settings.
    dataset: images already in memory (a ``vaekit.datasets.Dataset``) to train on instead of
    loading ``config.data``; single-process only, and the run cannot reload its data by name.
    With ``devices`` > 1 or ``num_nodes`` > 1 the work is spread over processes by Lightning
    Fabric (DDP); each process trains on its own shard of every epoch's shuffled index.
    """
    if resume is not None:
        run = Path(resume)
        config = Run.open(run).settings  # checked like new settings; no train section: refused
        if not (run / CHECKPOINT).is_file():
            raise VaekitError(f"{run}: no {CHECKPOINT} in that folder", "resume")
    else:
        config = config or TrainConfig(**settings)
        launched = os.environ.get(RUN_ENV) if os.environ.get("LOCAL_RANK", "0") != "0" else None
        if config.num_nodes > 1 and not config.out:
            raise VaekitError("give the run folder explicitly when training on several "
                              "machines, so that every process writes to the same place", "out")
        run = Path(launched) if launched else _new_run_dir(config)
    check_accelerator(config.accelerator)
    world = config.devices * config.num_nodes
    if dataset is not None and (world > 1 or resume is not None):
        raise VaekitError("in-memory data trains in one process and cannot be resumed; save the "
                          "images to a folder and pass its path as data for those")
    fabric = make_engine(config)  # Lightning Fabric, or its one-process CPU contract
    # The processes Fabric starts re-run this command; they learn the run folder from here.
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = str(run)
    try:
        fabric.launch()
        return _Trainer(config, fabric, run, resuming=resume is not None, dataset=dataset).run()
    finally:
        if previous is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = previous


def _new_run_dir(cfg: TrainConfig) -> Path:
    if cfg.out:
        out = Path(cfg.out)
        if out.exists() and not out.is_dir():
            raise VaekitError(f"{out} is a file; give a folder for the run", "out")
        if (out / CHECKPOINT).exists() or (out / SUMMARY).exists():
            raise VaekitError(f"{out} already holds a run; resume it (vaekit train --resume {out}) or "
                              "choose another folder", "out")
        return out
    tag = Path(cfg.data).name or "data"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{tag}-{cfg.model}-{cfg.backbone}-z{cfg.latent_dim}-{stamp}"


# PyTorch's CPU generator keeps only the low 32 bits of a seed, so the two families of seeds
# below are kept apart there: noise seeds are even, order seeds odd.


def _noise_seed(seed: int, rank: int, epoch: int) -> int:
    """Seed of the global RNG (reparameterization noise) for one process and epoch.

    A fresh seed per (run seed, process, epoch) means a resume at an epoch boundary needs no
    saved RNG state, and every process draws different noise.
    """
    return 2 * (seed * 1_000_003 + rank * 10_007 + epoch) % 2**32


def _order_seed(seed: int, epoch: int) -> int:
    """Seed of the epoch's shuffle, shared by all processes, never equal to a noise seed (equal
    seeds would make the first steps' noise a function of which images were drawn)."""
    return (2 * (seed * 1_000_003 + epoch) + 1) % 2**32


class _Trainer:
    def __init__(self, cfg: TrainConfig, fabric, run: Path, resuming: bool,
                 dataset: Dataset | None = None):
        self.cfg, self.fabric, self.run_dir, self.resuming = cfg, fabric, run, resuming
        self.dataset = dataset
        self.corrupt = parse_corruption(cfg.denoise) if cfg.denoise else None
        self.rank, self.world = fabric.global_rank, fabric.world_size
        self.main = fabric.is_global_zero
        self.stop_requested = False

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.cfg
        load = CpuLoad()  # measured while the data loads
        torch.manual_seed(cfg.seed)
        data = self.dataset or datasets.load(cfg.data, cfg.image_size, cfg.image_channels)
        if cfg.threads is None:
            threads = (torch.get_num_threads() if os.environ.get("OMP_NUM_THREADS")
                       else choose_threads(load, cfg.devices))
            cfg = self.cfg = dataclasses.replace(cfg, threads=threads)
        torch.set_num_threads(cfg.threads)
        data, self.splits = split_data(data, cfg)
        self.cfg = cfg = resolve_length(cfg, len(self.splits.train), self.world)
        self.class_names = data.class_names
        num_classes = 0
        if MODELS[cfg.model].conditional:
            if self.splits.train.labels is None or not data.class_names:
                raise VaekitError(f"{cfg.model}: {cfg.data} has no class labels to condition on", "model")
            num_classes = len(data.class_names)
        mcfg = ModelConfig(**dataclasses.asdict(cfg.section(ModelSettings)),
                           **cfg.entry_values(MODEL_CHOOSERS),  # the model kind's, backbone's, prior's own
                           image_shape=self.splits.train.shape, num_classes=num_classes)
        self.raw = build_model(mcfg)
        entry = OBJECTIVES[cfg.objective]
        # an objective's own network (FactorVAE's discriminator) trains beside the model, unwrapped:
        # its gradients are averaged over the processes by hand (it runs twice in a step)
        self.own = entry.network(self.raw, cfg) if entry.network is not None else None
        self.own_loss = entry.network_loss
        # at the run's precision, like the model's forward (validation keeps float32 for both)
        self.objective = terms_of(entry, self.own[0] if self.own else None, self.fabric.autocast)
        device_type = self.fabric.device.type
        # torch's fused CPU step calls the same private op: without a working one, the for-each step
        fused = device_type == "cuda" or (device_type == "cpu" and fused_adam_works())
        optimizer = Adam(self.raw.parameters(), lr=cfg.lr, eps=cfg.adam_eps,
                         weight_decay=cfg.weight_decay, fused=fused)
        self.model, self.optimizer = self.fabric.setup(self.raw, optimizer)
        n = len(self.splits.train)
        self.per_rank = n // self.world
        self.steps = math.ceil(self.per_rank / cfg.batch_size)
        self.scheduler = make_scheduler(self.optimizer.optimizer, cfg.lr_schedule, cfg.lr,
                                        cfg.epochs * self.steps)
        self.history: list[dict] = []
        self.start_epoch, self.start_step = 0, 0
        self.partial: dict | None = None  # running sums of the terms of an epoch cut short
        self.train_seconds = 0.0
        if self.run_dir.is_dir():  # what a killed write left (a resume, or a rerun of a run killed early)
            clean_temporaries(self.run_dir)
        if self.resuming:
            state = load_checkpoint(self.run_dir, self.raw, self.optimizer.optimizer, self.scheduler,
                                    self.own)
            self.start_epoch, self.start_step = state["epoch"], state["step"]
            self.history, self.train_seconds = state["history"], state["train_seconds"]
            if self.main and self.start_step == 0:
                # at an epoch boundary the checkpoint's weights are the epoch's model.safetensors:
                # rewrite it, so a damaged or missing one is repaired by a resume
                save_weights(self.raw, self.run_dir)
            partial = state.get("partial")
            self.partial = ({k: torch.tensor(v, dtype=torch.float64) for k, v in partial.items()}
                            if isinstance(partial, dict) and partial else None)
            if self.main:
                print(f"resuming {self.run_dir} at epoch {self.start_epoch + 1}"
                      + (f", step {self.start_step}" if self.start_step else ""), file=sys.stderr)
        config = {"model": self.raw.config.to_dict(), "train": cfg.to_dict(), "data": self._data_info()}
        # trackers start before the run's files are written, so one that cannot start leaves no run
        self.trackers = start_trackers(cfg.logger, self.run_dir, config) if self.main else []
        if self.main and not self.resuming:
            # settings only: weights are written when the first epoch ends, so a run killed
            # before that has no model to sample from and says so
            save(self.raw, self.run_dir, {k: v for k, v in config.items() if k != "model"}, weights=False)

    def _data_info(self) -> dict:
        s = self.splits
        return {"name": self.cfg.data, "image_shape": list(s.train.shape),
                "class_names": self.class_names, "train": len(s.train), "val": len(s.val),
                "test": len(s.test), "test_protocol": s.test_protocol}

    # ------------------------------------------------------------------ loop
    def run(self) -> Path:
        threads = torch.get_num_threads()  # the caller's, given back at the end
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> Path:
        self._setup()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if self.main else None
        # Adam's moment estimates of rarely-used weights decay into denormal floats, which x86 CPUs
        # compute on many times slower: flushed to zero on every thread of the run (device.py)
        on_cpu = self.fabric.device.type == "cpu"
        flush = on_cpu and flush_denormals(True)
        try:
            for epoch in range(self.start_epoch, self.cfg.epochs):
                self._train_epoch(epoch)
                if self.stop_requested:
                    print(f"\nstopped; checkpoint saved. Continue with: vaekit train --resume "
                          f"{self.run_dir}", file=sys.stderr)
                    raise SystemExit(130)
            summary = self._finish()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if flush:
                flush_denormals(False)
        if self.main:
            skip = ("test_loss", "test_objective", "test_protocol", "test_seconds")
            terms = ", ".join(f"{k[5:]} {v:.2f}" for k, v in summary.items()
                              if k.startswith("test_") and k not in skip)
            print(f"test loss {summary['test_loss']:.2f} ({terms}) per image; run saved in {self.run_dir}")
        return self.run_dir

    def _on_sigint(self, signum, frame) -> None:
        if self.stop_requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.stop_requested = True
        print("\nCtrl-C: finishing this step and saving a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr)

    def _train_epoch(self, epoch: int) -> None:
        cfg, fabric, device = self.cfg, self.fabric, self.fabric.device
        t0 = time.perf_counter()
        if self.start_step == 0:
            torch.manual_seed(_noise_seed(cfg.seed, self.rank, epoch))
        order = torch.randperm(len(self.splits.train),
                               generator=torch.Generator().manual_seed(_order_seed(cfg.seed, epoch)))
        shard = order[self.rank :: self.world][: self.per_rank]
        sums = {k: v.to(device) for k, v in self.partial.items()} if self.partial else None
        self.model.train()
        bar = tqdm(total=self.steps, initial=self.start_step, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not (self.main and cfg.progress), leave=True, mininterval=0.5,
                   file=sys.stderr, dynamic_ncols=True)
        train = self.splits.train
        for step in range(self.start_step, self.steps):
            idx = shard[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            x = to_float(train.take(idx)).to(device, non_blocking=True)  # (B, C, H, W)
            if cfg.binarize == "dynamic":  # a fresh Bernoulli draw each time an image is used
                x = binarize(x)
            # denoising: the network sees a corrupted copy and is scored against the clean image
            y = train.take_labels(idx).to(device) if self.raw.conditional else None
            progress = (epoch * self.steps + step) / (cfg.epochs * self.steps)  # for KL schedules
            batch = Batch(self.corrupt(x) if self.corrupt else x, x, y, progress, len(train))
            terms = self.objective(self.model, batch, cfg)
            self.optimizer.zero_grad(set_to_none=True)
            fabric.backward(terms["loss"])
            self.optimizer.step()
            self.scheduler.step()
            if self.own is not None:
                self._step_own(terms[self.own_loss])
            sums = add_terms(sums, terms, x.shape[0])
            done = step + 1
            if done % REPORT_EVERY == 0 or done == self.steps:
                self._check_finite(sums, epoch, done)
                bar.set_postfix(self._postfix(sums), refresh=False)
                bar.update(done - bar.n)
            if self.stop_requested:
                bar.close()
                self.train_seconds += time.perf_counter() - t0
                self._save_checkpoint(epoch, done, sums)
                return
        bar.close()
        self.start_step = 0
        self.partial = None
        self._end_epoch(epoch, self._all_reduce(sums), t0)

    def _step_own(self, loss: torch.Tensor) -> None:
        """Step the objective's own network on its loss (gradients cleared first, so only that
        loss moves it: one that calls the network plainly in the model's term leaves some there,
        ``OwnNetwork.fixed`` none). A loss without gradients is
        a step the objective left its network out of (a warm-up): nothing moves, Adam counts none."""
        if not loss.requires_grad:
            return
        net, optimizer = self.own
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            for p in net.parameters():
                if p.grad is not None:
                    p.grad = self.fabric.all_reduce(p.grad, reduce_op="mean")
        optimizer.step()

    def _all_reduce(self, sums: dict) -> dict:
        """Add up every process's running sums (one collective for all the terms)."""
        names = list(sums)
        total = self.fabric.all_reduce(torch.stack([sums[n] for n in names]), reduce_op="sum")
        return dict(zip(names, total.cpu(), strict=True))

    def _postfix(self, sums: dict) -> dict:
        shown = {k: f"{v:.2f}" for k, v in means(sums).items()}
        return shown | {"lr": f"{self.scheduler.get_last_lr()[0]:.2e}"}

    def _check_finite(self, sums: dict, epoch: int, step: int) -> None:
        if not bool(torch.isfinite(torch.stack(list(sums.values()))).all()):
            last = f"epoch {epoch}" if epoch > 0 else "none: it failed in the first epoch"
            raise VaekitError(
                f"the loss became non-finite in epoch {epoch + 1} by step {step}; training stopped."
                f" Last good checkpoint: {last} (kept in {self.run_dir}). Try a lower --lr "
                f"(now {self.cfg.lr}) or --loss mse.")

    def _end_epoch(self, epoch: int, sums: dict, t0: float) -> None:
        cfg = self.cfg
        self._check_finite(sums, epoch, self.steps)
        val = means(self._set_sums(self.splits.val, seed=cfg.seed))
        train = means(sums)
        seconds = time.perf_counter() - t0
        self.train_seconds += seconds
        self.history.append({"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()},
                             **{f"val_{k}": v for k, v in val.items()},
                             "lr": self.scheduler.get_last_lr()[0], "epoch_seconds": seconds})
        if self.main:
            grids = self._write_epoch_outputs(epoch)
            for tracker in self.trackers:
                tracker.epoch(self.history[-1], grids)
            self._save_checkpoint(epoch + 1, 0, None)
            rest = ", ".join(f"{k} {v:.2f}" for k, v in val.items() if k != "loss")
            tqdm.write(f"epoch {epoch + 1}: train {train['loss']:.2f}  val {val['loss']:.2f} "
                       f"({rest})  {seconds:.1f} s", file=sys.stderr)
        self.fabric.barrier()

    def _set_sums(self, images, seed: int) -> dict:
        """The objective's term sums over this process's share of ``images``, added up over all
        processes; codes (and corruptions) drawn from ``seed`` plus the process's rank."""
        self.model.eval()
        positions = torch.arange(self.rank, len(images), self.world)
        batch = batch_for(self.raw.config.image_shape, most=EVAL_BATCH)  # fewer when images are large
        sums = set_terms(self.raw, images, positions, self.cfg, batch, self.fabric.device,
                         seed + self.rank, self.corrupt, network=self.own[0] if self.own else None)
        self.model.train()
        return self._all_reduce(sums)

    def _write_epoch_outputs(self, epoch: int) -> dict[str, Path]:
        """metrics.csv, the weights, and this epoch's grids; returns the grids' paths."""
        run = self.run_dir
        columns = list(self.history[-1])
        rows = [",".join(columns)]
        rows += [",".join(f"{h.get(c, float('nan')):.6g}" for c in columns) for h in self.history]
        atomic_write(run / METRICS, "\n".join(rows) + "\n")
        save_weights(self.raw, run)
        if self.cfg.keep_every and (epoch + 1) % self.cfg.keep_every == 0:
            save_weights(self.raw, run, snapshot=epoch + 1)
        self.raw.eval()
        first = torch.arange(min(GRID_IMAGES, len(self.splits.val)))
        x = to_float(self.splits.val.take(first))
        y = self.splits.val.take_labels(first) if self.raw.conditional else None
        if self.corrupt:  # show what the network is asked to clean up, and what it makes of it
            x = self.corrupt(x, torch.Generator().manual_seed(self.cfg.seed))
        grids = {"recon": save_grid(reconstruct_pairs(self.raw, x, y=y),
                                    run / grid_name("recon", epoch + 1)),
                 "samples": save_grid(sample_images(self.raw, 64, seed=self.cfg.seed),
                                      run / grid_name("samples", epoch + 1))}
        self.raw.train()
        return grids

    def _save_checkpoint(self, epoch: int, step: int, sums: dict | None) -> None:
        if not self.main:
            return
        partial = {k: float(v) for k, v in sums.items()} if sums else {}
        save_checkpoint(self.run_dir, self.raw, self.optimizer.optimizer, self.scheduler, {
            "epoch": epoch, "step": step, "partial": partial,
            "history": self.history, "train_seconds": self.train_seconds}, self.own)

    def _finish(self) -> dict:
        cfg = self.cfg
        t0 = time.perf_counter()
        test = means(self._set_sums(self.splits.test, seed=cfg.seed + 1))
        # test_loss stays the negative ELBO (beta = 1) whatever the objective, so runs compare;
        # test_objective is what this run minimised, and every other term is test_<name>
        elbo = "recon" in test and "kl" in test
        summary = {f"test_{k}": v for k, v in test.items() if k != "loss"} | {
            "test_loss": test["recon"] + test["kl"] if elbo else test["loss"],
            "test_objective": test["loss"],
            "test_protocol": f"{self.splits.test_protocol}; "
                             + (f"negative ELBO (recon {cfg.loss} + KL) per image in nats" if elbo
                                else f"the {cfg.objective} objective per image")
                             + f"; objective {cfg.objective}, {cfg.k} posterior sample(s) of z per image"
                             + (f"; inputs corrupted by {cfg.denoise}, targets clean" if cfg.denoise else ""),
            "train_seconds": self.train_seconds, "epochs": cfg.epochs,
            "test_seconds": time.perf_counter() - t0, "device": str(self.fabric.device),
            "processes": self.world,
            "precision": resolve_precision(cfg.precision, cfg.accelerator),
        }
        if self.main:
            write_json(self.run_dir / SUMMARY, summary)
            write_card(Run.open(self.run_dir))
            embedding = self._embedding() if self.trackers else None
            for tracker in self.trackers:
                tracker.finish(summary, embedding)
        return summary

    def _embedding(self, n: int = 1000):
        """(codes, labels, thumbnails) of the first test images, for a tracker's embedding view."""
        from vaekit.models.inference import encode

        test = self.splits.test
        idx = torch.arange(min(n, len(test)))
        thumbs = to_float(test.take(idx))
        labels = test.take_labels(idx)
        codes, _ = encode(self.raw.eval(), thumbs, labels)
        return codes, labels, thumbs
