"""scalespec: compound-scaled networks from one validated spec, for every framework."""

from .errors import SpecError

__version__ = "0.1.0"
__all__ = ["SpecError", "__version__"]
