"""What the administrative pages share: reading a form, answering HTML or its JSON twin."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from collector.web.http import root_path
from dashboards.account_rules import AccountError, end_of_day
from dashboards.auth import Principal
from dashboards.context import dashboards_of
from dashboards.security import wants_json

MAX_FIELD_BYTES = 4096


def json_wanted(request: Request) -> bool:
    return request.query_params.get("format") == "json" or wants_json(request)


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    status: int = 200,
    **context: Any,
) -> Response:
    templates = dashboards_of(request).templates
    return templates.TemplateResponse(
        request, template, {"principal": principal, **context}, status_code=status
    )


def data_page(
    request: Request,
    template: str,
    principal: Principal | None,
    data: dict[str, Any],
    *,
    error: str | None = None,
    created: bool = False,
    **context: Any,
) -> Response:
    """A page showing ``data``, or its JSON twin: 201 when it shows what was just created, 400
    with the error when a form was refused."""
    if json_wanted(request):
        if error:
            return JSONResponse({"error": error}, 400)
        return JSONResponse(data, 201 if created else 200)
    status = 400 if error else 200
    return page(request, template, principal, status, data=data, error=error, **context)


def under_root(request: Request, path: str) -> str:
    """``path`` of the product (``/account``) as the browser reaches it, under the root path."""
    return f"{root_path(request.scope)}{path}"


def redirect(request: Request, path: str) -> RedirectResponse:
    """A 303 to ``path`` of the product, under the root path."""
    return RedirectResponse(under_root(request, path), status_code=303)


def refused(
    request: Request, message: str, template: str, principal: Principal | None, **context: Any
) -> Response:
    """A form sent back with what is wrong (400), or the JSON error."""
    if json_wanted(request):
        return JSONResponse({"error": message}, 400)
    return page(request, template, principal, status=400, error=message, **context)


async def form_fields(request: Request, max_fields: int = 40) -> dict[str, str]:
    """The text fields of a form; a repeated name (checkboxes) joins its values by new lines."""
    async with request.form(
        max_files=0, max_fields=max_fields, max_part_size=MAX_FIELD_BYTES
    ) as data:
        fields: dict[str, str] = {}
        for name, value in data.multi_items():
            if isinstance(value, str):
                fields[name] = f"{fields[name]}\n{value}" if name in fields else value
        return fields


def last_moment(value: str) -> datetime | None:
    """The end (UTC) of the day a form gives as YYYY-MM-DD, or None for an empty field: when a
    key or a shared link stops working."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise AccountError(f"not a date (YYYY-MM-DD): {value!r}") from None
    return end_of_day(day)


def listed(fields: dict[str, str], name: str) -> list[str]:
    """The values of a repeated field (checkboxes) or of a field holding one per line."""
    return [value.strip() for value in fields.get(name, "").splitlines() if value.strip()]
