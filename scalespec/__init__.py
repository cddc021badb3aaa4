"""scalespec: compound-scaled networks from one validated spec, for every framework."""

from .errors import SpecError

__version__ = "0.1.0"
__all__ = ["SpecError", "__version__", "create_model"]


def __getattr__(name: str):
    """``scalespec.create_model`` without importing anything heavy at ``import scalespec``."""
    if name == "create_model":
        from .api import create_model

        return create_model
    raise AttributeError(f"module 'scalespec' has no attribute {name!r}")
