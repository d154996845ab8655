"""The errors vaeimb raises on purpose: each carries a message meant for the user."""


class VaeimbError(Exception):
    """Base class: the CLI and the app show ``str(err)`` and no traceback."""


class ConfigError(VaeimbError, ValueError):
    """A configuration that cannot run; the message says what is allowed."""


class DataUnavailableError(VaeimbError):
    """MNIST could be neither found on disk nor downloaded."""
