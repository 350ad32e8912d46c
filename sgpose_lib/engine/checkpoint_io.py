"""Run-folder files: atomic checkpoints and text (temporary file, fsync, rename: a reader never
sees half a file) and a folder lock (one writer per run or output folder)."""
from __future__ import annotations

import fcntl
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from ..errors import CheckpointError, SgposeError


def atomic_save(obj, path: str | Path) -> None:
    """torch.save `obj` to `path` atomically (temp file in the same folder, fsync, os.replace)."""
    _atomic_write(path, lambda f: torch.save(obj, f), "checkpoint")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically: a crash leaves the old file or none, never a part."""
    _atomic_write(path, lambda f: f.write(text.encode()), "file")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: str | Path, write, what: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp's 0600 would stick to the file
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise SgposeError(f"{path}: could not save {what} ({e.strerror or e}); "
                              f"the previous {what} is intact") from None
        raise


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint saved by `atomic_save` (weights_only: no code is executed)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a readable checkpoint ({e.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not an sgpose training checkpoint "
                              "(expected keys 'model' and 'config')")
    return ckpt


def json_safe(value):
    """`value` with every non-finite float (NaN, +-inf) replaced by None, recursively through
    dicts, lists and tuples: JSON has no NaN, and `json.dumps` would write the invalid token."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def require_folder_path(folder: str | Path) -> Path:
    """`folder` as a Path; SgposeError if it names an existing file (an output is a folder)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SgposeError(f"{folder}: is a file; the output must be a folder (it would hold the "
                          "command's files)")
    return folder


def check_writable(folder: str | Path) -> Path:
    """Create `folder` and prove it is writable, so a run fails before training, not after."""
    folder = require_folder_path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write_probe"
        probe.write_bytes(b"0" * 4096)
        probe.unlink()
    except OSError as e:
        raise SgposeError(f"{folder}: output folder is not writable ({e.strerror or e})") from None
    return folder


def load_model_state(model: torch.nn.Module, state: dict, source: str | Path) -> None:
    """Load a training checkpoint's `model` state strictly; CheckpointError naming the
    mismatching tensors (another architecture, width or SGM placement), never a partial load."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = ([f"shape {w}" for w in wrong] + [f"missing {k}" for k in missing]
                + [f"unexpected {k}" for k in unexpected])
    if problems:
        more = f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""
        raise CheckpointError(f"{source}: does not fit the model: {'; '.join(problems[:4])}{more}")
    model.load_state_dict(state)


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (created if needed) for the block; SgposeError at once
    if another process holds it. The OS releases the lock when the process dies, so a crash
    never leaves a stale lock behind."""
    folder = check_writable(folder)
    handle = open(folder / ".lock", "w")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SgposeError(f"{folder}: in use by another sgpose process (a second run or "
                              "evaluation into the same folder would mix their files)") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield folder
    finally:
        handle.close()
