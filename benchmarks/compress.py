"""Rate-distortion on MNIST and Fashion-MNIST: vaekit's .vkz codes vs PCA vs PNG/JPEG/WebP.

vaekit: one AE per code size (`vaekit train --model ae --hidden 512 --latent-dim D`, 10 epochs),
then `vaekit evaluate RUN --compress BITS` on the whole official test split (bytes counted from
the .vkz file: codes plus one header). PCA: D components fitted on 20,000 training images,
quantized with the same equal-probability Gaussian bins and bits, so the two differ only in the
transform. PNG (lossless), JPEG and WebP at several qualities: Pillow, image by image, on the first
2,000 test images (PSNR from 8-bit pixels). Writes the `compress` section of RESULTS.md and
compress.json.

    python benchmarks/compress.py
    python benchmarks/compress.py --data mnist --dims 32
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from _results import HERE, machine, publish
from PIL import Image
from sklearn.decomposition import PCA

from vaekit import datasets
from vaekit.datasets import to_float
from vaekit.tasks.compress import dequantize, quantize
from vaekit.tasks.denoise import fidelity

BIN = Path(sys.executable).parent
CODEC_IMAGES = 2000


def vaekit_row(data: str, dim: int, bits: int, epochs: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run([str(BIN / "vaekit"), "train", "--data", data, "--model", "ae", "--hidden", "512",
                        "--latent-dim", str(dim), "--epochs", str(epochs), "--seed", str(seed), "--out",
                        str(run), "--no-progress"], check=True, capture_output=True)
        subprocess.run([str(BIN / "vaekit"), "evaluate", str(run), "--compress", str(bits)], check=True,
                       capture_output=True)
        c = json.loads((run / "eval.json").read_text())["compress"]
    return {"method": f"vaekit AE, {dim} dims x {bits} bits", "bytes": c["file_bytes_per_image"],
            "psnr": c["psnr"], "ssim": c["ssim"]}


def pca_row(train: torch.Tensor, test: torch.Tensor, dim: int, bits: int, seed: int) -> dict:
    pca = PCA(n_components=dim, random_state=seed).fit(train.flatten(1).numpy())
    codes = torch.from_numpy(pca.transform(test.flatten(1).numpy()))
    centre, scale = codes.mean(0).float(), codes.std(0).float()
    coded = dequantize(quantize(codes, centre, scale, bits), centre, scale, bits)
    rebuilt = pca.inverse_transform(coded.numpy())
    rebuilt = torch.from_numpy(rebuilt).float().clamp(0, 1).view_as(test)
    f = fidelity(rebuilt, test)
    header = 8 * dim  # the same per-file centre and scale a .vkz header carries, as float32
    return {"method": f"PCA, {dim} dims x {bits} bits", "bytes": dim * bits / 8 + header / len(test),
            "psnr": f["psnr"], "ssim": f["ssim"]}


def codec_row(images: torch.Tensor, fmt: str, quality: int | None) -> dict:
    arrays = (images * 255).round().byte()[:, 0].numpy()  # (N, H, W) grey
    sizes, out = [], []
    for a in arrays:
        buf = io.BytesIO()
        opts = {"optimize": True} if fmt == "PNG" else {"quality": quality}
        Image.fromarray(a).save(buf, format=fmt, **opts)
        sizes.append(buf.tell())
        buf.seek(0)
        with Image.open(buf) as im:
            out.append(np.asarray(im.convert("L")))
    rebuilt = torch.from_numpy(np.stack(out)).float().div(255)[:, None]
    f = fidelity(rebuilt, (images * 255).round() / 255)
    name = fmt if quality is None else f"{fmt} quality {quality}"
    return {"method": name, "bytes": float(np.mean(sizes)), "psnr": f["psnr"], "ssim": f["ssim"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--dims", nargs="+", type=int, default=[8, 16, 32, 64])
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = {"machine": machine(), "bits": args.bits, "epochs": args.epochs, "data": {}}
    for data in args.data:
        d = datasets.load(data)
        gen = torch.Generator().manual_seed(args.seed)
        train = to_float(d.train.take(torch.randperm(len(d.train), generator=gen)[:20_000]))
        test = to_float(d.test.all_images())
        rows = []
        for dim in args.dims:
            rows.append(vaekit_row(data, dim, args.bits, args.epochs, args.seed))
            rows.append(pca_row(train, test, dim, args.bits, args.seed))
            print(data, rows[-2], rows[-1], flush=True)
        rows.append(codec_row(test[:CODEC_IMAGES], "PNG", None))
        for q in (10, 50, 90):
            rows.append(codec_row(test[:CODEC_IMAGES], "JPEG", q))
            rows.append(codec_row(test[:CODEC_IMAGES], "WEBP", q))
        results["data"][data] = rows
    publish("compress", render(results), results)
    print((HERE / "RESULTS.md").read_text())


def render(results: dict) -> str:
    lines = [
        "## Compression: bytes per image against PSNR / SSIM",
        "",
        f"`python benchmarks/compress.py` on {results['machine']}. vaekit: an AE per code size (MLP 512, "
        f"{results['epochs']} epochs), its posterior means quantized to {results['bits']} bits per "
        "dimension in equal-probability Gaussian bins, bytes counted from the .vkz file of the whole "
        "official test split (codes + one header). PCA: the same quantizer on PCA coefficients (fitted "
        f"on 20,000 training images), header counted the same way. PNG/JPEG/WebP: Pillow, per image, "
        f"on the first {CODEC_IMAGES} test images. PSNR per image, averaged.",
        "",
        "| data | method | bytes / image | PSNR (dB) | SSIM |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for data, rows in results["data"].items():
        for r in rows:
            lines.append(f"| {data} | {r['method']} | {r['bytes']:.1f} | {r['psnr']:.2f} | {r['ssim']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
