"""The `sgpose` command: `main` runs it (parser.py declares the commands and their options,
commands.py does what each one asks). User mistakes print one line and exit 2; Ctrl-C prints one
line and exits 130."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, SgposeError, one_line
from .arguments import EXIT_USAGE
from .parser import build_parser

EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it


def _command_name(args: argparse.Namespace) -> str:
    """'sgpose <command>' (with the robustness or convergence subcommand) for messages."""
    sub = getattr(args, "robustness_command", None) or getattr(args, "convergence_command", None)
    return f"sgpose {args.command}" + (f" {sub}" if sub else "")


def _check_out_is_folder(args: argparse.Namespace) -> None:
    """ConfigError when --out names an existing file: every command's --out is a folder."""
    out = getattr(args, "out", None)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out}: is a file; --out names a folder (the command writes "
                          "its files into it)")


def main(argv: list[str] | None = None) -> int:
    """Run `sgpose`; returns the exit status: 0, 2 (a user mistake, one line on stderr) or 130
    (interrupted with Ctrl-C, one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        _check_out_is_folder(args)
        args.func(args)
    except SgposeError as e:  # also from a DataLoader worker: one_line drops its traceback
        print(f"{_command_name(args)}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{_command_name(args)}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
