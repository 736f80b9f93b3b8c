"""User-facing errors: one line that names the file, node or module and what is wrong."""


class SnnexportError(Exception):
    """Bad input or an unsupported model. The CLI prints ``error: <message>`` and exits 2."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


class UnsupportedModuleError(SnnexportError):
    """A module (or functional op) of the source model has no conversion rule."""
