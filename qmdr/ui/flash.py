"""One-shot messages shown on the page a POST redirects to ("Key saved", a provider's error).

The message travels in a short-lived signed cookie rather than the URL, so a
crafted link cannot make the dashboard display text of someone else's choosing.
Messages are ours or a provider's (scrubbed of keys by the provider layer);
they are HTML-escaped when rendered like everything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

FLASH_COOKIE = "qmdr_flash"
#: long enough to survive the redirect and a slow page load, short enough not to reappear later
FLASH_MAX_AGE_S = 60
#: cookies are capped near 4 KB; a provider's error body beyond this is noise on a status line
MAX_FLASH_CHARS = 600
_FLASH_CONTEXT = b"qmdr flash v1|"

FlashKind = Literal["ok", "error", "info"]


@dataclass(frozen=True, slots=True)
class Flash:
    kind: FlashKind
    message: str


def _mac(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, _FLASH_CONTEXT + payload, hashlib.sha256).hexdigest()


def set_flash(response: Response, request: Request, secret: bytes, kind: FlashKind, message: str) -> None:
    if len(message) > MAX_FLASH_CHARS:
        message = message[: MAX_FLASH_CHARS - 1] + "…"
    payload = base64.urlsafe_b64encode(json.dumps({"k": kind, "m": message}).encode())
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload.decode()}.{_mac(secret, payload)}",
        max_age=FLASH_MAX_AGE_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def take_flash(request: Request, secret: bytes) -> Flash | None:
    """The pending message, if its signature holds (the caller clears the cookie on the response)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    payload, _, mac = raw.partition(".")
    if not mac or not hmac.compare_digest(mac.encode(), _mac(secret, payload.encode()).encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if data.get("k") not in ("ok", "error", "info") or not isinstance(data.get("m"), str):
        return None
    return Flash(data["k"], data["m"])


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path="/ui", httponly=True, samesite="strict")
