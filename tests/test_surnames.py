"""Surnames: course-format loader, encoder, the tutorial-archive builder (all on data written here)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from handgrad.datasets.names import tutorial as sn
from handgrad.datasets.names.tutorial import build_from_tutorial_zip, to_ascii
from handgrad.datasets.names.encoder import Encoder
from handgrad.datasets.names.files import SurnameData, class_counts, load_surnames
from handgrad.errors import HandgradError

CLASSES = ["Arabic", "Dutch", "Irish"]
LINES = ["Khoury 1", "Nahas 1", "Daher 1", "de la Fontaine 2", "Van Dam 2", "See  2", "O'Brien 3",
         "Murphy 3", "Kelly 3"]


def write_course(root: Path, lines=LINES, classes=CLASSES, val="2 5 9\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ascii_names.txt").write_text("\n".join(lines) + "\n")
    (root / "category_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
    (root / "Validation_Inds.txt").write_text(val)
    return root


# -- loader --------------------------------------------------------------------------------------
def test_load_course_format(tmp_path):
    data = load_surnames(write_course(tmp_path / "s"))
    assert data.classes == CLASSES and data.K == 3
    # lowercased; inner spaces kept; the double space before a label leaves no trailing space
    assert data.names[3] == "de la fontaine" and data.names[5] == "see" and data.names[6] == "o'brien"
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert data.val_idx.tolist() == [1, 4, 8]  # 1-based in the file
    assert data.train_idx.tolist() == [0, 2, 3, 5, 6, 7]
    assert data.alphabet == "".join(sorted(set("".join(data.names)))) == " 'abdefhiklmnoprstuvy"
    assert data.n_len == len("de la fontaine")
    names, labels = data.subset("val")
    assert names == ["nahas", "van dam", "kelly"] and labels.tolist() == [0, 1, 2]
    assert class_counts(data.labels[data.train_idx], data.K).tolist() == [2, 2, 2]


def test_val_indices_keep_file_order(tmp_path):
    data = load_surnames(write_course(tmp_path / "s", val="9 1\n5"))
    assert data.val_idx.tolist() == [8, 0, 4]


@pytest.mark.parametrize("what, edit, needle", [
    ("names", lambda r: (r / "ascii_names.txt").unlink(), "missing surnames file"),
    ("labels", lambda r: (r / "category_labels.txt").unlink(), "category_labels.txt"),
    ("val", lambda r: (r / "Validation_Inds.txt").unlink(), "Validation_Inds.txt"),
    ("no label", lambda r: (r / "ascii_names.txt").write_text("Khoury 1\nNahas\n"), "ascii_names.txt:2"),
    ("text label", lambda r: (r / "ascii_names.txt").write_text("Khoury x\n"), "ascii_names.txt:1"),
    ("label 0", lambda r: (r / "ascii_names.txt").write_text("Khoury 1\nNahas 0\n"), "outside 1..3"),
    ("label 4", lambda r: (r / "ascii_names.txt").write_text("Khoury 4\n"), "ascii_names.txt:1"),
    ("val 0", lambda r: (r / "Validation_Inds.txt").write_text("1 0"), "index 0 is outside 1..9"),
    ("val big", lambda r: (r / "Validation_Inds.txt").write_text("1\n10"), "Validation_Inds.txt:2"),
    ("val text", lambda r: (r / "Validation_Inds.txt").write_text("1 two"), "'two'"),
    ("val dup", lambda r: (r / "Validation_Inds.txt").write_text("3 3"), "more than once"),
    ("classes", lambda r: (r / "category_labels.txt").write_text("1 Arabic\n3 Dutch\n"), "category_labels.txt:2"),
])
def test_loader_errors_name_file_and_line(tmp_path, what, edit, needle):
    root = write_course(tmp_path / "s")
    edit(root)
    with pytest.raises(HandgradError) as e:
        load_surnames(root)
    assert needle in str(e.value)


def test_missing_folder(tmp_path):
    with pytest.raises(HandgradError, match="does not exist"):
        load_surnames(tmp_path / "nope")


# -- encoder -------------------------------------------------------------------------------------
def test_onehot_is_column_major():
    enc = Encoder("abc", 4)
    X = enc.encode(["cab"])
    # X (d x n_len) has columns c, a, b, 0; vec() stacks columns, so index = pos*d + char
    expected = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], dtype=np.float32)
    assert X.dtype == np.float32 and X.shape == (1, 12)
    np.testing.assert_array_equal(X[0], expected)
    np.testing.assert_array_equal(X[0].reshape(4, 3).T,  # back to the sheet's d x n_len matrix
                                  [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]])
    assert enc.indices(["cab", "B"]).tolist() == [[2, 0, 1, -1], [1, -1, -1, -1]]
    assert enc.decode(enc.indices(["cab", "b"])) == ["cab", "b"]


def test_encode_matches_indices_and_dtype():
    enc = Encoder(" 'abcdefghijklmnopqrstuvwxyz", 19)
    names = ["o'brien", "de la fontaine", "x"]
    X = enc.encode(names, dtype=np.float64)
    idx = enc.indices(names)
    assert X.dtype == np.float64 and X.shape == (3, 28 * 19)
    assert X.sum(axis=1).tolist() == [7, 14, 1]
    for n, row in enumerate(idx):
        for p, c in enumerate(row):
            if c >= 0:
                assert X[n, p * 28 + c] == 1


def test_truncation_is_reported():
    enc = Encoder("abc", 3)
    X, cut = enc.encode(["abcab", "ab"], return_truncated=True)
    assert cut.tolist() == [True, False]
    assert enc.decode(enc.indices(["abcab"])) == ["abc"]  # the first n_len characters are kept
    assert X.shape == (2, 9)


def test_unknown_character_names_name_char_and_alphabet():
    enc = Encoder("abc", 5)
    with pytest.raises(HandgradError) as e:
        enc.encode(["ab", "caz"])
    msg = str(e.value)
    assert "'caz'" in msg and "'z'" in msg and "alphabet abc (3 characters)" in msg


def test_encoder_bad_input():
    with pytest.raises(HandgradError):
        Encoder("aab", 3)
    with pytest.raises(HandgradError):
        Encoder("ab", 0)
    with pytest.raises(HandgradError, match="single string"):
        Encoder("ab", 3).encode("ab")
    with pytest.raises(HandgradError, match="empty"):
        Encoder("ab", 3).encode([""])


def test_encoder_json_round_trip():
    enc = Encoder(" 'ab", 7)
    back = Encoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert back == enc and back.d == 4 and back.dim == 28
    with pytest.raises(HandgradError, match="n_len"):
        Encoder.from_dict({"alphabet": "ab"})


def test_class_counts():
    assert class_counts(np.array([0, 2, 2]), 4).tolist() == [1, 0, 2, 0]
    with pytest.raises(HandgradError):
        class_counts(np.array([0, 4]), 4)


# -- tutorial archive ----------------------------------------------------------------------------
LANGS = ["Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish", "Italian",
         "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese"]


def write_zip(path: Path, langs=LANGS, per_class=20, extra: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/eng-fra.txt", "not a names file\n")
        zf.writestr("__MACOSX/data/names/._Arabic.txt", "resource fork\n")
        for i, lang in enumerate(langs):
            names = [f"{lang}{chr(97 + j % 26)}{chr(97 + j // 26)}" for j in range(per_class + i)]
            if extra and lang in extra:
                names.append(extra[lang])
            zf.writestr(f"data/names/{lang}.txt", "\n".join(names) + "\n")
    return path


def test_build_from_tutorial_zip(tmp_path):
    z = write_zip(tmp_path / "data.zip", extra={"German": "Müller", "Vietnamese": "Nguyễn", "Irish": "O'Néill"})
    data = build_from_tutorial_zip(z, seed=3)
    assert data.classes == sorted(LANGS) and data.K == 18
    counts = class_counts(data.labels, 18)
    assert counts[0] == 20 and counts[LANGS.index("German")] == 20 + 6 + 1
    assert class_counts(data.labels[data.val_idx], 18).tolist() == [14] * 18
    assert np.all(np.diff(data.val_idx) > 0)
    assert len(data.train_idx) == len(data.names) - 252
    assert {"muller", "nguyen", "o'neill"} <= set(data.names)
    assert set(data.alphabet) <= set(" 'abcdefghijklmnopqrstuvwxyz")
    # labels follow the alphabetical language order
    assert data.names[data.labels.tolist().index(LANGS.index("German"))].startswith("german")
    again = build_from_tutorial_zip(z, seed=3)
    other = build_from_tutorial_zip(z, seed=4)
    assert again.val_idx.tolist() == data.val_idx.tolist()
    assert other.val_idx.tolist() != data.val_idx.tolist()


def test_to_ascii():
    assert to_ascii("  Müller-Lüdenscheidt ") == "mullerludenscheidt"
    assert to_ascii("Strauß") == "strauss"
    assert to_ascii("D'Ángelo") == "d'angelo"
    assert to_ascii("Ng Uyen") == "ng uyen"
    assert to_ascii("陳") == ""


def test_tutorial_zip_errors(tmp_path):
    with pytest.raises(HandgradError, match="expected 18"):
        build_from_tutorial_zip(write_zip(tmp_path / "a.zip", langs=LANGS[:17]), seed=0)
    z = tmp_path / "b.zip"
    write_zip(z)
    with zipfile.ZipFile(z, "a") as zf:  # a 19th file
        zf.writestr("data/names/Klingon.txt", "worf\n")
    with pytest.raises(HandgradError, match="found 19"):
        build_from_tutorial_zip(z, seed=0)
    bad = tmp_path / "c.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for lang in LANGS:
            zf.writestr(f"data/names/{lang}.txt", "" if lang == "Greek" else "\n".join(["ab"] * 20))
    with pytest.raises(HandgradError, match="Greek.txt holds no names"):
        build_from_tutorial_zip(bad, seed=0)
    with pytest.raises(HandgradError, match="too few"):
        build_from_tutorial_zip(write_zip(tmp_path / "d.zip", per_class=10), seed=0)
    (tmp_path / "e.zip").write_text("hello")
    with pytest.raises(HandgradError, match="not a zip"):
        build_from_tutorial_zip(tmp_path / "e.zip", seed=0)


def test_download_records_and_checks_sha256(tmp_path, monkeypatch):
    import pooch

    cached = tmp_path / "pytorch-tutorial-data.zip"
    write_zip(cached)
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):  # no network in tests
        calls.append((url, known_hash))
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    p = sn.download_tutorial_zip(tmp_path)
    assert p == cached and calls == [(sn.TUTORIAL_URL, None)]
    record = json.loads((tmp_path / "pytorch-tutorial-data.zip.sha256.json").read_text())
    assert record["sha256"] == sn._sha256(cached) and record["url"] == sn.TUTORIAL_URL
    sn.download_tutorial_zip(tmp_path)  # unchanged: silent
    with zipfile.ZipFile(cached, "a") as zf:
        zf.writestr("data/names/extra.md", "changed")
    with pytest.warns(UserWarning, match="archive changed"):
        sn.download_tutorial_zip(tmp_path)


# -- the real course files -----------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("HANDGRAD_DATA"), reason="HANDGRAD_DATA not set")
def test_real_surnames():
    data = load_surnames(Path(os.environ["HANDGRAD_DATA"]) / "surnames")
    assert isinstance(data, SurnameData)
    assert len(data.names) == 20050 and data.K == 18
    assert data.alphabet == " 'abcdefghijklmnopqrstuvwxyz" and data.n_len == 19
    assert len(data.val_idx) == 252 and len(data.train_idx) == 19798
    assert class_counts(data.labels[data.val_idx], 18).tolist() == [14] * 18
    assert class_counts(data.labels, 18).tolist() == [2000, 268, 519, 297, 3668, 277, 724, 203, 232, 709, 991,
                                                      94, 139, 74, 9384, 100, 298, 73]
    assert max(data.names, key=len) == "shirinskyshikhmatov"
    assert data.encoder().encode(data.names[:5]).shape == (5, 532)
