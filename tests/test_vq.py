"""VQ-VAE: the codebook follows its vectors, the PixelCNN prior is causal and learns, and the
whole path -- train, train-prior, sample -- works from the command line on MNIST."""

import json
import math

import pytest
import torch
from conftest import run_here

from vaekit.errors import SettingError
from vaekit.models import build_model
from vaekit.models.pixelcnn import GatedPixelCNN
from vaekit.models.vq import grid_shape


def test_a_codebook_update_moves_entries_toward_their_assigned_vectors():
    model = build_model(model="vqvae", latent_dim=4, code_dim=2, codebook_size=3, hidden=[8]).train()
    q = model.head
    q.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]]))
    q.embed_sum.copy_(q.codebook)
    q.cluster_size.fill_(1.0)
    z = torch.tensor([[1.0, 1.0], [1.2, 0.8], [9.0, 9.0]])  # two near entry 0, one near entry 1
    idx = q.nearest(z)
    assert idx.tolist() == [0, 0, 1]
    before = q.codebook.clone()
    q.update(z, idx)
    # each used entry moved toward the mean of its vectors; the unused one stayed put
    for k, target in ((0, z[:2].mean(0)), (1, z[2])):
        assert (q.codebook[k] - target).norm() < (before[k] - target).norm()
    assert torch.allclose(q.codebook[2], before[2], atol=1e-3)


def test_quantized_codes_are_codebook_entries_and_gradients_pass_straight_through():
    torch.manual_seed(0)
    model = build_model(model="vqvae", latent_dim=6, code_dim=2, codebook_size=5, hidden=[8]).eval()
    x = torch.rand(4, 1, 28, 28, requires_grad=True)
    q = model.encode(x)
    assert q.indices.shape == (4, 3)
    assert torch.allclose(q.mode(), model.head.lookup(q.indices), atol=1e-6)
    q.mode().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_code_grid_is_the_encoders_feature_map_on_a_conv_backbone():
    model = build_model(model="vqvae", backbone="conv", channels=[8, 16], latent_dim=7 * 7 * 4, code_dim=4)
    assert model.head.grid == (7, 7)
    assert model.encode(torch.rand(2, 1, 28, 28)).indices.shape == (2, 49)
    with pytest.raises(SettingError, match="latent_dim.*196 for a VQ-VAE on the conv backbone"):
        build_model(model="vqvae", backbone="conv", channels=[8, 16], latent_dim=20, code_dim=4)
    assert grid_shape(16) == (4, 4) and grid_shape(12) == (3, 4) and grid_shape(7) == (1, 7)


def test_the_pixelcnn_is_causal():
    torch.manual_seed(0)
    net = GatedPixelCNN(7, channels=16, layers=3).eval()
    idx = torch.randint(7, (1, 4, 5))
    base = net(idx).detach()
    for r in range(4):
        for c in range(5):
            changed = idx.clone()
            changed[0, r, c] = (changed[0, r, c] + 1) % 7
            diff = (net(changed).detach() - base).abs().sum(1)[0]  # (rows, cols)
            flat = diff.flatten()
            here = r * 5 + c
            assert float(flat[: here + 1].max()) == 0.0, (r, c)  # no position before it, nor itself
            if here + 1 < 20:
                assert float(flat[here + 1 :].max()) > 0.0  # and some after it do see it


