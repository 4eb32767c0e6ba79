"""Credentials never leave in names or messages: `redact` masks them in any text.

A user may put credentials in an `openai-compatible:` URL (``http://user:token@host/v1``
or ``?api_key=…``). The URL still reaches the HTTP client as given; everything shown or
stored (model names, cache identity, error messages) goes through `redact`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact", "redact_url"]

_URL = re.compile(r"https?://[^\s'\"<>]+")
_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|cred", re.IGNORECASE)
MASK = "***"


def redact_url(url: str) -> str:
    """`url` without user info and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:                 # not a URL we can take apart: hide everything after the scheme
        return url.split("://", 1)[0] + "://" + MASK
    netloc = (f"{MASK}@" if "@" in parts.netloc else "") + host + port
    query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str) -> str:
    """`text` with every URL in it redacted (see `redact_url`)."""
    return _URL.sub(lambda m: redact_url(m.group()), text)
