"""argparse building blocks of the `sgpose` command line: a parser whose errors are one line
(exit 2), help that ends with each default, and the typed values (counts, HEIGHTxWIDTH)."""
from __future__ import annotations

import argparse

from .. import config_fields

EXIT_USAGE = 2          # a user mistake (argparse's code too)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `sgpose <cmd>: error: ...` (no usage block), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default: '(default: off)' for a flag, '(default: none)'
    for an empty list, '(required)' for a required option; none is added where the default is
    None (the help text then says what leaving the option out means)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required:
            return f"{text} (required)"
        if action.default is None or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0 and action.default is False:
            return f"{text} (default: off)"
        if action.default == []:
            return f"{text} (default: none)"
        return super()._get_help_string(action)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 must be > 0")
    return value


def height_width(text: str) -> tuple[int, int]:
    """'256x192' (height x width, the field's convention, as `--set data.image_size=256x192`)
    -> (width, height)."""
    try:
        return config_fields.height_width(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH, e.g. 256x192") from None


def command(sub, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose options' help ends with their defaults."""
    return sub.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter)
