"""Checkpoints hold tensors and plain data only, are written atomically, and fail with a fix."""

import os
import pickle

import numpy as np
import pytest
import torch

from alignbook.engine import checkpoints
from alignbook.engine.checkpoints import CheckpointError


class Payload:
    """Pickles as a call of os.system: loading it with weights_only=False would run the command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


def sample():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.random.get_rng_state(),
            "history": [{"loss": 0.5, "eval": None}, {"loss": float("inf"), "eval": 1.25}],
            "nested": {"ids": [1, 2, 3], "pair": (0.9, 0.95), "name": "x", "flag": True, "big": 2**70}}


def test_round_trip(tmp_path):
    payload = sample()
    path = checkpoints.save(tmp_path / "sub" / "state.pt", payload)
    loaded = checkpoints.load(path)
    assert loaded["history"] == payload["history"] and loaded["nested"] == payload["nested"]
    assert all(torch.equal(loaded["model"][k], v) for k, v in payload["model"].items())
    assert torch.equal(loaded["rng"], payload["rng"])
    assert loaded["optimizer"]["param_groups"] == payload["optimizer"]["param_groups"]
    assert torch.load(path, weights_only=True)["nested"]["big"] == 2**70
    # no temporary file left behind; the digest beside it
    assert sorted(p.name for p in path.parent.iterdir()) == [".state.pt.sha256", "state.pt"]


def test_a_checkpoint_changed_since_it_was_saved_is_refused(tmp_path):
    path = checkpoints.save(tmp_path / "run" / "state.pt", {"w": torch.arange(64.0)})
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF  # one flipped byte, same size
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(CheckpointError, match="changed since it was saved"):
        checkpoints.load(path)


def test_save_refuses_what_weights_only_cannot_load(tmp_path):
    with pytest.raises(TypeError, match=r"\['rng'\] is a ndarray"):
        checkpoints.save(tmp_path / "x.pt", {"rng": np.zeros(3)})
    assert not (tmp_path / "x.pt").exists()


def test_truncated_file_names_file_and_fix(tmp_path):
    path = checkpoints.save(tmp_path / "state.pt", sample())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="--force") as info:
        checkpoints.load(path)
    message = str(info.value)
    assert str(path) in message and "delete it" in message and "\n" not in message
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="state.pt"):
        checkpoints.load(path)


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_code_carrying_file_is_refused_and_not_run(tmp_path, writer):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    if writer == "torch":
        torch.save({"x": Payload(marker), "w": torch.zeros(2)}, path)
    else:
        path.write_bytes(pickle.dumps({"x": Payload(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match="--force") as info:
        checkpoints.load(path)
    assert str(path) in str(info.value) and "weights_only` set to `False" not in str(info.value)
    assert not marker.exists()


def test_missing_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoints.load(tmp_path / "absent.pt")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = checkpoints.save(tmp_path / "state.pt", {"step": 1, "w": torch.ones(3)})
    before = path.read_bytes()

    def killed(src, dst):
        raise OSError("killed mid-save")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        checkpoints.save(path, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before and checkpoints.load(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".state.pt.sha256", "state.pt"]
