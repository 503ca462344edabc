"""Fuzzing the readers of handgrad's own files: truncated, bit-flipped and type-swapped versions of
real files (a training run, a search, a model folder, a report manifest, written here) either read
back or raise a clean HandgradError naming the file; never another exception. A damaged model
never loads with different parameters, and ``handgrad predict`` on random bytes is one line."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fakes import make_fake_cifar
from handgrad import io, readers, search, modelfile
from handgrad.config import read_run_config
from handgrad.cli import app
from handgrad.errors import HandgradError
from handgrad.networks import convnet

#: the default suite: the same 30 examples on every run, so that CI is reproducible
FIXED = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


def RANDOM(test):
    """The randomised twin of a test, with many more examples: ``pytest -m fuzz`` (``make fuzz``)."""
    return pytest.mark.fuzz(settings(max_examples=1000, deadline=None, derandomize=False, database=None,
                                     suppress_health_check=[HealthCheck.too_slow])(test))


runner = CliRunner()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Files as handgrad writes them: a linear run folder, a search folder, a ConvNet model folder,
    a reproduce record and a report manifest."""
    from handgrad import tasks
    from handgrad.tasks import runs
    from handgrad.config import from_dict
    from handgrad.reproduce import environment

    root = tmp_path_factory.mktemp("real")
    with pytest.MonkeyPatch.context() as mp:
        make_fake_cifar(root / "data", n_per_batch=40)
        mp.setenv("HANDGRAD_DATA", str(root / "data"))
        tasks._cache.clear()
        cfg = from_dict({"name": "fuzz", "train": {"n_epochs": 1, "n_batch": 20, "eta": 0.01},
                         "search": {"grid": {"train.lambda": [0.0, 0.1]}}})
        runs.run(cfg, root / "run", figures=False)
        search.write_table(root / "search", search.run_search(cfg, root / "search"))
        tasks._cache.clear()
    model = convnet(5, 6, 3, [(3, 4)], rng=np.random.default_rng(0))
    modelfile.save(root / "convnet", model, meta={"dataset": "surnames", "alphabet": "abcde", "n_len": 6,
                                                  "classes": ["x", "y", "z"]})
    io.write_json(root / "reproduce.json", {"id": "a1", "fingerprint": "0123456789abcdef", "quick": True,
                                            "repeat": 1, "commands": ["handgrad train x.toml"], "wall_seconds": 1.5})
    io.write_json(root / "manifest.json", {"family": "linear", "quick": True, "command": "handgrad reproduce linear",
                                           "status": {"a1": {"state": "done", "skipped": False}},
                                           "environment": environment(), "blas_threads": 1})
    return root


#: (file under the real folder, reader); model files are read through their folder
FILES = [("run/config.json", read_run_config), ("run/history.json", readers.read_history),
         ("run/metrics.json", readers.read_metrics), ("search/results.json", readers.read_trials),
         ("reproduce.json", readers.read_run_meta), ("manifest.json", readers.read_manifest),
         ("search/ledger.jsonl", None), ("run/model.json", None), ("run/model.npz", None),
         ("convnet/model.json", None), ("convnet/model.npz", None)]

JSON_VALUES = st.sampled_from([None, True, 0, -1, 1.5, float("nan"), "x", "", [], {}, [1, "a"], {"a": None}])


def _check(real: Path, rel: str, reader, data: bytes) -> None:
    """Write ``data`` as ``rel`` in a copy of its folder and read it: HandgradError or a clean read."""
    with tempfile.TemporaryDirectory() as tmp:
        src = real / rel
        folder = Path(tmp) / "f"
        if src.parent != real:
            shutil.copytree(src.parent, folder)
        else:
            folder.mkdir()
        (folder / src.name).write_bytes(data)
        try:
            if src.suffix == ".jsonl":
                _, problems = readers.read_ledger(folder / src.name)
                assert all(p.startswith(str(folder / src.name)) for p in problems)
            elif reader is None:  # model.json / model.npz
                model, _, _ = modelfile.load(folder)
                saved, _, _ = modelfile.load(src.parent)
                # a damaged model never loads with other parameters (checksum, CRC, shapes)
                for k, v in saved.get_params().items():
                    np.testing.assert_array_equal(model.get_params()[k], v)
            else:
                reader(folder / src.name)
        except HandgradError as e:
            assert str(folder) in str(e), str(e)


TRUNCATED = {"which": st.sampled_from(FILES), "cut": st.floats(0, 1, exclude_max=True)}


def truncated(real, which, cut):
    rel, reader = which
    data = (real / rel).read_bytes()
    _check(real, rel, reader, data[: int(cut * len(data))])


test_truncated_files = FIXED(given(**TRUNCATED)(truncated))
test_truncated_files_random = RANDOM(given(**TRUNCATED)(truncated))


BIT_FLIPPED = {"which": st.sampled_from(FILES), "where": st.floats(0, 1, exclude_max=True),
               "bit": st.integers(0, 7)}


