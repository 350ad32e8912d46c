"""The library's own error types: every user mistake raises one of these with a one-line message."""


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
