"""Where a browser request comes from: the ``Origin`` (or ``Referer``) check shared by the dashboard's
forms and the JSON API's cookie sessions.

A cookie proves who the browser's user is, not which page sent the request:
a page on another origin (another site, or another port of ``localhost``,
which ``SameSite`` counts as the same site) can make the browser send it. So
a state-changing request authenticated by the cookie alone must also name our
own origin. The bearer token needs no such check: no browser attaches it on
its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

#: methods that never change state; browsers do not send Origin on same-origin GETs, so these are not checked
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def own_origin(request: HTTPConnection) -> str:
    """``scheme://host[:port]`` as the browser addressed us (the Host header)."""
    return f"{request.url.scheme}://{request.url.netloc}".lower()


def claimed_origin(request: HTTPConnection) -> str | None:
    """The origin the request names: ``Origin``, or else the origin part of ``Referer``; None if neither."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin.lower()
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_problem(request: HTTPConnection) -> str | None:
    """Why the request does not come from our own origin, or None when it does."""
    origin = claimed_origin(request)
    if origin is None:
        return "the request carries neither Origin nor Referer"
    if origin != own_origin(request):
        return "the request comes from another origin"
    return None