@pytest.mark.learned
def test_the_pixelcnn_learns_a_grid_distribution():
    # grids whose every position copies the first: after fitting, later positions are near-certain
    torch.manual_seed(0)
    net = GatedPixelCNN(6, channels=16, layers=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = torch.randint(6, (256,))
    grids = first[:, None, None].expand(256, 3, 3).contiguous()
    start = float(-net.log_prob(grids).mean().detach())
    for _ in range(150):
        loss = -net.log_prob(grids).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert start > 9 * math.log(6) * 0.9
    # the first position's entropy: measured log(6) - 0.022 to - 0.004, and 100% copied, over seeds 0-4 x {bf16, float32}, Intel Xeon with AMX (benchmarks/margins.py)
    assert float(-net.log_prob(grids).mean()) < math.log(6) + 1.0
    drawn = net.eval().sample(50, (3, 3), torch.Generator().manual_seed(0))
    assert (drawn == drawn[:, :1, :1]).float().mean() > 0.9


@pytest.mark.learned
def test_train_prior_then_sample_from_the_command_line(tmp_path):
    run = tmp_path / "vq"
    run_here("train", "--data", "mnist", "--classes", "1", "--model", "vqvae", "--latent-dim", "8",
             "--codebook-size", "64", "--epochs", "1", "--no-progress", "--out", str(run))
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["objective"] == "vq" and config["model"]["prior"] == "codebook"
    uniform = run_here("sample", str(run), "-n", "8", "-o", str(tmp_path / "uniform.png"))
    assert "not fitted yet" in uniform.stderr
    out = run_here("train-prior", str(run), "--epochs", "1", "--batch-size", "64", "--no-progress").stdout
    assert "PixelCNN prior over the 2x4 code grid" in out and "on the validation codes" in out
    assert "on the test codes (every class; trained on 1 only)" in out  # the other digits are not held-out ones
    fit = json.loads((run / "prior.json").read_text())
    assert fit["val_bits_per_image"] < fit["uniform_bits_per_image"] - 10  # 24.0-27.5 bits saved (seeds 0-4 x {bf16, float32}, benchmarks/margins.py)
    fitted = run_here("sample", str(run), "-n", "8", "-o", str(tmp_path / "fitted.png"))
    assert "not fitted" not in fitted.stderr
    assert (tmp_path / "fitted.png").read_bytes() != (tmp_path / "uniform.png").read_bytes()
    bad = run_here("train-prior", str(run), "--epochs", "0", check=False)
    assert bad.returncode == 2 and "epochs" in bad.stderr


def test_train_prior_refuses_a_run_without_a_codebook(tiny_run):
    run, cache = tiny_run
    bad = run_here("train-prior", str(run), check=False, env={"VAEKIT_DATA": str(cache)})
    assert bad.returncode == 2 and "no codebook prior" in bad.stderr and "Traceback" not in bad.stderr


def test_a_vq_vae_compresses_to_its_codebook_indices(tmp_path):
    from vaekit.tasks.compress import compress, decompress, read_vkz

    torch.manual_seed(0)
    model = build_model(model="vqvae", latent_dim=6, code_dim=2, codebook_size=20, hidden=[16],
                        image_shape=(1, 8, 8)).eval()
    x = torch.rand(5, 1, 8, 8)
    blob = compress(model, x, bits=8)
    path = tmp_path / "a.vkz"
    path.write_bytes(blob)
    header, idx = read_vkz(path)
    assert header["quantizer"] == "codebook" and header["bits"] == 5 and idx.shape == (5, 3)
    assert torch.equal(idx, model.encode(x).indices)
    (hlen,) = __import__("struct").unpack("<I", blob[4:8])
    assert len(blob) - 8 - hlen == 10  # 5 images x 3 indices x 5 bits = 75 bits
    _, images = decompress(path, model)
    assert torch.allclose(images, model.reconstruct(x), atol=1e-6)  # lossless beyond the quantizer
    other = build_model(model="vae", latent_dim=3, hidden=[16], image_shape=(1, 8, 8)).eval()
    with pytest.raises(Exception, match="not a VQ-VAE"):
        decompress(path, other)


def test_arithmetic_coding_round_trips_near_the_entropy():
    from vaekit.tasks.entropy import Decoder, Encoder, frequencies

    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(3000, 40, generator=g), 1)  # peaked: a few bits each
    symbols = torch.multinomial(probs, 1, generator=g)[:, 0]
    cum = frequencies(probs)
    coder = Encoder()
    for i, s in enumerate(symbols.tolist()):
        coder.encode(s, cum[i])
    blob = coder.finish()
    decoder = Decoder(blob)
    assert [decoder.decode(cum[i]) for i in range(len(symbols))] == symbols.tolist()
    entropy_bits = float(-torch.log2(probs[torch.arange(3000), symbols]).sum())
    assert entropy_bits / 8 <= len(blob) <= entropy_bits / 8 * 1.01 + 8


@pytest.mark.learned
def test_a_fitted_prior_entropy_codes_the_indices(tmp_path):
    from vaekit.tasks.compress import compress, decompress, read_vkz

    torch.manual_seed(0)
    model = build_model(model="vqvae", latent_dim=6, code_dim=2, codebook_size=20, hidden=[16],
                        image_shape=(1, 8, 8)).eval()
    model.prior.fitted.fill_(True)  # an untrained PixelCNN is still a valid (poor) prior
    x = torch.rand(700, 1, 8, 8)  # more than one chunk of 512
    blob = compress(model, x)
    path = tmp_path / "a.vkz"
    path.write_bytes(blob)
    header, nothing = read_vkz(path)
    assert header["quantizer"] == "codebook-pixelcnn" and nothing is None
    _, images = decompress(path, model)
    assert torch.allclose(images, model.reconstruct(x), atol=1e-6)
    other = build_model(model="vqvae", latent_dim=6, code_dim=2, codebook_size=20, hidden=[16],
                        image_shape=(1, 8, 8)).eval()
    other.head.load_state_dict(model.head.state_dict())
    other.prior.fitted.fill_(True)  # same codebook, another PixelCNN: the digest catches it
    with pytest.raises(Exception, match="do not match the file's digest"):
        decompress(path, other)
