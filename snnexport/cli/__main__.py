"""``python -m snnexport.cli``: the same command line as ``python -m snnexport``."""

from . import main

if __name__ == "__main__":
    main()
