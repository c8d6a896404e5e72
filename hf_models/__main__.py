"""`python -m hf_models` (or `hf-models`): run the quickstart, the package's main job, on its embedded samples."""

import sys

from .cli_utils import run_main
from .quickstart import main as quickstart_main


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "quickstart":
        argv = argv[1:]
    run_main(quickstart_main, argv)  # bad input: one line on stderr and exit status 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
