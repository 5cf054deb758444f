"""A data-specific image compressor: the posterior mean, quantized, in a small binary file.

File format ``.vkz`` (all integers little-endian):

    offset  size  what
    0       4     magic b"VKZ1"
    4       4     header length L (uint32)
    8       L     header, UTF-8 JSON: format version, the model (run folder name, image shape,
                  latent size, SHA-256 of its weights), count, bits per dimension, and the
                  quantizer's per-dimension centre and scale (float32 values), image names
    8+L     P     payload: count x latent_dim codes of ``bits`` bits each, packed MSB first,
                  row-major; P = ceil(count * latent_dim * bits / 8)

Quantizer ``gaussian-cdf`` (every continuous code): each dimension is standardised with the centre
and scale stored in the header, mapped through the standard normal CDF, and cut into 2^bits
equal-probability bins; decoding takes each bin's probability midpoint back through the inverse
CDF. Codes are close to Gaussian, so equal-mass bins spend the bits where the codes are.

Quantizer ``codebook`` (a VQ-VAE): the model has quantized already, so the payload is each
image's codebook indices, ``positions`` of them at ceil(log2 codebook_size) bits; the header
has no centre or scale, and decoding looks the indices up in the model's codebook.

Quantizer ``codebook-pixelcnn`` (a VQ-VAE whose PixelCNN prior is fitted): the same indices,
arithmetic-coded under the PixelCNN's conditional probabilities (``vaekit.tasks.entropy``), so each
costs about -log2 p(index | the indices before it) bits. Images go in chunks of ``chunk``; within
a chunk the stream runs position by position over the chunk's images, so decoding takes one
PixelCNN pass per position and chunk. The header keeps the payload's length and a SHA-256 of the
indices, which decoding checks: the probabilities come from a network, and a machine computing
them differently could not decode the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
import torch

from vaekit.errors import SettingError, VaekitError
from vaekit.files import atomic_write
from vaekit.models.inference import decode, encode
from vaekit.run.layout import WEIGHTS
from vaekit.settings import whole_number

MAGIC = b"VKZ1"
FORMAT = 1
_NORMAL = torch.distributions.Normal(0.0, 1.0)


def weights_digest(run: str | Path) -> str:
    """SHA-256 (hex, first 16 characters) of a run's model.safetensors: which model made a file."""
    return hashlib.sha256((Path(run) / WEIGHTS).read_bytes()).hexdigest()[:16]


def quantize(codes: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes (N, D) -> bin indices (N, D) int64 in [0, 2^bits)."""
    u = _NORMAL.cdf((codes.double() - centre.double()) / scale.double())
    return (u * 2**bits).floor().clamp(0, 2**bits - 1).long()


def dequantize(q: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Bin indices (N, D) -> codes (N, D) float32 at each bin's probability midpoint."""
    u = (q.double() + 0.5) / 2**bits
    return (_NORMAL.icdf(u) * scale.double() + centre.double()).float()


def pack_bits(q: torch.Tensor, bits: int) -> bytes:
    """Bin indices (N, D) -> bytes, ``bits`` per value, MSB first, row-major."""
    values = q.flatten().numpy().astype(np.uint32)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    bitstream = ((values[:, None] >> shifts) & 1).astype(np.uint8)  # (N*D, bits)
    return np.packbits(bitstream.flatten()).tobytes()


def unpack_bits(payload: bytes, count: int, bits: int) -> torch.Tensor:
    """The inverse of ``pack_bits``: ``count`` values (int64)."""
    stream = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[: count * bits]
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.int64)
    return torch.from_numpy(stream.reshape(count, bits).astype(np.int64) @ weights)


