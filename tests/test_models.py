"""Contract tests run over every registered model and backbone with tiny configs."""

import pytest
import torch

from vaekit.models import BACKBONES, MODELS, ModelConfig, build_model

SHAPES = [(1, 28, 28), (3, 16, 16), (1, 25, 25), (1, 30, 22)]


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("backbone", list(BACKBONES))
@pytest.mark.parametrize("shape", SHAPES)
def test_contract(model, backbone, shape):
    classes = 4 if model == "cvae" else 0
    d = 3
    if model == "vqvae" and backbone != "mlp":  # one code per position of the encoder's grid
        from vaekit.models.backbones import conv_sizes

        h, w = conv_sizes(*shape[1:], 2)[-1]
        d = h * w
    net = build_model(model=model, backbone=backbone, image_shape=shape, latent_dim=d,
                      hidden=[16], channels=[4, 8], num_classes=classes)
    x = torch.rand(5, *shape)
    y = torch.tensor([0, 1, 2, 3, 0]) if classes else None  # labels; ignored when unconditional
    q = net.encode(x, y)
    assert q.sample().shape == q.mode().shape == (5, d)
    assert q.kl().shape == (5,)
    assert net.decode(q.mode(), y).shape == x.shape
    assert 0 <= net.decode(q.mode(), y).min() and net.decode(q.mode(), y).max() <= 1
    logits, q2, z = net(x, y)
    assert logits.shape == (1, *x.shape) and z.shape == (1, 5, d)
    logits, _, z = net(x, y, samples=4)  # several codes per image, decoded in one pass
    assert logits.shape == (4, *x.shape) and z.shape == (4, 5, d)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    net.eval()
    assert torch.equal(net.sample(4, generator=g1), net.sample(4, generator=g2))
    assert net.reconstruct(x, y).shape == x.shape


def test_cvae_label_changes_the_decoded_image_and_is_required():
    from vaekit.errors import VaekitError

    net = build_model(model="cvae", image_shape=(1, 8, 8), latent_dim=2, hidden=[8], num_classes=3)
    z = torch.zeros(1, 2)
    assert not torch.equal(net.decode(z, torch.tensor([0])), net.decode(z, torch.tensor([2])))
    with pytest.raises(VaekitError, match="conditional model"):
        net.encode(torch.rand(2, 1, 8, 8))
    with pytest.raises(VaekitError, match="0..2"):
        net.decode(z, torch.tensor([5]))
    with pytest.raises(ValueError, match="num_classes"):
        build_model(model="cvae", image_shape=(1, 8, 8))


def test_ae_posterior_is_a_point_with_zero_kl():
    net = build_model(model="ae", image_shape=(1, 8, 8), latent_dim=2, hidden=[8])
    q = net.encode(torch.rand(3, 1, 8, 8))
    assert torch.equal(q.sample(), q.mode())
    assert torch.count_nonzero(q.kl()) == 0


def test_vae_posterior_samples_vary_and_kl_is_positive():
    net = build_model(model="vae", image_shape=(1, 8, 8), latent_dim=2, hidden=[8])
    q = net.encode(torch.rand(3, 1, 8, 8))
    assert not torch.equal(q.sample(), q.sample())
    assert (q.kl() > 0).all()


def test_registry_rejects_unknown_names_and_settings():
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        build_model(model="gan")
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model(backbone="transformer")
    with pytest.raises(TypeError):
        build_model(depth=3)
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"model": "vae", "depth": 3})


def test_conv_backbone_follows_the_face_vae_blocks():
    net = build_model(backbone="conv", image_shape=(3, 128, 128), latent_dim=500)
    convs = [m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 4
    assert net.encoder.out_features == 64 * 8 * 8  # the seed's 4096 features at 128 px
    kinds = [type(m).__name__ for m in net.encoder.net[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "LeakyReLU"]
    ups = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Upsample)]
    assert len(ups) == 4 and all(u.mode == "nearest" for u in ups)


def test_the_conv_path_stays_channels_last_and_saves_plain_weights(tmp_path):
    """Every 4-d activation of the conv backbone is channels_last (no layout conversion inside a
    step), while saved weights are ordinary contiguous tensors that load into either layout."""
    from vaekit.models.inference import batch_for
    from vaekit.run.checkpoint import save_weights

    net = build_model(model="vae", backbone="conv", image_shape=(3, 32, 32), latent_dim=8, channels=[8, 16])
    layouts = []
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Upsample)):
            module.register_forward_hook(lambda m, i, o: layouts.append(o.is_contiguous(memory_format=torch.channels_last)))
    logits, _, _ = net(torch.rand(4, 3, 32, 32))  # an ordinary NCHW batch goes in
    assert logits.shape == (1, 4, 3, 32, 32) and layouts and all(layouts)
    save_weights(net, tmp_path)
    from safetensors.torch import load_file

    assert all(t.is_contiguous() for t in load_file(str(tmp_path / "model.safetensors")).values())
    # inference batches follow the image size: MNIST in thousands, 128x128 RGB in a few hundred
    assert batch_for((1, 28, 28)) == 1000 and batch_for((3, 128, 128)) == 170 and batch_for((3, 4096, 4096)) == 1


@pytest.mark.parametrize("backbone", ["conv", "resnet"])
@pytest.mark.parametrize("size", [4, 8, (8, 1)])
def test_bf16_gradients_at_sizes_whose_last_levels_are_one_pixel(backbone, size):
    # A stride-2 convolution over a side of length 1 had a bf16 weight gradient of uninitialised
    # memory in torch 2.13 (a conv run on MNIST at --image-size 4 diverged in its first step);
    # the encoders step by 1 along such a side, which computes the same output.
    from vaekit.models.backbones import down_stride

    assert down_stride((1, 1)) == (1, 1) and down_stride((2, 1)) == (2, 1) and down_stride((3, 3)) == (2, 2)
    h, w = (size, size) if isinstance(size, int) else size
    torch.manual_seed(0)
    model = build_model(ModelConfig(model="vae", backbone=backbone, image_shape=(1, h, w), latent_dim=4))
    x = torch.rand(32, 1, h, w)
    grads = {}
    for bf16 in (False, True):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.decode(model.encode(x).mode()).float().pow(2).mean()
        loss.backward()
        grads[bf16] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for name, g in grads[True].items():
        assert torch.isfinite(g).all() and torch.isfinite(grads[False][name]).all(), name
        assert float(g.abs().max()) < 1e3, name  # bf16 noise, not the 1e37 of uninitialised memory
