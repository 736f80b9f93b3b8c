"""``python -m snnexport``: the same command line as the ``snnexport`` script."""

from .cli import main

if __name__ == "__main__":
    main()
