"""Run length sizing and the seeds that make runs reproducible without correlating their noise."""

import torch

from vaekit.settings import TrainConfig, resolve_length
from vaekit.train.loop import _noise_seed, _order_seed


def test_noise_and_order_seeds_never_coincide_in_torchs_32_bits():
    noise = {_noise_seed(s, r, e) for s in range(4) for r in range(8) for e in range(200)}
    order = {_order_seed(s, e) for s in range(4) for e in range(200)}
    assert not noise & order
    assert all(0 <= v < 2**32 for v in noise | order)


def test_shuffle_and_noise_streams_differ():
    # the bug this guards against: equal seeds made the noise a function of the shuffle
    g = torch.Generator().manual_seed(_order_seed(0, 0))
    torch.manual_seed(_noise_seed(0, 0, 0))
    a = torch.randn(1000, generator=g)
    b = torch.randn(1000)
    assert not torch.allclose(a, b)


def test_resolve_length_sizes_small_data_sets():
    big = resolve_length(TrainConfig(), n_train=58_800)
    assert (big.batch_size, big.epochs) == (256, 10)
    faces = resolve_length(TrainConfig(), n_train=353)  # ORL after test and validation splits
    assert faces.batch_size == 16
    assert faces.epochs * -(-353 // 16) >= 2000
    two = resolve_length(TrainConfig(), n_train=58_800, world=2)
    assert two.batch_size == 256
    explicit = resolve_length(TrainConfig(epochs=3, batch_size=7), n_train=353)
    assert (explicit.batch_size, explicit.epochs) == (7, 3)
