"""The visitor's privacy page (``GET /privacy``), which a site links from its own privacy policy.

It shows, in English or French, the visitor's identifier (to quote in a written request), their
newest events, what is measured, for how long and for whom, and buttons to export, erase and opt
out. It has no script: the buttons are links and forms to the privacy API, which answers a form
with a redirect back here (``?done=erased|optout``). Every URL is relative, so a collector served
under a path prefix of the site's reverse proxy works. A browser without a valid cookie gets a
page saying why no data is linked to it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import time
from dataclasses import dataclass
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from collector.privacy.api import PrivacyAPI, PrivacyError, off_loop
from collector.privacy.texts import LANGUAGES, TEXTS, choose_language
from collector.settings import COOKIE_LIFETIME_MONTHS
from collector.storage.errors import StoreError

PAGE_EVENTS = 500  # the newest, in the table; the export has them all
DONE = frozenset({"erased", "optout"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "vary": "Accept-Language, Cookie",
}
ERRORS = {429: "error_busy", 503: "error_store"}
STYLESHEET = (
    importlib.resources.files("collector.privacy").joinpath("static/privacy.css").read_bytes()
)
STYLESHEET_HEADERS = {
    "cache-control": "public, max-age=86400",
    "etag": f'"{hashlib.sha256(STYLESHEET).hexdigest()[:16]}"',
    "x-content-type-options": "nosniff",
}
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("collector.privacy", "templates"),
    autoescape=True,  # page paths and sites are the site's text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class PrivacyPage:
    api: PrivacyAPI
    contact: str | None = None  # AUDIENCE_PRIVACY_CONTACT: a mailto: or https: URI

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/privacy", self.page, methods=["GET"]),
            Route("/privacy.css", stylesheet, methods=["GET"]),
        ]

    async def page(self, request: Request) -> Response:
        lang = choose_language(
            request.query_params.get("lang"), request.headers.get("accept-language", "")
        )
        done = request.query_params.get("done")
        context = self._context(lang, done if done in DONE else None)
        status, headers = 200, {**PAGE_HEADERS, "content-language": lang}
        try:
            visitor, state = self.api.identified(request)
            rights = self.api.rights()
            held = await off_loop(rights.access, visitor, "self-service", PAGE_EVENTS)
        except PrivacyError as error:
            if error.status != 401:  # 401: no valid cookie, which the page explains
                status, context["error"] = error.status, ERRORS.get(error.status, "error_other")
                headers.update(error.headers)
        except StoreError:
            status, context["error"] = 503, ERRORS[503]
            headers["retry-after"] = "30"
        else:
            context |= _held(held, state.created, state.expires, TEXTS[lang])
        body = TEMPLATES.get_template("privacy.html").render(context)
        return HTMLResponse(body, status_code=status, headers=headers)

    def _context(self, lang: str, done: str | None) -> dict[str, Any]:
        text = TEXTS[lang]
        other = next(language for language in LANGUAGES if language != lang)
        return {
            "lang": lang,
            "text": text,
            "other_lang": other,
            "done": done,
            "error": None,
            "held": None,
            "events_months": months(text, self.api.retention_months),
            "cookie_months": months(text, COOKIE_LIFETIME_MONTHS),
            "contact": self.contact,
        }


async def stylesheet(request: Request) -> Response:
    if STYLESHEET_HEADERS["etag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=STYLESHEET_HEADERS)
    return Response(STYLESHEET, media_type="text/css; charset=utf-8", headers=STYLESHEET_HEADERS)


def _held(held: dict[str, Any], created: int, expires: int, text: dict[str, str]) -> dict[str, Any]:
    """What the page shows of an access answer: the newest events first, worded for people."""
    newest = list(reversed(held["events"]))
    total = held["events_total"]
    count = text["events_one" if total == 1 else "events_other"].format(count=total)
    return {
        "held": held,
        "rows": [event_row(event, text) for event in newest],
        "events_count": count,
        "cookie": {"created": _date_time(created), "expires": _date_time(expires)},
    }


def event_row(event: dict[str, Any], text: dict[str, str]) -> dict[str, str]:
    """One event as a row of the table: every cell a short text, blanks shown as a dash."""
    browser = " ".join(str(part) for part in (event["browser"], event["browser_version"]) if part)
    place = ", ".join(part for part in (event["city"], event["country"]) if part)
    return {
        "iso": event["ts"],
        "time": event["ts"].replace("T", " ").removesuffix("Z"),
        "site": event["site"] or "—",
        "path": event["path"] or "—",
        "type": text.get(f"type_{event['type']}", event["type"]),
        "city": place or "—",
        "operator": event["operator"] or "—",
        "browser": browser or "—",
        "device": text.get(f"device_{event['device']}", event["device"] or "—"),
        "engaged": duration(int(event["engaged_ms"] or 0)),
    }


def duration(milliseconds: int) -> str:
    """Engaged time as people read it, the same in both languages: 42 s, 3 min 5 s, —."""
    seconds = round(milliseconds / 1000)
    if seconds <= 0:
        return "—"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def months(text: dict[str, str], count: int) -> str:
    return text["months_one" if count == 1 else "months_other"].format(count=count)


def _date_time(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))
