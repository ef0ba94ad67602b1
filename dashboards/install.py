"""What a site's Install page shows: the tags to paste, the reverse-proxy rules for a first-party
cookie, and whether the collector has stored the site's first consented pageview yet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from collector.settings import Settings
from collector.snippet import ADAPTERS
from collector.storage.sites import Site
from collector.storage.store import Store
from collector.web.http import request_facts
from dashboards.audit import query

PROXY_PREFIX = "/stats"
# What each consent manager must know of us (README, "The tracking snippet").
CONSENT_MANAGERS = {
    "tcf": ("any IAB TCF v2.2 consent manager", "purposes 1 and 8 (or 9) for the publisher"),
    "gcm": ("Google Consent Mode v2", "Consent Mode as usual (analytics_storage)"),
    "tarteaucitron": ("tarteaucitron.js", "the kalidoaudience service of the README"),
    "axeptio": ("Axeptio", "a vendor named kalido_audience"),
    "didomi": ("Didomi", "a custom vendor c:kalido-audience"),
    "cookiebot": ("Cookiebot", "the statistics category"),
    "onetrust": ("OneTrust", "the performance cookies group C0002"),
    "klaro": ("Klaro", "a service named kalido-audience"),
}
MANUAL_API = "call audience.consent(true) on consent, audience.consent(false) on refusal"
assert set(CONSENT_MANAGERS) == set(ADAPTERS), "every adapter is explained"


def collector_base(request: Request, settings: Settings) -> str:
    """Where browsers reach this collector: scheme and host as the trusted proxies tell them,
    and the path prefix the product is served under."""
    facts = request_facts(request.scope, settings.trusted_proxies)
    host = facts.headers.get("host", "localhost")
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{facts.scheme}://{host}{root}"


def _tag(src: str, site: Site, adapter: str | None) -> str:
    extra = "" if site.respect_gpc else ' data-gpc="ignore"'
    if adapter == "tcf" and site.count_outside_gdpr:
        extra += ' data-outside-gdpr="count"'
    return f'<script defer src="{src}" data-site="{site.domain}"{extra}></script>'


def guide(site: Site, base: str) -> dict[str, Any]:
    """The tags (served by the collector's host, or through the site's own proxy) and the
    proxy rules."""
    names = [None, *ADAPTERS]

    def files(prefix: str) -> list[dict[str, str]]:
        return [
            {
                "adapter": adapter or "manual",
                "consent_manager": (
                    CONSENT_MANAGERS[adapter][0] if adapter else "your own banner, through the API"
                ),
                "configure": (CONSENT_MANAGERS[adapter][1] if adapter else MANUAL_API),
                "tag": _tag(
                    f"{prefix}/js/audience{'.' + adapter if adapter else ''}.js", site, adapter
                ),
            }
            for adapter in names
        ]

    upstream = base.rstrip("/")
    return {
        "collector": base,
        "tags": files(upstream),
        "first_party_tags": files(PROXY_PREFIX),
        "proxy": {
            "prefix": f"{PROXY_PREFIX}/",
            "nginx": (
                f"location {PROXY_PREFIX}/ {{\n"
                f"    proxy_pass {upstream}/;\n"
                "    proxy_set_header X-Forwarded-For $remote_addr;\n"
                "    proxy_set_header X-Forwarded-Proto $scheme;\n"
                "    access_log off;  # the collector keeps no address; nor should the proxy\n"
                "}"
            ),
            "caddy": f"handle_path {PROXY_PREFIX}/* {{\n    reverse_proxy {upstream}\n}}",
        },
    }


REFUSALS = {
    "origin": "the page's origin is not among the site's allowed origins (Settings)",
    "consent": "no consent marker: the consent manager has not given consent, or the browser "
    "sends Global Privacy Control, or the tag is not the one of the site's consent manager",
    "rate_limit": "too many beacons from one address (AUDIENCE_RATE_LIMIT)",
    "bot": "the browser looks like a bot or a monitor (a headless or automated browser?)",
}


def refusals(found: dict[str, tuple[int, float]]) -> list[dict[str, Any]]:
    """Why beacons of a site were refused, most recent first, in words."""
    listed = [
        {
            "reason": reason,
            "count": count,
            "last_at": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "explanation": REFUSALS.get(reason, "the beacon was not valid"),
        }
        for reason, (count, at) in found.items()
    ]
    return sorted(listed, key=lambda item: str(item["last_at"]), reverse=True)


def status(store: Store, domain: str) -> dict[str, Any]:
    """Whether the site's first consented pageview was stored, when, and on which page."""
    [row] = store.read(query("first_pageview"), {"site": domain})
    count = int(row["pageviews"])
    if not count:
        return {"installed": False, "pageviews": 0, "first_at": None, "first_path": None}
    first: datetime = row["first_at"]
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return {
        "installed": True,
        "pageviews": count,
        "first_at": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "first_path": row["first_path"],
    }


def site_json(site: Site) -> dict[str, Any]:
    return {
        "domain": site.domain,
        "origins": list(site.origins),
        "timezone": site.timezone,
        "respect_gpc": site.respect_gpc,
        "count_outside_gdpr": site.count_outside_gdpr,
    }
