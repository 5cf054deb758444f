"""Images read as a person sees them: EXIF orientation, deep images scaled not clipped,
transparency on white, odd modes converted, animations' first frame, huge files refused unread;
and batch commands skip and count unreadable files (or stop with --strict)."""

import struct
import zlib

import numpy as np
import pytest
from conftest import make_image_folder, run_here, run_main
from PIL import Image

from vaekit import datasets
from vaekit.datasets import decode
from vaekit.datasets.decode import Unreadable, read_image


def test_16_bit_grey_is_scaled_by_its_full_range_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    arr = read_image(tmp_path / "deep.png", 64, 64, 1)[0].astype(int)
    assert arr[0, 0] == 0 and arr[-1, -1] == 255
    assert abs(arr.mean() - 127.5) < 1.5  # the old clip made 99% of it white


def test_float_images_in_0_1_and_in_any_range(tmp_path):
    unit = np.full((8, 8), 0.5, np.float32)
    Image.fromarray(unit, "F").save(tmp_path / "unit.tif")
    assert read_image(tmp_path / "unit.tif", 8, 8, 1).max() == 128
    wide = np.linspace(-10, 30, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(wide, "F").save(tmp_path / "wide.tif")
    arr = read_image(tmp_path / "wide.tif", 8, 8, 1)
    assert arr.min() == 0 and arr.max() == 255


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white, landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the camera held the phone upright
    Image.fromarray(img).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    arr = read_image(tmp_path / "phone.jpg", 40, 20, 1)[0]  # shown upright: 40 tall, 20 wide
    assert arr[:15].mean() > 200 and arr[-15:].mean() < 50  # the white half is now on top


def test_transparency_is_composited_on_white_and_palettes_converted(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = 0
    rgba[:4, :, :] = [0, 0, 0, 255]  # top half opaque black, bottom transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    arr = read_image(tmp_path / "alpha.png", 8, 8, 3)
    assert arr[:, :4].max() == 0 and arr[:, 4:].min() == 255
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.info["transparency"] = 0
    pal.paste(0, (0, 0, 8, 4))  # top half: index 0, transparent
    pal.save(tmp_path / "pal.png", transparency=0)
    arr = read_image(tmp_path / "pal.png", 8, 8, 3)
    assert (arr[:, :4] == 255).all() and (arr[:, 4:, :].reshape(3, -1).T == [0, 0, 255]).all()
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # red in CMYK
    r, g, b = read_image(tmp_path / "cmyk.jpg", 8, 8, 3).reshape(3, -1).mean(1)
    assert r > 200 and g < 60 and b < 60


def test_an_animation_gives_its_first_frame_and_gifs_are_loaded_from_folders(tmp_path, data_home):
    frames = [Image.new("L", (8, 8), v) for v in (40, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert abs(int(read_image(tmp_path / "anim.gif", 8, 8, 1).mean()) - 40) <= 1
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 30 * i).save(folder / f"{i}.gif")
        Image.new("L", (8, 8), 30 * i).save(folder / f"{i}.png")
    assert len(datasets.load(str(folder), image_size=8).train) == 6


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(path, width, height):
    """A tiny file that claims a huge image: a PNG header and a few compressed bytes of pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path, data_home):
    _png_header_only(tmp_path / "bomb.png", 10_000, 10_000)  # 100 megapixels in 80 bytes
    with pytest.raises(Unreadable, match="100 megapixels, over the limit of 50"):
        read_image(tmp_path / "bomb.png", 8, 8, 3)
    folder = make_image_folder(tmp_path / "imgs", classes=1, per_class=4, size=(10, 10))
    _png_header_only(folder / "class_0" / "000_bomb.png", 10_000, 10_000)  # sorted first
    data = datasets.load(str(folder), image_size=8)
    assert len(data.train) == 4


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(decode, "MAX_PIXELS", 5_000)
    with pytest.raises(Unreadable, match="over the limit"):
        read_image(tmp_path / "big.png", 8, 8, 1)


def test_batch_commands_skip_and_count_unreadable_files_or_stop_with_strict(tmp_path, data_home):
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=6, size=(12, 12), mode="L")
    run = tmp_path / "run"
    run_here("train", "--data", str(folder), "--image-size", "8", "--model", "ae", "--latent-dim", "4",
            "--hidden", "16", "--epochs", "1", "--out", str(run), "--no-progress")
    (folder / "class_0" / "broken.png").write_bytes(b"not an image at all")
    proc = run_here("compress", str(run), str(folder), "-o", str(tmp_path / "all.vkz"))
    assert "12 images ->" in proc.stdout
    assert "skipped 1 unreadable file (e.g. " in proc.stderr and "broken.png: not a readable image" in proc.stderr
    proc = run_here("denoise", str(run), str(folder), "-o", str(tmp_path / "clean"))
    assert len(proc.stdout.split()) == 12 and (tmp_path / "clean" / "class_1" / "img_0.png").is_file()
    code, _, err = run_main("compress", str(run), str(folder), "-o", str(tmp_path / "x.vkz"), "--strict")
    assert code == 2 and "broken.png: not a readable image" in err
    assert not (tmp_path / "x.vkz").exists()
