"""Attribute labels and directions: the labels files, the shipped ORL labels, the directions'
arithmetic, and the command on a run trained on the built-in faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_here
from PIL import Image

from vaekit.datasets.labels import builtin_labels, read_labels
from vaekit.errors import VaekitError
from vaekit.tasks.attributes import attribute_groups, balanced_accuracy, fit_probe, fold_of, held_out_logits


def test_the_orl_faces_ship_labels_for_every_picture():
    labels = read_labels(builtin_labels("orl-faces"))
    assert labels.names == ["glasses", "facial_hair", "woman"]
    assert labels.index.tolist() == list(range(400)) and not np.isnan(labels.values).any()
    per_person = labels.values.reshape(40, 10, 3)
    # facial hair and woman are said of a person, glasses of each picture (some take theirs off)
    assert (per_person[:, :, 1:] == per_person[:, :1, 1:]).all()
    assert labels.values.sum(0).tolist() == [121, 110, 40]
    assert builtin_labels("mnist") is None


@pytest.mark.parametrize(("text", "found"), [
    ("name,glasses\n0,1\n", "expected a header 'index' or 'path'"),
    ("index\n0\n", "expected a header 'index' or 'path'"),
    ("index,a,a\n0,1,1\n", "distinct, non-empty attribute names"),
    ("index,glasses\n", "found only the header"),
    ("index,glasses\nx,1\n", "line 2: column index: expected an image index"),
    ("index,glasses\n0,yes\n", "line 2: column glasses: expected a number"),
    ("index,glasses\n0,1,2\n", "line 2: expected 2 columns, found 3"),
    ("# a note\nindex,glasses\n0,inf\n", "line 3: column glasses: expected a number"),
    ("path,glasses\nnowhere.png,1\n", "column path: expected an image file"),
])
def test_a_bad_labels_file_is_named_with_its_line(tmp_path, text, found):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(VaekitError, match=found) as e:
        read_labels(path)
    assert e.value.setting == "labels" and str(path) in e.value.message


def test_labels_from_paths_empty_cells_and_sub_folders(tmp_path):
    for sub, n in (("glasses", 2), ("beard", 3), ("empty", 0)):
        (tmp_path / "by" / sub).mkdir(parents=True)
        for i in range(n):
            Image.new("L", (8, 8), i * 40).save(tmp_path / "by" / sub / f"{i}.png")
    labels = read_labels(tmp_path / "by")
    assert labels.names == ["beard", "glasses"] and len(labels.paths) == 5
    assert labels.values.tolist() == [[1, 0]] * 3 + [[0, 1]] * 2
    csv = tmp_path / "labels.csv"
    csv.write_text("path,smile,age\nby/beard/0.png,1,\nby/glasses/1.png,,31.5\n")
    labels = read_labels(csv)
    assert labels.paths[0] == tmp_path / "by" / "beard" / "0.png"
    assert np.isnan(labels.values[0, 1]) and labels.values[1, 1] == 31.5
    with pytest.raises(VaekitError, match="at least two sub-folders"):
        read_labels(tmp_path / "by" / "beard")


def test_groups_probe_and_split():
    labelled, has = attribute_groups(np.array([0, 1, np.nan, 1.0]))
    assert labelled.tolist() == [True, True, False, True] and has.tolist() == [False, True, False, True]
    _, has = attribute_groups(np.array([20.0, 30, 40, 50]))  # numeric: above the median
    assert has.tolist() == [False, False, True, True]
    rng = np.random.default_rng(0)
    has = rng.random(400) < 0.2
    codes = rng.normal(size=(400, 6)) * [1, 5, 1, 1, 1, 1] + 3
    codes[:, 2] += 1.5 * has  # the attribute lies along z2 (of a code with shifted, uneven scales)
    w, b = fit_probe(codes, has, seed=0)
    assert np.argmax(np.abs(w)) == 2 and balanced_accuracy(codes @ w + b, has) > 0.7
    fold = fold_of(has, seed=0)
    for k in range(4):  # each fold a quarter of each group
        assert abs((fold[has] == k).mean() - 0.25) < 0.02 and abs((fold[~has] == k).mean() - 0.25) < 0.01
    assert 0.65 < balanced_accuracy(held_out_logits(codes, has, seed=0), has) < 0.95
    assert balanced_accuracy(np.where(has, 1.0, -1.0), has) == 1.0
    assert balanced_accuracy(np.ones(400), has) == 0.5  # all "has it": half right on balance


def test_attributes_of_a_face_run_walk_describe_and_refuse(face_run, tmp_path):
    run = face_run
    out = run_here("attributes", str(run)).stdout
    assert "glasses: 121 with / 279 without; held-out probe balanced accuracy" in out
    found = json.loads((run / "attributes.json").read_text())
    assert list(found["attributes"]) == ["glasses", "facial_hair", "woman"]
    glasses = found["attributes"]["glasses"]
    assert len(glasses["direction"]) == 16 and glasses["held_out"]["folds"] == 4
    assert Image.open(run / "attributes.png").size[1] > 3 * 32

    from vaekit.run import Run

    r = Run(run)
    description = r.describe(0)
    assert set(description) == {"glasses", "facial_hair", "woman"}
    assert all(0 <= p <= 1 for p in description.values())
    strip = run_here("traverse", str(run), "--attribute", "glasses", "--steps", "5", "--image", "3").stdout.strip()
    width, height = Image.open(strip).size  # one row of 5 tiles with 2-px gaps (small tiles drawn at 2x)
    assert width * (32 + 4) == height * (5 * (32 + 2) + 2)
    # walking along glasses changes the decoded face, in proportion to the step
    from vaekit.tasks.attributes import attribute_walk

    faces = attribute_walk(r.model, found, "glasses", steps=3)
    assert (faces[0] - faces[1]).abs().mean() > 1e-3 and (faces[2] - faces[1]).abs().mean() > 1e-3

    bad = run_here("traverse", str(run), "--attribute", "hat", check=False)
    assert bad.returncode == 2 and "--attribute: expected an attribute found for this run" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    none = run_here("attributes", str(run), "--labels", str(tmp_path / "no.csv"), check=False)
    assert none.returncode == 2 and "--labels: expected a CSV file or a folder" in none.stderr
    # an index past the data set's end is named before anything is written
    far = tmp_path / "far.csv"
    far.write_text("index,glasses\n" + "".join(f"{i},{i % 2}\n" for i in range(395, 405)))
    before = (run / "attributes.json").read_bytes()
    past = run_here("attributes", str(run), "--labels", str(far), check=False)
    assert past.returncode == 2 and "expected places among the 400 training images" in past.stderr
    assert (run / "attributes.json").read_bytes() == before
    assert torch.is_tensor(r.image(0))
