"""Run-folder files: atomic checkpoints and text (temporary file, fsync, rename: a reader never
sees half a file) and a folder lock (one writer per run or output folder).

A training checkpoint carries `tensor_sha256`, the SHA-256 of its tensors (`tensor_checksum`),
added by `atomic_save` and checked by `load_checkpoint`: flipped bytes in a weight stop the load
with one line instead of evaluating or resuming damaged weights. A checkpoint saved before the
checksum existed loads with a note on stderr. A save cut short by a crash can leave its temporary
file (`.<name>.<random>.tmp`) behind; `folder_lock` removes them once it holds the folder.
"""
from __future__ import annotations

import fcntl
import hashlib
import math
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from ..errors import CheckpointError, SgposeError


def atomic_save(obj, path: str | Path) -> None:
    """torch.save `obj` to `path` atomically (temp file in the same folder, fsync, os.replace);
    a training checkpoint (a dict holding 'model') with the checksum of its tensors."""
    if isinstance(obj, dict) and "model" in obj:
        obj = {**obj, CHECKSUM_KEY: tensor_checksum(obj)}
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
        if isinstance(e, RuntimeError):  # torch.save reports a failed write (a full disk) so
            raise SgposeError(f"{path}: could not save {what} ({_first_line(e)}); "
                              f"the previous {what} is intact") from None
        raise


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (torch's carry a C++ trace below)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[0] if lines else error.__class__.__name__


_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")  # mkstemp's names in _atomic_write


def remove_interrupted_saves(folder: str | Path) -> list[str]:
    """Delete the temporary files that saves into `folder` left when a crash (SIGKILL, power
    loss) cut them short; returns their names. Only for a folder whose lock the caller holds
    (`folder_lock`): no other save can be under way there."""
    removed = []
    for path in Path(folder).iterdir():
        if _TEMPORARY.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


CHECKSUM_KEY = "tensor_sha256"  # a training checkpoint's checksum of its tensors


def tensor_checksum(obj) -> str:
    """SHA-256 (hex) of every tensor in `obj` (nested dicts, lists, tuples; dict keys in sorted
    order, each tensor's path, dtype, shape and bytes), leaving out the CHECKSUM_KEY entry."""
    digest = hashlib.sha256()
    _hash_tensors(obj, "", digest)
    return digest.hexdigest()


def _hash_tensors(obj, where: str, digest) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        digest.update(f"{where}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            if key != CHECKSUM_KEY:
                _hash_tensors(obj[key], f"{where}/{key}", digest)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _hash_tensors(item, f"{where}/{i}", digest)


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
    stored = ckpt.get(CHECKSUM_KEY)
    if stored is None:
        print(f"note: {path}: a checkpoint without a checksum of its tensors (saved before "
              "sgpose stored one): loaded unchecked", file=sys.stderr)
    elif stored != tensor_checksum(ckpt):
        raise CheckpointError(f"{path}: damaged: its tensors do not match the checksum saved "
                              "with them (SHA-256); restore the file, or train the run again "
                              "with --restart")
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
    never leaves a stale lock behind; the temporary files of saves a crash cut short there are
    removed once the lock is held."""
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
        remove_interrupted_saves(folder)
        yield folder
    finally:
        handle.close()
