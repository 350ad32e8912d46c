"""`python -m sgpose_lib.cli ...` (e.g. under torchrun) runs the `sgpose` command."""
import sys

from . import main

sys.exit(main())