@torch.no_grad()
def compress(model, images: torch.Tensor, bits: int = 8, run: str | Path | None = None,
             names: list[str] | None = None) -> bytes:
    """Encode images (N, C, H, W) in [0, 1] into the bytes of a .vkz file.

    bits: 1 to 16 per latent dimension. run: the model's run folder, recorded in the header so
    that ``decompress`` can find the model and check it is the same one.
    """
    if not 1 <= bits <= 16:
        raise SettingError("bits", "1 to 16 bits per latent dimension", bits)
    if len(images) == 0:
        raise VaekitError("compress: no images given")
    described = {"run": Path(run).name if run else None,
                 "weights_sha256": weights_digest(run) if run else None,
                 "image_shape": list(model.config.image_shape), "latent_dim": model.latent_dim}
    if is_vq(model):
        return _compress_indices(model, images, described, names)
    codes = encode(model, images)[0]  # (N, D) posterior means
    centre = codes.mean(0)
    scale = codes.std(0).clamp(min=1e-6) if len(codes) > 1 else torch.ones_like(centre)
    # store the quantizer's parameters as float32, and quantize with exactly those values
    centre, scale = centre.float(), scale.float()
    header = {
        "format": FORMAT,
        "model": described,
        "count": len(codes), "bits": bits, "quantizer": "gaussian-cdf",
        "centre": centre.tolist(), "scale": scale.tolist(), "names": names or [],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + pack_bits(quantize(codes, centre, scale, bits), bits)


def is_vq(model) -> bool:
    """True for a model whose codes are codebook indices (a VQ-VAE)."""
    return hasattr(model.head, "codebook")


def index_bits(codebook_size: int) -> int:
    """Bits to write one index of a codebook of ``codebook_size`` entries."""
    return max(1, math.ceil(math.log2(codebook_size)))


CHUNK = 512  # images per PixelCNN pass when entropy coding


def _indices_digest(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.to(torch.int32).numpy().tobytes()).hexdigest()[:16]


def _tables(model, grids: torch.Tensor) -> torch.Tensor:
    """PixelCNN probabilities (B, positions, K) of index grids (B, rows, cols), float64."""
    logits = model.prior.pixelcnn(grids.to(model.head.codebook.device)).double().cpu()  # (B, K, r, c)
    return torch.softmax(logits.flatten(2).transpose(1, 2), -1)


def _entropy_code(model, indices: torch.Tensor) -> bytes:
    from vaekit.tasks.entropy import Encoder, frequencies

    grid, coder = model.head.grid, Encoder()
    for s in range(0, len(indices), CHUNK):
        chunk = indices[s : s + CHUNK]
        probs = _tables(model, chunk.view(-1, *grid))  # teacher-forced: every position at once
        for j in range(chunk.shape[1]):
            cum = frequencies(probs[:, j])
            for i, symbol in enumerate(chunk[:, j].tolist()):
                coder.encode(symbol, cum[i])
    return coder.finish()


def _entropy_decode(model, payload: bytes, count: int, positions: int) -> torch.Tensor:
    from vaekit.tasks.entropy import Decoder, frequencies

    grid, coder = model.head.grid, Decoder(payload)
    out = torch.zeros((count, positions), dtype=torch.long)
    for s in range(0, count, CHUNK):
        chunk = out[s : s + CHUNK]
        for j in range(positions):
            cum = frequencies(_tables(model, chunk.view(-1, *grid))[:, j])  # later positions: unseen
            chunk[:, j] = torch.tensor([coder.decode(cum[i]) for i in range(len(chunk))])
    return out


def _compress_indices(model, images: torch.Tensor, described: dict, names: list[str] | None) -> bytes:
    from vaekit.tasks.train_prior import code_indices

    indices = code_indices(model, images).flatten(1)  # (N, positions)
    k = model.head.codebook.shape[0]
    header = {"format": FORMAT, "model": described, "count": len(indices), "bits": index_bits(k),
              "quantizer": "codebook", "positions": indices.shape[1], "codebook_size": k,
              "names": names or []}
    if bool(model.prior.fitted):
        payload = _entropy_code(model, indices)
        header |= {"quantizer": "codebook-pixelcnn", "chunk": CHUNK, "payload_bytes": len(payload),
                   "indices_sha256": _indices_digest(indices)}
    else:
        payload = pack_bits(indices, header["bits"])
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + payload


def read_vkz(path: str | Path, model=None) -> tuple[dict, torch.Tensor | None]:
    """Read a .vkz file: (header, dequantized codes (N, D)), or for a codebook file the indices
    (N, positions) as int64 -- for an entropy-coded one only with the ``model`` whose prior
    coded them (None without it). Raises VaekitError naming the file when it is not a .vkz file
    or is truncated."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise VaekitError(f"{path}: cannot read ({e.strerror})") from None
    if blob[:4] != MAGIC:
        raise VaekitError(f"{path}: not a vaekit compressed file (expected it to start with {MAGIC!r})")
    if len(blob) < 8:
        raise VaekitError(f"{path}: truncated (no header length)")
    (hlen,) = struct.unpack("<I", blob[4:8])
    if 8 + hlen > len(blob):
        raise VaekitError(f"{path}: truncated or damaged: the header claims {hlen} bytes, the file has "
                          f"{len(blob) - 8} after its length")
    try:
        header = json.loads(blob[8 : 8 + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise VaekitError(f"{path}: truncated or damaged header (not JSON)") from None
    count, bits, dim, centre, scale = _check_header(header, path)
    payload = blob[8 + hlen :]
    if header.get("quantizer") == "codebook-pixelcnn":
        if len(payload) != header["payload_bytes"]:
            raise VaekitError(f"{path}: truncated or damaged: payload is {len(payload)} bytes, expected "
                              f"{header['payload_bytes']}")
        if model is None:
            return header, None
        if not is_vq(model) or model.head.positions != dim or not bool(model.prior.fitted):
            raise VaekitError(f"{path}: entropy-coded under a VQ-VAE's PixelCNN prior; the model given "
                              "has no such prior")
        with torch.no_grad():
            q = _entropy_decode(model, payload, count, dim)
        if _indices_digest(q) != header["indices_sha256"]:
            raise VaekitError(f"{path}: the decoded indices do not match the file's digest: the prior "
                              "differs from the one that wrote it (another model, or another machine "
                              "computing its probabilities differently)")
        return header, q
    need = math.ceil(count * dim * bits / 8)
    if len(payload) != need:
        raise VaekitError(f"{path}: truncated or damaged: payload is {len(payload)} bytes, expected {need}")
    q = unpack_bits(payload, count * dim, bits).view(count, dim)
    if centre is None:  # codebook indices
        if int(q.max()) >= header["codebook_size"]:
            raise VaekitError(f"{path}: damaged payload: an index past the codebook's "
                              f"{header['codebook_size']} entries")
        return header, q
    return header, dequantize(q, centre, scale, bits)


def _check_header(header, path: Path) -> tuple[int, int, int, torch.Tensor, torch.Tensor]:
    """Every header field a reader relies on, checked before any is used: (count, bits, latent
    size, centre (D,), scale (D,)). VaekitError naming the file and the field otherwise."""
    def bad(field: str, expected: str, found) -> VaekitError:
        return VaekitError(f"{path}: damaged header: {field}: expected {expected}, found {found!r:.60}")

    if not isinstance(header, dict):
        raise bad("header", "a JSON object", type(header).__name__)
    if header.get("format") != FORMAT:
        raise VaekitError(f"{path}: format version {header.get('format')!r:.20}; this vaekit reads {FORMAT}")
    model = header.get("model")
    if not isinstance(model, dict):
        raise bad("model", "an object", model)
    for field in ("run", "weights_sha256"):
        if not isinstance(model.get(field), (str, type(None))):
            raise bad(f"model.{field}", "a string", model.get(field))
    count, bits, dim = header.get("count"), header.get("bits"), model.get("latent_dim")
    if not whole_number(count, 1, 2**31):
        raise bad("count", "a whole number of images >= 1", count)
    if not whole_number(bits, 1, 16):
        raise bad("bits", "a whole number from 1 to 16", bits)
    if not whole_number(dim, 1, 2**20):
        raise bad("model.latent_dim", "a whole number >= 1", dim)
    shape = model.get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(whole_number(v, 1, 2**16) for v in shape)):
        raise bad("model.image_shape", "[channels, height, width]", shape)
    names = header.get("names", [])
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and len(names) in (0, count)):
        raise bad("names", f"a list of {count} image names (or none)",
                  f"{len(names)} names" if isinstance(names, list) else names)
    if header.get("quantizer") in ("codebook", "codebook-pixelcnn"):
        k, positions = header.get("codebook_size"), header.get("positions")
        if header["quantizer"] == "codebook-pixelcnn":
            if not whole_number(header.get("payload_bytes"), 0, 2**40):
                raise bad("payload_bytes", "a whole number of bytes", header.get("payload_bytes"))
            if not isinstance(header.get("indices_sha256"), str):
                raise bad("indices_sha256", "a hex digest", header.get("indices_sha256"))
        if not whole_number(k, 1, 2**16):
            raise bad("codebook_size", "a whole number from 1 to 65536", k)
        if not whole_number(positions, 1, 2**20):
            raise bad("positions", "a whole number >= 1", positions)
        if bits != index_bits(k):
            raise bad("bits", f"{index_bits(k)} for a codebook of {k}", bits)
        return count, bits, positions, None, None
    vectors = []
    for field in ("centre", "scale"):
        values = header.get(field)
        if not (isinstance(values, list) and len(values) == dim
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise bad(field, f"a list of {dim} numbers (one per latent dimension)",
                      f"{len(values)} values" if isinstance(values, list) else values)
        vector = torch.tensor(values, dtype=torch.float32)
        if not torch.isfinite(vector).all() or (field == "scale" and (vector <= 0).any()):
            raise bad(field, "finite numbers" + (" > 0" if field == "scale" else ""), values)
        vectors.append(vector)
    return count, bits, dim, *vectors


def write_vkz(path: str | Path, blob: bytes) -> Path:
    """Write a compressed file atomically."""
    return atomic_write(path, blob)


@torch.no_grad()
def decompress(path: str | Path, model, run: str | Path | None = None) -> tuple[dict, torch.Tensor]:
    """Rebuild images (N, C, H, W) in [0, 1] from a .vkz file with the model that wrote it.

    With ``run`` given, its weights must match the digest in the file's header.
    """
    header, codes = read_vkz(path)
    digest = header["model"].get("weights_sha256")
    if run is not None and digest and weights_digest(run) != digest:
        raise VaekitError(f"{path} was written by another model (weights {digest}); {run} has "
                          f"{weights_digest(run)}")
    if codes is None:  # entropy-coded: decoding needs the model's prior
        header, codes = read_vkz(path, model)
    if header.get("quantizer") in ("codebook", "codebook-pixelcnn"):
        if not is_vq(model) or codes.shape[1] != model.head.positions:
            raise VaekitError(f"{path}: holds {codes.shape[1]} codebook indices per image; the model is "
                              "not a VQ-VAE with that many")
        codes = model.head.lookup(codes.to(model.head.codebook.device))
    if codes.shape[1] != model.latent_dim:
        raise VaekitError(f"{path}: codes have {codes.shape[1]} dimensions, the model {model.latent_dim}")
    return header, decode(model, codes)


def writer_run(header: dict, file: str | Path, run: str | Path | None = None) -> Path:
    """The run folder of the model that wrote a .vkz file: ``run`` when given, else the run
    named in its header under ``runs/``; VaekitError asking for ``run`` when neither is there."""
    if run is not None:
        return Path(run)
    name = header["model"].get("run")
    found = Path("runs") / name if name else None
    if found is None or not found.is_dir():
        raise SettingError("run", f"the run folder of the model that wrote {file} ({name})", None)
    return found


def output_names(header: dict, count: int) -> list[Path]:
    """Relative PNG paths for decompressed images: each stored name (sub-folders kept, never a
    part that climbs out of the output folder), or 000000.png, 000001.png, ..."""
    names = header.get("names") or [f"{i:06d}" for i in range(count)]
    if len(names) != count:
        raise VaekitError(f"the file holds {count} codes but {len(names)} image names")
    safe = ([p for p in Path(name).with_suffix(".png").parts if p not in ("..", "/", "")] for name in names)
    return [Path(*parts) if parts else Path(f"{i:06d}.png") for i, parts in enumerate(safe)]
