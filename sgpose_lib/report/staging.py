"""A report is replaced whole or not at all.

`staged(out, parts)` gives a temporary folder beside the output; the report writes its files
there and, once every file is written, each of `parts` (paths relative to `out`: the folders and
files the report owns) is renamed into place, replacing the previous one in whole; with
`parts=None` the staging folder replaces `out` itself. A report that fails (a damaged input, an
error, Ctrl-C) leaves the previous output as it was, byte for byte, and no staging folder.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def _fresh(path: Path) -> Path:
    """`path` created empty (a leftover of a killed report removed first), with the umask's mode."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _swap(new: Path, target: Path, old: Path) -> None:
    """Rename `new` to `target`; a previous `target` is moved to `old` first (and put back if the
    second rename fails)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    had = target.exists() or target.is_symlink()
    if had:
        os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        if had:
            os.rename(old, target)
        raise


@contextmanager
def staged(out: str | Path, parts: Sequence[str] | None = None) -> Iterator[Path]:
    """A staging folder to write the report of `out` into; on success, each of `parts` written
    there replaces its counterpart under `out` (parts the report did not write stay as they
    are), or with `parts=None` the whole folder replaces `out`. On an error nothing under `out`
    changes."""
    out = Path(out)
    tag = f"staging-{os.getpid()}"
    created = not out.exists()
    if parts is None:
        stage = _fresh(out.parent / f".{out.name}.{tag}")
        old = out.parent / f".{out.name}.{tag}.old"
    else:
        stage = _fresh(out / f".{tag}")
        old = stage / ".old"
    try:
        yield stage
        if parts is None:
            _swap(stage, out, old)
        else:
            old.mkdir()
            for i, part in enumerate(parts):
                if (stage / part).exists():
                    _swap(stage / part, out / part, old / str(i))
    except BaseException:
        if created and parts is not None:
            shutil.rmtree(stage, ignore_errors=True)
            try:
                out.rmdir()  # created for the staging folder alone: leave no empty folder
            except OSError:
                pass
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["staged"]
