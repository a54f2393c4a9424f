"""Where the contract and the fixture data live, in a checkout and in a wheel.

In a checkout (or an editable install) they sit at the repository root next to
``mock_server/``; a wheel carries copies under ``mock_server/_data/``.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "_data", _PACKAGE.parent)


def _find(name: str) -> Path:
    for root in _CANDIDATES:
        path = root / name
        if path.exists():
            return path
    raise FileNotFoundError(f"{name} not found next to the mock_server package")


def contract_path() -> Path:
    """The public API contract, ``openapi.yaml``."""
    return _find("openapi.yaml")


def fixtures_dir() -> Path:
    """The ``fixtures/`` data folder (example requests, recordings, media)."""
    return _find("fixtures")


def admin_contract_path() -> Path:
    """The admin API's own OpenAPI document, served at ``/_mock/openapi.yaml``."""
    return _PACKAGE / "admin_openapi.yaml"
