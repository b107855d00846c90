"""Keeping credentials out of logs, errors and output.

Connector specs know which of their options are secret; any text that leaves the process goes
through ``redact`` with those values, and URIs have their passwords masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
SECRET_OPTION_NAMES = frozenset(
    {"api_key", "password", "dsn", "token", "secret", "access_key", "secret_key", "session_token"}
)
_URI_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>(?:api[_-]?key|access[_-]?key|secret[_-]?key|password|token|secret)=)(?P<value>[^&\s]+)",
    re.IGNORECASE,
)
_KEYWORD_PASSWORD = re.compile(r"(?P<key>password\s*=\s*)(?P<value>'[^']*'|\S+)", re.IGNORECASE)


def mask_uri(text: str) -> str:
    """Mask passwords in ``scheme://user:password@host`` forms and secret query parameters."""
    text = _URI_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value, then any URI password, with a mask."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask_uri(text)
