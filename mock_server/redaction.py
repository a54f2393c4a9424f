"""Credentials never leave the emulator in what it shows: one function masks them in any text.

Admin views (tasks, callbacks, accounts, fault rules), the test handle, log lines,
drift reports and recordings, and the kit's request reports all pass their text
through :func:`redact`:

- URL user info is masked: ``https://bob:s3cret@hooks.example.com/h`` shows as
  ``https://***:***@hooks.example.com/h`` (the callback still carries it: the
  receiver gets its Basic auth);
- an API key keeps a short prefix: ``sk-local-development`` shows as ``sk-local-d...``
  (at most 10 characters, and never more than half the key).

Where a view needs to tell keys apart (a filter, a ledger to open), it carries the key's
:func:`key_id`, a stable reference that is not the key: admin routes that take a key
also take its id.
"""
from __future__ import annotations

import hashlib
import re

KEY_PREFIX = 10
MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s\"'<>]*)@")
_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
KEY_ID = re.compile(r"key-[0-9a-f]{16}")


def _userinfo(match: re.Match[str]) -> str:
    masked = f"{MASK}:{MASK}" if ":" in match["userinfo"] else MASK
    return f"{match['scheme']}{masked}@"


def _key(match: re.Match[str]) -> str:
    key = match[0]
    return key[: min(KEY_PREFIX, len(key) // 2)] + "..."


def key_id(key: str) -> str:
    """A stable reference to an API key that is not the key (``key-`` and 16 hex digits of its BLAKE2b hash)."""
    return "key-" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def redact(text: str) -> str:
    """``text`` with every URL's user info masked and every ``sk-`` API key cut to a short prefix."""
    if "@" in text:
        text = _USERINFO.sub(_userinfo, text)
    if "sk-" in text:
        text = _KEY.sub(_key, text)
    return text
