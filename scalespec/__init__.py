"""scalespec: compound-scaled networks from one validated spec, for every framework."""

from .errors import SpecError

__version__ = "0.1.0"
__all__ = ["SpecError", "__version__", "create_model", "optimize_for_inference", "reset_classifier", "scale"]


def __getattr__(name: str):
    """``scalespec.create_model`` and the other API functions without importing anything heavy at ``import scalespec``."""
    if name in __all__[2:]:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'scalespec' has no attribute {name!r}")
