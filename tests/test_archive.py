"""minigrad's files (minigrad/_archive.py, behind Module.save/load and Optimizer.save/load):
a file that is not an archive is named and refused without NumPy's pickle advice, and the
temporary files of saves killed midway are removed by a later save or load."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minigrad import optim
from minigrad._archive import read_archive
from minigrad._files import _host, remove_stale_temps
from minigrad.nn import Linear, TwoLayerNet

ROOT = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"W1 0.1 0.2\nb1 0.0\n", "it does not start as a zip file does"),
        (pickle.dumps({"W": [1.0]}), "it does not start as a zip file does"),
        (b"", "it does not start as a zip file does"),
        (b"PK\x03\x04" + b"\0" * 40, "a damaged zip"),
    ],
    ids=["text", "pickle", "empty", "damaged zip"],
)
def test_a_file_that_is_not_an_archive_is_named(tmp_path, content, reason):
    path = tmp_path / "weights.txt"
    path.write_bytes(content)
    for load in (Linear(2, 2).load, optim.SGD(lr=0.1).load):
        with pytest.raises(ValueError) as e:
            load(path)
        message = str(e.value)
        assert f"'{path}' is not a minigrad archive (a .npz file written by save)" in message
        assert reason in message and "allow_pickle" not in message


def test_a_zip_of_other_files_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match="its member 'notes.txt' is not a .npy array"):
        read_archive(path, "load")


def test_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        Linear(2, 2).load(tmp_path / "nowhere.npz")


def test_an_archive_with_other_keys_names_the_file(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match=r"missing keys \['W', 'b'\].*\[from '.*other.npz'\]"):
        Linear(2, 2).load(path)


def test_stale_temporary_files_are_removed_and_only_those(tmp_path):
    path = tmp_path / "model.npz"
    dead, host = _dead_pid(), _host()
    stale = f".model.npz.{host}.{dead}.0a1b2c3d.tmp"
    kept = [
        f".model.npz.{host}.{os.getpid()}.0a1b2c3d.tmp",  # a save running now
        f".model.npz.otherhost.{dead}.0a1b2c3d.tmp",  # another machine's
        ".model.npz.0a1b2c3d4e5f.tmp",  # the old form: nothing proves it stale
        f".other.npz.{host}.{dead}.0a1b2c3d.tmp",  # another file's
        "model.npz.bak",
    ]
    for name in [stale, *kept]:
        (tmp_path / name).write_bytes(b"partial")
    TwoLayerNet(2, 2, 2).save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["model.npz", *kept])
    (tmp_path / stale).write_bytes(b"partial")
    TwoLayerNet(2, 2, 2).load(path)  # a load cleans too
    assert stale not in os.listdir(tmp_path)
    assert remove_stale_temps(str(path)) == []


def test_a_save_killed_midway_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    path = tmp_path / "model.npz"
    TwoLayerNet(2, 2, 2).save(path)
    before = path.read_bytes()
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2])\n"
        "from minigrad.nn import TwoLayerNet\n"
        "os.replace = lambda *a: os._exit(9)  # killed between writing and renaming\n"
        "TwoLayerNet(2, 2, 2, weight_init_std=1.0).save(sys.argv[1])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(ROOT)], check=False)
    assert proc.returncode == 9
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1 and path.read_bytes() == before  # the target is intact
    TwoLayerNet(2, 2, 2).save(path)
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_damaged_array_header_is_a_damaged_archive(tmp_path):
    path = tmp_path / "w.npz"
    Linear(2, 2).save(path)
    data = path.read_bytes()
    at = data.index(b"{'descr'")
    path.write_bytes(data[:at] + b"{'descr\": '<f4', 'fortran_order': Fal" + data[at + 37 :])
    with pytest.raises(ValueError, match="is not a minigrad archive .*: a damaged zip"):
        Linear(2, 2).load(path)
