"""FER2013 loading in its three forms, bad input, caching, and the shared zip end to end."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.labels import FER2013_LABELS, parse_classes
from edge_train.data import DataError, Dataset, load

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013.zip"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_FER_CACHE", str(tmp_path / "cache"))


def _face(seed: int, size: int = 48, colour: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size, size, 3) if colour else (size, size), dtype=np.uint8)
    return img


def _jpg(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def _write_csv(path: Path) -> Path:
    rows = ["emotion,pixels,Usage"]
    for i, (code, usage) in enumerate(
        [(3, "Training"), (4, "Training"), (3, "PublicTest"), (4, "PrivateTest"), (0, "Training")]
    ):
        rows.append(f"{code},{' '.join(map(str, _face(i).ravel()))},{usage}")
    rows.append("3," + " ".join(["1"] * 100) + ",Training")  # wrong pixel count
    rows.append("4," + " ".join(["x"] * 2304) + ",Training")  # non-integer pixel
    rows.append("9," + " ".join(["1"] * 2304) + ",Training")  # unknown emotion code
    path.write_text("\n".join(rows) + "\n")
    return path


def _folder_files() -> dict[str, bytes]:
    files = {
        "train/happy/Training_1.jpg": _jpg(_face(1)),
        "train/happiness/Training_2.jpg": _jpg(_face(2, 96, colour=True)),  # alias, colour
        "train/sadness/Training_3.jpg": _jpg(_face(3)),
        "test/sad/PublicTest_4.jpg": _jpg(_face(4)),
        "test/happy/PrivateTest_5.jpg": _jpg(_face(5)),
        "test/surprised/PrivateTest_6.jpg": _jpg(_face(6)),
        "train/sad/Training_7.jpg": b"this is not an image",  # corrupt
        "train/unicorn/Training_8.jpg": _jpg(_face(8)),  # unknown class folder
    }
    return files


def _write_folder(root: Path) -> Path:
    for rel, data in _folder_files().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def test_csv_reads_good_rows_and_reports_bad_ones(tmp_path, capsys):
    ds = load(_write_csv(tmp_path / "fer2013.csv"))
    err = capsys.readouterr().err
    assert len(ds) == 5
    assert ds.images.shape == (5, 48, 48) and ds.images.dtype == np.uint8
    assert sorted(set(ds.splits.tolist())) == ["PrivateTest", "PublicTest", "Training"]
    assert ds.classes == ("angry", "happy", "sad")
    assert ds.skipped == {"bad_pixels": 2, "bad_label": 1}
    assert "fer2013.csv:7: 100 pixels, expected 2304" in err
    assert "fer2013.csv:9: unknown emotion code" in err
    np.testing.assert_array_equal(ds.split("PublicTest").images[0], _face(2))


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_folder_and_zip_give_the_same_arrays(tmp_path, form, capsys):
    if form == "folder":
        src = _write_folder(tmp_path / "fer")
    else:
        src = tmp_path / "fer.zip"
        with zipfile.ZipFile(src, "w") as zf:
            for rel, data in _folder_files().items():
                zf.writestr("archive/" + rel, data)
            zf.writestr("../evil/happy/Training_9.jpg", _jpg(_face(9)))
            zf.writestr("/abs/happy/Training_10.jpg", _jpg(_face(10)))
    ds = load(src)
    err = capsys.readouterr().err
    assert len(ds) == 6
    assert ds.counts() == {"happy": 3, "sad": 2, "surprise": 1}
    assert sorted(ds.splits.tolist()) == [
        "PrivateTest",
        "PrivateTest",
        "PublicTest",
        "Training",
        "Training",
        "Training",
    ]
    assert "unknown class folder 'unicorn'" in err
    assert "Training_7.jpg: not a decodable image" in err
    assert ds.skipped["undecodable"] == 1 and ds.skipped["unknown_class"] == 1
    if form == "zip":
        assert ds.skipped["unsafe_entry"] == 2
        assert "unsafe path in zip" in err
    # the colour 96x96 image went through the runtime's own conversion
    from edge_runtime.preprocess import to_face_input

    colour = cv2.imdecode(np.frombuffer(_jpg(_face(2, 96, colour=True)), np.uint8), -1)
    assert any(np.array_equal(img, to_face_input(colour)) for img in ds.images)


def test_folder_without_split_level_is_one_split(tmp_path):
    for i, cls in enumerate(["Anger", "fearful", "disgusted", "neutral"]):
        p = tmp_path / "jaffe" / cls / f"img{i}.png"
        p.parent.mkdir(parents=True)
        p.write_bytes(_jpg(_face(i, 64)))
    ds = load(tmp_path / "jaffe")
    assert set(ds.splits.tolist()) == {"all"}
    assert ds.classes == ("angry", "disgust", "fear", "neutral")
    with pytest.raises(DataError, match="no images in split 'PrivateTest'"):
        ds.split("PrivateTest")


def test_train_test_folders_without_prefixes(tmp_path):
    for rel in ["train/happy/a.png", "train/sad/b.png", "test/happy/c.png", "test/sad/d.png"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_jpg(_face(len(rel))))
    ds = load(tmp_path)
    assert sorted(ds.splits.tolist()) == ["test", "test", "train", "train"]
    assert len(ds.split("train")) == 2 and len(ds.split("test")) == 2


def test_task_selects_classes_in_user_order(tmp_path):
    ds = load(_write_csv(tmp_path / "f.csv")).task(parse_classes("sad,happy"))
    assert ds.classes == ("sad", "happy")
    assert ds.counts() == {"sad": 2, "happy": 2}
    with pytest.raises(DataError, match="no class surprise"):
        load(tmp_path / "f.csv").task(("happy", "surprise"))


def test_empty_class_folder_is_reported(tmp_path, capsys):
    _write_folder(tmp_path / "d")
    (tmp_path / "d" / "train" / "fear").mkdir()
    load(tmp_path / "d")
    assert "class folder has no images" in capsys.readouterr().err


def test_nothing_usable_is_a_clear_error(tmp_path):
    (tmp_path / "bad.csv").write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(DataError, match="no usable images"):
        load(tmp_path / "bad.csv")
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "missing.zip")
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        load(tmp_path / "x.zip")
    with pytest.raises(DataError, match="unknown dataset format"):
        load(_touch(tmp_path / "a.txt"))


def _touch(p: Path) -> Path:
    p.write_text("x")
    return p


def test_cache_is_used_and_never_stale(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("edge_runtime.terminal.is_terminal", lambda: True)
    csv_path = _write_csv(tmp_path / "f.csv")
    first = load(csv_path)
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    said = capsys.readouterr().err  # on a terminal, a first read says what it does and where
    # the cache went
    assert f"decoding {csv_path}" in said and f"cached as {cached[0]}" in said
    again = load(csv_path)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(first.images, again.images)
    assert again.digest == first.digest
    # change the content (and so size/mtime): the cache must not answer
    text = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(text[:3]) + "\n")
    os.utime(csv_path, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = load(csv_path)
    assert len(changed) == 2 and changed.digest != first.digest
    # the entry of the old content went with it; the same file through a link shares the entry
    (stale,) = cached
    assert not stale.exists()
    (cached,) = (tmp_path / "cache").glob("*.npz")
    (tmp_path / "link.csv").symlink_to(csv_path)
    load(tmp_path / "link.csv")
    assert list((tmp_path / "cache").glob("*.npz")) == [cached]


def test_cache_keeps_one_entry_per_dataset_that_still_exists(tmp_path):
    a, b = _write_csv(tmp_path / "a.csv"), _write_csv(tmp_path / "b.csv")
    load(a)
    load(b)
    assert len(list((tmp_path / "cache").glob("edge-fer-dataset-*.npz"))) == 2
    broken = tmp_path / "cache" / "edge-fer-dataset-4567.npz"
    broken.write_bytes(b"PK\x03\x04 a broken zip")
    a.unlink()
    c = _write_csv(tmp_path / "c.csv")
    load(c)  # writing an entry sweeps out a's (its dataset is gone) and the unreadable one
    left = list((tmp_path / "cache").glob("*.npz"))
    assert len(left) == 2 and not broken.exists()
    assert load(b, report=pytest.fail).source == str(b)  # b's entry still answers


def test_the_cache_sweep_never_deletes_a_users_files(tmp_path):
    """The user's own .npz files in the cache folder (a good one, a broken one, a hidden one,
    one named like a version-2 entry) survive every sweep; a version-2 entry goes."""
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = cache / "mine.npz"
    np.savez(mine, weights=np.arange(3))
    broken, hidden = cache / "broken.npz", cache / ".hidden.npz"
    broken.write_bytes(b"PK\x03\x04 not really")
    hidden.write_bytes(b"junk")
    lookalike = cache / ("ab" * 16 + ".npz")
    np.savez(lookalike, weights=np.arange(3))
    old_entry = cache / ("cd" * 16 + ".npz")
    np.savez(
        old_entry,
        images=np.zeros((1, 48, 48)),
        labels=[0],
        splits=["all"],
        classes=["happy"],
        digest="x",
        source=str(tmp_path / "gone.csv"),
    )
    load(_write_csv(tmp_path / "a.csv"))
    assert mine.is_file() and broken.is_file() and hidden.is_file() and lookalike.is_file()
    assert not old_entry.exists()
    assert np.load(mine)["weights"].tolist() == [0, 1, 2]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_ZIP.is_file(), reason="../shared/datasets/fer2013.zip not present")
def test_shared_fer2013_zip_counts(monkeypatch):
    monkeypatch.delenv("EDGE_FER_CACHE")  # the real cache: a second run of the suite is fast
    ds = load(SHARED_ZIP)
    assert len(ds) == 35887 and ds.classes == FER2013_LABELS
    split_sizes = {
        s: int((ds.splits == s).sum()) for s in ("Training", "PublicTest", "PrivateTest")
    }
    assert split_sizes == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    train = ds.split("train").counts()
    test = ds.split("test").counts()
    expected = {
        "angry": (3995, 958),
        "disgust": (436, 111),
        "fear": (4097, 1024),
        "happy": (7215, 1774),
        "neutral": (4965, 1233),
        "sad": (4830, 1247),
        "surprise": (3171, 831),
    }
    assert {k: (train[k], test[k]) for k in expected} == expected
    assert ds.digest == "c860cc97c981e69f76264276dbba8b4e6d3145ffad2ae096794ed097075ee5d9"


def test_one_rule_names_the_split_choices_are_made_on_and_the_one_figures_are_reported_on():
    def ds(splits):
        n = len(splits)
        return Dataset(
            np.zeros((n, 48, 48), np.uint8),
            np.zeros(n, np.int64),
            np.array(splits),
            ("happy",),
            "x",
            "d",
        )

    fer = ds(["Training", "PublicTest", "PrivateTest"])
    assert (fer.choice_split(), fer.report_split()) == ("PublicTest", "PrivateTest")
    folder = ds(["train", "test"])
    assert (folder.choice_split(), folder.report_split()) == ("test", "test")
    flat = ds(["all", "all"])
    assert (flat.choice_split(), flat.report_split()) == (None, "all")
