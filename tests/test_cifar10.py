"""CIFAR-10 loading: official format from a folder or the tar.gz, splits, and refusing bad files."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil

import numpy as np
import pytest

from fakes import (
    CIFAR_BATCHES,
    fake_cifar_images,
    make_fake_cifar,
    make_fake_cifar_tar,
    py2_pickle_bytes,
    write_cifar_batch,
)
from handgrad.datasets.cifar import CLASSES, load_batch, load_cifar10
from handgrad.errors import HandgradError

N = 20  # images per fake batch


@pytest.fixture(scope="module")
def fake_folder(tmp_path_factory):
    return make_fake_cifar(tmp_path_factory.mktemp("data"), n_per_batch=N)


@pytest.fixture(scope="module")
def fake_tar(tmp_path_factory):
    return make_fake_cifar_tar(tmp_path_factory.mktemp("tar") / "cifar-10-python.tar.gz", n_per_batch=N)


@pytest.fixture(scope="module")
def batches(fake_folder):
    """name -> (X, y) of the fake folder, read one by one."""
    return {name: load_batch(fake_folder / name) for name in CIFAR_BATCHES}


def assert_same(dataset, X, y):
    assert dataset.X.dtype == np.uint8 and dataset.y.dtype == np.int64
    np.testing.assert_array_equal(dataset.X, X)
    np.testing.assert_array_equal(dataset.y, y)


# --- load_batch -------------------------------------------------------------------


def test_load_batch_round_trip(tmp_path):
    X, y = fake_cifar_images(30, seed=1)
    path = write_cifar_batch(tmp_path / "data_batch_1", X, y)
    X2, y2 = load_batch(path)
    assert X2.shape == (30, 3072) and X2.dtype == np.uint8
    assert y2.shape == (30,) and y2.dtype == np.int64
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_batch_from_tar_member(fake_tar, batches):
    X, y = load_batch((fake_tar, "cifar-10-batches-py/test_batch"))
    np.testing.assert_array_equal(X, batches["test_batch"][0])
    np.testing.assert_array_equal(y, batches["test_batch"][1])


def test_load_batch_missing_tar_member(fake_tar):
    with pytest.raises(HandgradError, match="no member cifar-10-batches-py/data_batch_9"):
        load_batch((fake_tar, "cifar-10-batches-py/data_batch_9"))


def test_load_batch_missing_file(tmp_path):
    with pytest.raises(HandgradError, match="data_batch_1 does not exist"):
        load_batch(tmp_path / "data_batch_1")


def test_fake_images_are_learnable(batches):
    # Nearest class mean on the fakes must beat chance (10%) clearly: tiny runs can learn.
    X, y = batches["data_batch_1"]
    means = np.stack([X[y == k].mean(axis=0) for k in range(len(CLASSES))])
    X_test, y_test = batches["test_batch"]
    predicted = ((X_test[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert (predicted == y_test).mean() > 0.5


# --- refusing bad files -------------------------------------------------------------


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle_bytes({b"data": _Evil(marker)}))
    with pytest.raises(HandgradError, match="refusing to load") as info:
        load_batch(path)
    assert str(path) in str(info.value)
    assert "system" in str(info.value)  # os.system is pickled as posix.system on Linux
    assert "which a CIFAR-10 batch never contains" in str(info.value)
    assert not marker.exists()


def test_malicious_member_in_tar_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    tar = tmp_path / "cifar-10-python.tar.gz"
    folder = make_fake_cifar(tmp_path / "src", n_per_batch=N)
    (folder / "test_batch").write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    shutil.make_archive(str(tar).removesuffix(".tar.gz"), "gztar", folder.parent, folder.name)
    with pytest.raises(HandgradError, match="refusing to load .*cifar-10-python.tar.gz:cifar-10-batches-py/test_batch"):
        load_cifar10("a1", root=tar)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0.0, 0.001, 0.5], ids=["empty", "header-only", "half"])
def test_truncated_file(tmp_path, keep):
    X, y = fake_cifar_images(N)
    path = write_cifar_batch(tmp_path / "data_batch_1", X, y)
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data))])
    with pytest.raises(HandgradError, match=f"cannot read {path}: truncated or corrupt"):
        load_batch(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(HandgradError, match=str(path)):
        load_batch(path)


def write_raw_batch(path, **entries):
    """A batch with exactly the given keys (bytes keys from the keyword names)."""
    path.write_bytes(py2_pickle_bytes({key.encode(): value for key, value in entries.items()}))
    return path


@pytest.mark.parametrize(
    "data, labels, message",
    [
        (np.zeros((N, 3000), np.uint8), [0] * N, r"b'data' must be a uint8 array of shape \(N, 3072\), found a uint8 array of shape \(20, 3000\)"),
        (np.zeros((N, 3072), np.float64), [0] * N, r"b'data' must be a uint8 array .* found a float64 array"),
        (np.zeros(N * 3072, np.uint8), [0] * N, r"b'data' must be .* shape \(61440,\)"),
        ([1, 2, 3], [0] * N, r"b'data' must be a uint8 array .* found a list"),
        (np.zeros((N, 3072), np.uint8), [0] * (N - 1), "b'labels' has 19 labels but b'data' has 20 images"),
        (np.zeros((N, 3072), np.uint8), [0] * (N - 1) + [10], "b'labels' holds 10 at index 19; CIFAR-10 labels are 0..9"),
        (np.zeros((N, 3072), np.uint8), [-1] + [0] * (N - 1), "b'labels' holds -1 at index 0"),
        (np.zeros((N, 3072), np.uint8), [b"cat"] * N, "b'labels' must be a list of ints"),
    ],
    ids=["width", "dtype", "1d", "list", "n-labels", "label-10", "label-neg", "label-bytes"],
)
def test_wrong_shape_or_values(tmp_path, data, labels, message):
    path = write_raw_batch(tmp_path / "data_batch_1", data=data, labels=labels)
    with pytest.raises(HandgradError, match=message) as info:
        load_batch(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("missing", ["data", "labels"])
def test_missing_key(tmp_path, missing):
    entries = {"data": np.zeros((N, 3072), np.uint8), "labels": [0] * N}
    del entries[missing]
    path = write_raw_batch(tmp_path / "test_batch", **entries)
    with pytest.raises(HandgradError, match=f"{path} has no key b'{missing}'"):
        load_batch(path)


def test_not_a_dict(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle_bytes([1, 2, 3]))
    with pytest.raises(HandgradError, match="is not a CIFAR-10 batch: it holds a list"):
        load_batch(path)


# --- load_cifar10 -------------------------------------------------------------------


def test_split_a1_from_folder(fake_folder, batches):
    splits = load_cifar10("a1", root=fake_folder)
    assert splits.classes == CLASSES
    assert (splits.train.n, splits.val.n, splits.test.n) == (N, N, N)
    assert_same(splits.train, *batches["data_batch_1"])
    assert_same(splits.val, *batches["data_batch_2"])
    assert_same(splits.test, *batches["test_batch"])
    assert splits.train.name == "cifar10-a1-train"


@pytest.mark.parametrize("split", ["a1", "all"])
def test_tar_and_parent_folder_give_the_same_data(fake_folder, fake_tar, split):
    from_folder = load_cifar10(split, n_val=5, root=fake_folder)
    for root in (fake_tar, fake_folder.parent):
        other = load_cifar10(split, n_val=5, root=root)
        for part in ("train", "val", "test"):
            mine, theirs = getattr(from_folder, part), getattr(other, part)
            assert_same(theirs, mine.X, mine.y)


def test_split_all_concatenates_and_takes_last_n_val(fake_folder, batches):
    splits = load_cifar10("all", n_val=15, root=fake_folder)
    X = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    y = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    assert (splits.train.n, splits.val.n, splits.test.n) == (5 * N - 15, 15, N)
    assert_same(splits.train, X[:-15], y[:-15])
    assert_same(splits.val, X[-15:], y[-15:])
    assert_same(splits.test, *batches["test_batch"])


def test_n_train_keeps_the_first_images(fake_folder, batches):
    splits = load_cifar10("a1", root=fake_folder, n_train=7)
    assert_same(splits.train, batches["data_batch_1"][0][:7], batches["data_batch_1"][1][:7])
    assert splits.val.n == N
    with pytest.raises(HandgradError, match="n_train=21 is more than the 20 training images"):
        load_cifar10("a1", root=fake_folder, n_train=21)
    with pytest.raises(HandgradError, match="n_train=0"):
        load_cifar10("a1", root=fake_folder, n_train=0)


@pytest.mark.parametrize("n_val", [0, -5, 50000])
def test_n_val_out_of_range(fake_folder, n_val):
    with pytest.raises(HandgradError, match=f"n_val={n_val} is out of range; it must be between 1 and 49999"):
        load_cifar10("all", n_val=n_val, root=fake_folder)


def test_n_val_larger_than_the_data(fake_folder):
    with pytest.raises(HandgradError, match="n_val=100 leaves no training images: .* holds 100"):
        load_cifar10("all", n_val=100, root=fake_folder)


def test_unknown_split(fake_folder):
    with pytest.raises(HandgradError, match="unknown CIFAR-10 split 'b2'; valid splits: 'a1' .*; 'all' "):
        load_cifar10("b2", root=fake_folder)


def test_missing_batch_file(tmp_path):
    folder = make_fake_cifar(tmp_path, n_per_batch=N)
    (folder / "data_batch_3").unlink()
    load_cifar10("a1", root=folder)  # does not need data_batch_3
    with pytest.raises(HandgradError, match=f"batch file {folder / 'data_batch_3'} is missing"):
        load_cifar10("all", root=folder, n_val=5)


def test_unequal_training_batches(tmp_path):
    folder = make_fake_cifar(tmp_path, n_per_batch=N)
    write_cifar_batch(folder / "data_batch_4", *fake_cifar_images(N + 1))
    with pytest.raises(HandgradError, match="data_batch_4 holds 21 images but data_batch_1 holds 20"):
        load_cifar10("all", root=folder, n_val=5)


def test_missing_member_in_tar(tmp_path):
    folder = make_fake_cifar(tmp_path / "src", n_per_batch=N)
    (folder / "test_batch").unlink()
    base = tmp_path / "cifar-10-python"
    tar = shutil.make_archive(str(base), "gztar", folder.parent, folder.name)
    with pytest.raises(HandgradError, match="no member cifar-10-batches-py/test_batch"):
        load_cifar10("a1", root=tar)


def test_truncated_tar(tmp_path, fake_tar):
    tar = tmp_path / "cifar-10-python.tar.gz"
    data = fake_tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    with pytest.raises(HandgradError, match=str(tar)):
        load_cifar10("a1", root=tar)


def test_not_a_tar(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(gzip.compress(b"not a tar archive" * 100))
    with pytest.raises(HandgradError, match=f"{path} is not a readable tar archive"):
        load_cifar10("a1", root=path)


def test_missing_root(tmp_path):
    with pytest.raises(HandgradError, match=f"CIFAR-10 location {tmp_path / 'nope'} does not exist"):
        load_cifar10("a1", root=tmp_path / "nope")


def test_default_root_comes_from_handgrad_data(monkeypatch, fake_folder, batches):
    monkeypatch.setenv("HANDGRAD_DATA", str(fake_folder.parent))
    splits = load_cifar10("a1")
    assert_same(splits.test, *batches["test_batch"])


# --- the real data --------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("HANDGRAD_DATA"), reason="HANDGRAD_DATA is not set")
def test_real_cifar10():
    splits = load_cifar10("a1")
    for part in (splits.train, splits.val, splits.test):
        assert part.X.shape == (10000, 3072) and part.X.dtype == np.uint8
        assert part.y.shape == (10000,) and part.y.dtype == np.int64
        assert part.y.min() == 0 and part.y.max() == 9
        assert len(np.unique(part.y)) == 10
