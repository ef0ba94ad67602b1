"""Invitations to the team: a copyable link that makes one account, once, within 48 hours.

The link carries a random secret (256 bits); the store keeps only its SHA-256, with the e-mail,
role and sites the inviting admin chose. Opening the link shows whom it is for; setting a password
there creates the account and spends the invitation. A spent, revoked or expired invitation is
refused with the same answer as an unknown one. The public id of an invitation (for the admin's
list and for revoking) is the beginning of the digest, which says nothing of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.storage.store import Store
from dashboards.account_rules import AccountError, User, check_access, normalize_email, query

LIFETIME = timedelta(hours=48)
TOKEN_BYTES = 32
ID_LENGTH = 12
INVALID = "this invitation is not valid: it was used, revoked, or it expired"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class Invitation:
    digest: str = field(repr=False)
    email: str
    role: str
    sites: frozenset[str] | None
    invited_by: str
    created: datetime
    expires: datetime

    @property
    def id(self) -> str:
        return self.digest[:ID_LENGTH]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "sites": None if self.sites is None else sorted(self.sites),
            "invited_by": self.invited_by,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires": self.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(f"invitation:{token}".encode()).hexdigest()


class Invitations:
    """Invitations in the store. Every method blocks: call it off the event loop."""

    def __init__(
        self,
        store: Store,
        load_user: Callable[[str], User | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.load_user = load_user
        self.clock = clock
        self._accepting = threading.Lock()

    def create(
        self, email: str, role: str, sites: Iterable[str], invited_by: str
    ) -> tuple[Invitation, str]:
        """A new invitation: (its record, the secret of its link, shown once)."""
        email = normalize_email(email)
        checked_role, checked_sites = check_access(role, sites)
        if self.load_user(email) is not None:
            raise AccountError(f"{email} is a member already")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = datetime.fromtimestamp(int(self.clock()), UTC)
        invitation = Invitation(
            token_digest(token), email, checked_role, checked_sites, invited_by, now,
            now + LIFETIME,
        )  # fmt: skip
        self._save(invitation)
        return invitation, token

    def pending(self) -> list[Invitation]:
        """The invitations neither used nor revoked nor expired, newest first."""
        now = self.clock()
        found = [_invitation(row) for row in self.store.read(query("invitations"))]
        return [i for i in found if i.expires.timestamp() > now]

    def revoke(self, invitation_id: str) -> Invitation:
        for invitation in self.pending():
            if hmac.compare_digest(invitation.id, invitation_id.strip().lower()):
                self._save(invitation, deleted=True)
                return invitation
        raise AccountError(f"no such pending invitation: {invitation_id}")

    def find(self, token: str) -> Invitation:
        """The pending invitation of a link's secret; AccountError(INVALID) otherwise."""
        if not _TOKEN.fullmatch(token):
            raise AccountError(INVALID)
        rows = self.store.read(query("invitation"), {"digest": token_digest(token)})
        if not rows:
            raise AccountError(INVALID)
        invitation = _invitation(rows[0])
        if invitation.expires.timestamp() <= self.clock():
            raise AccountError(INVALID)
        return invitation

    def accept(self, token: str, create: Callable[[Invitation], None]) -> Invitation:
        """Spend the invitation, then ``create`` its account. In one process, two acceptances of
        one link cannot both pass; the account's own check (a member already) covers the rest."""
        with self._accepting:
            invitation = self.find(token)
            if self.load_user(invitation.email) is not None:
                self._save(invitation, deleted=True)
                raise AccountError(INVALID)
            create(invitation)
            self._save(invitation, deleted=True)
        return invitation

    def _save(self, invitation: Invitation, *, deleted: bool = False) -> None:
        parameters = {
            "digest": invitation.digest,
            "email": invitation.email,
            "role": invitation.role,
            "sites": sorted(invitation.sites or ()),
            "invited_by": invitation.invited_by,
            "created_ms": int(invitation.created.timestamp() * 1000),
            "expires_ms": int(invitation.expires.timestamp() * 1000),
            "updated_ms": max(int(time.time() * 1000), int(self.clock() * 1000)),
            "deleted": int(deleted),
        }
        self.store.execute(query("save_invitation"), parameters)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _invitation(row: dict[str, Any]) -> Invitation:
    role = str(row["role"])
    return Invitation(
        row["digest"],
        row["email"],
        role,
        None if role == "admin" else frozenset(row["sites"]),
        row["invited_by"],
        _utc(row["created_at"]),
        _utc(row["expires_at"]),
    )