def bit_flipped(real, which, where, bit):
    rel, reader = which
    data = bytearray((real / rel).read_bytes())
    i = int(where * len(data))
    data[i] ^= 1 << bit
    _check(real, rel, reader, bytes(data))


#: byte 136 of the 173,358 of run/model.npz: the first padding space after W's .npy header dict
NPZ_PADDING_WHERE = 136.5 / 173358
#: found by the randomised run: a padding space of W's .npy header becomes '(' (bit 3), and NumPy's
#: header parser raised tokenize.TokenError through the reader
NPZ_PADDING = {"which": ("run/model.npz", None), "where": NPZ_PADDING_WHERE, "bit": 3}
test_bit_flipped_files = FIXED(given(**BIT_FLIPPED)(example(**NPZ_PADDING)(bit_flipped)))
test_bit_flipped_files_random = RANDOM(given(**BIT_FLIPPED)(bit_flipped))


def test_npy_header_padding_turned_into_a_parenthesis(real):
    """The same damage, found in whatever file layout: every padding byte of the first .npy header."""
    data = (real / "run/model.npz").read_bytes()
    start = data.index(b"\x93NUMPY")
    end = data.index(b"\n", start)
    assert data[end - 1:end] == b" "
    for i in range(data.index(b"}", start) + 1, end):
        flipped = bytearray(data)
        flipped[i] = ord("(")
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(real / "run", Path(tmp) / "run")
            (Path(tmp) / "run" / "model.npz").write_bytes(bytes(flipped))
            with pytest.raises(HandgradError, match="damaged .npy header"):
                modelfile.load(Path(tmp) / "run")
            r = runner.invoke(app, ["predict", str(Path(tmp) / "run"), "lee"])
            assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output


def _swap(node, path: list[int], value):
    """``node`` with the value at ``path`` (indices into dict keys / list items, taken modulo)
    replaced by ``value``; the top level itself when the path runs out."""
    if not path or not isinstance(node, (dict, list)) or not node:
        return value
    if isinstance(node, dict):
        keys = sorted(node)
        k = keys[path[0] % len(keys)]
        return {**node, k: _swap(node[k], path[1:], value)}
    i = path[0] % len(node)
    return [*node[:i], _swap(node[i], path[1:], value), *node[i + 1:]]


TYPE_SWAPPED = {"which": st.sampled_from([f for f in FILES if not f[0].endswith(".npz")]),
                "path": st.lists(st.integers(0, 50), min_size=1, max_size=6), "value": JSON_VALUES,
                "line": st.integers(0, 10)}


def type_swapped_json(real, which, path, value, line):
    rel, reader = which
    text = (real / rel).read_text()
    if rel.endswith(".jsonl"):
        lines = text.splitlines()
        i = line % len(lines)
        lines[i] = json.dumps(_swap(json.loads(lines[i]), path, value))
        new = "\n".join(lines) + "\n"
    else:
        new = json.dumps(_swap(json.loads(text), path, value))
    _check(real, rel, reader, new.encode())


test_type_swapped_json = FIXED(given(**TYPE_SWAPPED)(type_swapped_json))
test_type_swapped_json_random = RANDOM(given(**TYPE_SWAPPED)(type_swapped_json))

ARRAYS = {"which": st.sampled_from(["run/model.npz", "convnet/model.npz"]), "pick": st.integers(0, 10),
          "dtype": st.sampled_from(["<f8", "<i4", "|b1", "<U3", "<c8", ">f4", "<f2"]), "reshape": st.booleans()}


def type_swapped_arrays(real, which, pick, dtype, reshape):
    arrays = modelfile.read_npz(real / which)
    k = sorted(arrays)[pick % len(arrays)]
    a = arrays[k].astype(dtype) if dtype != "<U3" else np.full(arrays[k].shape, "abc")
    arrays[k] = a.reshape(-1) if reshape else a
    import io as _io

    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    _check(real, which, None, buf.getvalue())


test_type_swapped_arrays = FIXED(given(**ARRAYS)(type_swapped_arrays))
test_type_swapped_arrays_random = RANDOM(given(**ARRAYS)(type_swapped_arrays))

RANDOM_BYTES = {"data": st.binary(min_size=0, max_size=2000), "keep_zip_header": st.booleans()}


def predict_on_random_bytes(real, data, keep_zip_header):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        shutil.copytree(real / "convnet", folder)
        (folder / "model.npz").write_bytes((b"PK\x03\x04" if keep_zip_header else b"") + data)
        r = runner.invoke(app, ["predict", str(folder), "abc"])
        assert r.exit_code == 2, r.output
        assert r.stderr.count("\n") == 1 and str(folder / "model.npz") in r.stderr


test_predict_on_random_bytes_is_one_line = FIXED(given(**RANDOM_BYTES)(predict_on_random_bytes))
test_predict_on_random_bytes_is_one_line_random = RANDOM(given(**RANDOM_BYTES)(predict_on_random_bytes))
