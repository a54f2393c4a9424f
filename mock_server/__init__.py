"""evolink-mock: a local emulator of the EvoLink video-generation API."""
from __future__ import annotations

__version__ = "0.1.0"

from .config import Settings  # noqa: E402
from .emulator import Emulator  # noqa: E402
from .web.app import create_app  # noqa: E402

__all__ = ["Emulator", "Settings", "create_app", "__version__"]
