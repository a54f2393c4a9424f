"""evolink-mock: a local emulator of the EvoLink video-generation API.

``from mock_server import create_app, Emulator, Settings``; the names load on
first use, so importing the package (the CLI, the pytest plugin) stays cheap.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Emulator", "Settings", "__version__", "create_app"]

_LAZY = {"Emulator": "mock_server.core.service", "Settings": "mock_server.config", "create_app": "mock_server.http.app"}

if TYPE_CHECKING:
    from .config import Settings
    from .core.service import Emulator
    from .http.app import create_app


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mock_server' has no attribute {name!r}")
