"""Where the contract and the fixture data live, in a checkout and in a wheel.

In a checkout (or an editable install) they sit at the repository root next to
``mock_server/``; a wheel carries copies under ``mock_server/_data/``. The
``EVOLINK_MOCK_CONTRACT`` setting (``serve --contract``) points at another
contract, read once per process.
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "_data", _PACKAGE.parent)


def _find(name: str) -> Path:
    for root in _CANDIDATES:
        path = root / name
        if path.exists():
            return path
    raise FileNotFoundError(f"{name} not found next to the mock_server package")


#: The setting that names another contract to serve (``serve --contract`` sets it).
CONTRACT_ENV = "EVOLINK_MOCK_CONTRACT"


def contract_path() -> Path:
    """The public API contract: ``$EVOLINK_MOCK_CONTRACT`` when set, else the bundled ``openapi.yaml``."""
    override = os.environ.get(CONTRACT_ENV, "").strip()
    return Path(override) if override else _find("openapi.yaml")


def fixtures_dir() -> Path:
    """The ``fixtures/`` data folder (example requests, recordings, media)."""
    return _find("fixtures")


def admin_contract_path() -> Path:
    """The admin API's own OpenAPI document, served at ``/_mock/openapi.yaml``."""
    return _PACKAGE / "admin_openapi.yaml"
