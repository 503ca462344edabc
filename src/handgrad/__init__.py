"""handgrad: small neural networks with hand-derived gradients, in NumPy, checked numerically."""

from handgrad.errors import HandgradError

__version__ = "0.1.0"

__all__ = ["HandgradError", "__version__"]
