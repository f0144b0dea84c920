"""Settings -> Agent tokens: make a token (shown once, on the page that answers the form), list, revoke.

The token is rendered into that one response (``Cache-Control: no-store``) and
nowhere else: not into a redirect, a flash cookie or a log. Reloading that page
asks to resubmit the form, which is refused because the name is taken.
"""

from __future__ import annotations

import time

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, status
from starlette.responses import Response

from qmdr.access.tokens import RIGHTS, create_token, revoke_token
from qmdr.api.deps import token_store_of
from qmdr.errors import QmdrError
from qmdr.ui.forms import field_text
from qmdr.ui.web import UI_PREFIX, posted_form, redirect, render, require_login, service_of

router = APIRouter(prefix=f"{UI_PREFIX}/settings", include_in_schema=False, dependencies=[Depends(require_login)])
TOKENS_PAGE = f"{UI_PREFIX}/settings/tokens"
#: form field of a vault's right: ``right:<vault>`` = "", "r" or "rw"
RIGHT_FIELD = "right:"


async def tokens_page(
    request: Request,
    *,
    created: dict[str, object] | None = None,
    error: str | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    infos = await anyio.to_thread.run_sync(token_store_of(request).list)
    return render(
        request,
        "tokens.html",
        {
            "title": "Agent tokens",
            "tokens": [
                {
                    "name": i.name,
                    "vaults": dict(i.vaults),
                    "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(i.created_at)),
                }
                for i in infos
            ],
            "vaults": [v.name for v in service.memory.list()],
            "rights": RIGHTS,
            "created": created,
            "error": error,
            "name": name,
        },
        status_code=status_code,
    )


@router.get("/tokens")
async def show_tokens(request: Request) -> Response:
    """Every agent token (name, vaults, date) and the form to make one."""
    return await tokens_page(request)


@router.post("/tokens")
async def add_token(request: Request) -> Response:
    form = await posted_form(request)
    name = field_text(form, "name").strip()
    grants = {
        key[len(RIGHT_FIELD) :]: value
        for key, value in form.items()
        if key.startswith(RIGHT_FIELD) and isinstance(value, str) and value
    }
    hub = service_of(request).memory
    try:
        info, token = await anyio.to_thread.run_sync(
            lambda: create_token(token_store_of(request), name, grants, known_vault=hub.known)
        )
    except QmdrError as exc:
        return await tokens_page(request, error=str(exc), name=name, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return await tokens_page(
        request,
        created={"name": info.name, "vaults": dict(info.vaults), "token": token},
        status_code=status.HTTP_201_CREATED,
    )


@router.post("/tokens/{name}/revoke")
async def revoke(name: str, request: Request) -> Response:
    await posted_form(request)
    try:
        await anyio.to_thread.run_sync(revoke_token, token_store_of(request), name)
    except QmdrError as exc:
        return redirect(request, TOKENS_PAGE, flash=("error", str(exc)))
    return redirect(request, TOKENS_PAGE, flash=("ok", f"Revoked the token {name}: it is refused from now on."))
