"""`python -m hf_models` (or `hf-models`): run the quickstart, the package's main job, on its embedded samples."""

import sys

from .quickstart import main as quickstart_main


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "quickstart":
        argv = argv[1:]
    quickstart_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
