"""The library's own error types: every user mistake raises one of these with a one-line message
(`one_line` gives it back also where torch re-raised it from a DataLoader worker process)."""


class SgposeError(Exception):
    """Base class: the CLI prints the message and exits non-zero, with no traceback."""


class ConfigError(SgposeError):
    """A bad profile, variant, key or value in params.yaml or on the command line."""


class DataError(SgposeError):
    """A missing folder or file, or an annotation that is not what the loader expects."""


class CheckpointError(SgposeError):
    """A file that is not a checkpoint, or one whose tensors do not fit the model."""


class TrainingError(SgposeError):
    """Training cannot go on (for example a NaN loss); the last good checkpoint is kept."""


def one_line(error: BaseException) -> str:
    """The message of `error`. An error raised in a DataLoader worker process reaches the main
    process as the same type with the worker's whole traceback as its message ("Caught DataError
    in DataLoader worker process 0. Original Traceback ..."): then its original message, the
    traceback's last line."""
    text = str(error)
    kind = type(error)
    if text.startswith(f"Caught {kind.__name__} ") and "\nOriginal Traceback" in text:
        prefix = f"{kind.__module__}.{kind.__qualname__}: "
        for line in reversed(text.splitlines()):
            if line.startswith(prefix):
                return line[len(prefix):]
    return text
