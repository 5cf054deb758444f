"""Image folders: labels from sub-folders, bad files skipped and counted, and the decode cache."""

import numpy as np
import pytest
import torch
from conftest import make_image_folder
from PIL import Image

from vaekit import datasets
from vaekit.datasets import folder as folder_mod
from vaekit.datasets import make_splits
from vaekit.errors import VaekitError


def test_labelled_folder_with_a_truncated_jpeg(tmp_path, data_home, capsys):
    root = make_image_folder(tmp_path / "imgs", classes=3, per_class=6)
    jpg = root / "class_1" / "img_0.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])  # truncated
    (root / "class_2" / "notes.txt").write_text("not an image")
    data = datasets.load(str(root), image_size=16)
    assert data.train.shape == (3, 16, 16)
    assert len(data.train) == 17
    assert data.class_names == ["class_0", "class_1", "class_2"]
    assert torch.bincount(data.train.all_labels()).tolist() == [6, 5, 6]
    assert "skipped 1 unreadable (e.g. class_1/img_0.jpg: not a readable image" in capsys.readouterr().err
    # class 2 was drawn brighter than class 0
    imgs, lbls = data.train.all_images().float(), data.train.all_labels()
    assert imgs[lbls == 2].mean() > imgs[lbls == 0].mean() + 50


def test_second_load_reads_the_cache(tmp_path, data_home, monkeypatch):
    root = make_image_folder(tmp_path / "imgs", classes=1, per_class=4)
    first = datasets.load(str(root), image_size=8).train.all_images()
    monkeypatch.setattr(folder_mod, "read_image", lambda *a: pytest.fail("decoded again"))
    second = datasets.load(str(root), image_size=8).train.all_images()
    assert torch.equal(first, second)


def test_flat_folder_is_unlabelled_and_grey_is_detected(tmp_path, data_home):
    root = tmp_path / "img_align_celeba"
    root.mkdir()
    for i in range(5):
        Image.fromarray(np.full((20, 10), 40 * i, np.uint8)).save(root / f"{i:06d}.jpg")
    data = datasets.load(str(root), image_size=8)
    assert data.train.shape == (1, 8, 8) and data.class_names is None
    splits = make_splits(data, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 5
    assert "held-out" in splits.test_protocol


def test_folder_errors_name_the_path(tmp_path, data_home):
    with pytest.raises(VaekitError, match="no such folder"):
        datasets.load(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VaekitError, match="no images found"):
        datasets.load(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"nope")
    with pytest.raises(VaekitError, match="none of the 1 image files could be decoded"):
        datasets.load(str(bad))


def test_convert_images_crops_resizes_and_changes_channels():
    imgs = torch.zeros(2, 1, 10, 20, dtype=torch.uint8)
    imgs[:, :, :, 5:15] = 200  # the centre square is bright
    out = datasets.convert_images(imgs, size=5, channels=3)
    assert out.shape == (2, 3, 5, 5) and out.dtype == torch.uint8
    assert (out == 200).all()


def test_memmap_take_matches_in_memory(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (10, 1, 3, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", arr)
    mm = datasets.ImageSet(np.load(tmp_path / "a.npy", mmap_mode="r"))
    mem = datasets.ImageSet(torch.from_numpy(arr))
    idx = torch.tensor([7, 2, 9, 2])
    assert torch.equal(mm.take(idx), mem.take(idx))
    sub = mm.subset(np.array([5, 6, 7]))
    assert torch.equal(sub.take(torch.tensor([2, 0])), mem.take(torch.tensor([7, 5])))


def test_data_over_the_ram_budget_trains_from_the_memory_mapped_cache_to_the_same_result(tiny_data, tmp_path,
                                                                                           monkeypatch):
    """$VAEKIT_RAM_BUDGET below the data's size sends it down the larger-than-RAM path: batches
    read from the memory-mapped cache (and its pages released after each), the same numbers."""
    import csv
    import dataclasses

    from conftest import TINY

    import vaekit

    def losses(run):
        with open(run / "metrics.csv") as f:
            return [(r["train_loss"], r["val_loss"]) for r in csv.DictReader(f)]

    cfg = vaekit.TrainConfig(data=str(tiny_data), out=str(tmp_path / "ram"), **TINY)
    in_ram = vaekit.fit(cfg)
    assert isinstance(datasets.load(str(tiny_data), image_size=8, channels=1).train.images, torch.Tensor)
    monkeypatch.setenv("VAEKIT_RAM_BUDGET", "1")
    assert isinstance(datasets.load(str(tiny_data), image_size=8, channels=1).train.images, np.memmap)
    mapped = vaekit.fit(dataclasses.replace(cfg, out=str(tmp_path / "mapped")))
    assert losses(mapped) == losses(in_ram)
    monkeypatch.setenv("VAEKIT_RAM_BUDGET", "lots")
    with pytest.raises(VaekitError, match="VAEKIT_RAM_BUDGET: expected a number of bytes"):
        datasets.load(str(tiny_data), image_size=8, channels=1)
