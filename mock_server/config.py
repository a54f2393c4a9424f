"""Settings from ``EVOLINK_MOCK_*`` environment variables (and CLI overrides)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_SPEED = 60.0  # a default 5 s task (about 250 s of mock time) ends in about 4 s of wall time


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one emulator."""

    host: str = "127.0.0.1"
    port: int = 8000
    speed: float = DEFAULT_SPEED
    seed: int | None = None
    admin_token: str | None = None
    store: str = "memory"
    credits: Decimal = Decimal(10000)
    allow_local_callbacks: bool = False
    max_concurrent: int | None = None
    max_body_bytes: int = 1 << 20
    max_tasks: int = 1_000_000  # beyond this the oldest finished tasks are forgotten (about 550 B each)
    prices: str | None = None  # a YAML or JSON file of price overrides per model and user group

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``EVOLINK_MOCK_<NAME>`` for every field; ``overrides`` win when not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(f"EVOLINK_MOCK_{field.name.upper()}")
            if raw is not None and raw.strip() != "":
                values[field.name] = _parse(field.name, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values).checked()

    def checked(self) -> Settings:
        """Raise ValueError naming the setting when a value is out of range."""
        problems = []
        if not (0 <= self.port < 65536):
            problems.append(f"EVOLINK_MOCK_PORT must be 0-65535, 0 for any free port (got {self.port})")
        if not (self.speed >= 0 and self.speed < float("inf")):
            problems.append(f"EVOLINK_MOCK_SPEED must be >= 0 (got {self.speed})")
        if self.credits < 0:
            problems.append(f"EVOLINK_MOCK_CREDITS must be >= 0 (got {self.credits})")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append(f"EVOLINK_MOCK_MAX_CONCURRENT must be >= 1 (got {self.max_concurrent})")
        if self.max_tasks < 1:
            problems.append(f"EVOLINK_MOCK_MAX_TASKS must be >= 1 (got {self.max_tasks})")
        if self.max_body_bytes < 1024:
            problems.append(f"EVOLINK_MOCK_MAX_BODY_BYTES must be >= 1024 (got {self.max_body_bytes})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(name: str, raw: str) -> object:
    var = f"EVOLINK_MOCK_{name.upper()}"
    try:
        if name in ("port", "seed", "max_concurrent", "max_body_bytes", "max_tasks"):
            return int(raw)
        if name == "speed":
            return float(raw)
        if name == "credits":
            value = Decimal(raw)
            if not value.is_finite():
                raise InvalidOperation
            return value
    except (ValueError, InvalidOperation):
        raise ValueError(f"{var} must be a number (got {raw!r})") from None
    if name == "allow_local_callbacks":
        if raw.lower() not in _TRUE | _FALSE:
            raise ValueError(f"{var} must be 1 or 0 (got {raw!r})")
        return raw.lower() in _TRUE
    return raw
