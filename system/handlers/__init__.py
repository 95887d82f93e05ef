"""Built-in handlers; importing this package registers them in ``system.registry.REGISTRY``."""

from system.handlers import builtin
from system.handlers.builtin import FlakyError

__all__ = ["FlakyError", "builtin"]
