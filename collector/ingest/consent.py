"""Is the beacon consented? Pure: the beacon's consent marker, the site's rules, the GPC signal."""

from __future__ import annotations

from collector.ingest.beacon import Beacon
from collector.storage.sites import Site

OUTSIDE_GDPR = "tcf:outside-gdpr"  # the TCF CMP says the GDPR does not apply to this visitor


def refusal(beacon: Beacon, site: Site, global_privacy_control: bool) -> str | None:
    """Why the beacon may not be stored, or None when it may: the reason is the 403 message."""
    if beacon.consent is None:
        return "no consent: the beacon carries no consent marker"
    if beacon.consent == OUTSIDE_GDPR and not site.count_outside_gdpr:
        return (
            "no consent: the consent manager says the GDPR does not apply, and this site counts"
            " only consented visits (register it with --count-outside-gdpr to count them)"
        )
    if global_privacy_control and site.respect_gpc:
        return "no consent: the browser sends Global Privacy Control"
    return None
