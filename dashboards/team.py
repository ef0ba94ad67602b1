"""The team: members, invitations, API keys and second factors, changed by the dashboards and the
CLI through one implementation, each change audited (``dashboards.audit``).

The actor is the signed-in account, ``cli:<user>`` for a shell, or the invitee accepting an
invitation. The audit names accounts, roles, sites and keys' ids and names; never a password, a
key, a link's secret, a code, nor anything of a visitor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from collector.settings import Settings
from dashboards import mail
from dashboards.account_rules import AccountError, User, normalize_email
from dashboards.accounts import Accounts
from dashboards.api_keys import ApiKey
from dashboards.audit import AuditLog
from dashboards.invitations import Invitation, Invitations

log = logging.getLogger("audience.dashboards")


def access_words(role: str, sites: Iterable[str] | None) -> str:
    return f"{role} of " + ("every site" if sites is None else ", ".join(sorted(sites)))


@dataclass(frozen=True)
class Invited:
    invitation: Invitation
    link: str  # shown once to the admin; never stored
    mailed: bool
    mail_problem: str | None = None


class Team:
    def __init__(self, accounts: Accounts, settings: Settings) -> None:
        self.accounts = accounts
        self.settings = settings
        self.audit = AuditLog(accounts.store)
        self.invitations = Invitations(accounts.store, accounts.user_now, lambda: accounts.clock())

    # Members

    def add_user(
        self, actor: str, email: str, password: str, role: str, sites: Iterable[str] = ()
    ) -> bool:
        created = self.accounts.add_user(email, password, role, sites)
        user = self.accounts.user_now(normalize_email(email))
        assert user is not None
        action = "user.add" if created else "user.replace"
        self.audit.record(actor, action, user.email, access_words(user.role, user.sites))
        return created

    def set_access(self, actor: str, email: str, role: str, sites: Iterable[str]) -> User:
        if normalize_email(email) == actor and role != "admin":
            raise AccountError("an admin cannot take their own admin role away")
        user = self.accounts.set_access(email, role, sites)
        self.audit.record(actor, "user.access", user.email, access_words(user.role, user.sites))
        return user

    def remove(self, actor: str, email: str) -> None:
        email = normalize_email(email)
        if email == actor:
            raise AccountError("an admin cannot remove their own account here")
        self.accounts.remove_user(email)
        self.audit.record(actor, "user.remove", email, "sessions ended, keys revoked")

    # Invitations

    def invite(
        self, actor: str, email: str, role: str, sites: Iterable[str], base_url: str
    ) -> Invited:
        """A new invitation, mailed when SMTP is configured; its link is shown either way."""
        invitation, token = self.invitations.create(email, role, sites, actor)
        link = f"{base_url.rstrip('/')}/invite/{token}"
        self.audit.record(
            actor, "invitation.create", invitation.email,
            f"{access_words(invitation.role, invitation.sites)}; id {invitation.id}",
        )  # fmt: skip
        if not mail.configured(self.settings):
            return Invited(invitation, link, mailed=False)
        text = (
            f"{actor} invites you to Kalido Audience as "
            f"{access_words(invitation.role, invitation.sites)}.\n\n"
            f"Choose your password here (the link works once, until "
            f"{invitation.expires:%Y-%m-%d %H:%M} UTC):\n{link}\n"
        )
        subject = "Your Kalido Audience invitation"
        message = mail.message(self.settings, invitation.email, subject, text)
        try:
            mail.send(self.settings, message)
        except mail.MailError as error:
            log.warning("invitation %s not mailed: %s", invitation.id, error)
            return Invited(invitation, link, mailed=False, mail_problem=str(error))
        return Invited(invitation, link, mailed=True)

    def revoke_invitation(self, actor: str, invitation_id: str) -> Invitation:
        invitation = self.invitations.revoke(invitation_id)
        self.audit.record(actor, "invitation.revoke", invitation.email, f"id {invitation.id}")
        return invitation

    def accept(self, token: str, password: str) -> User:
        """Spend the invitation and create its account with ``password``."""

        def create(invitation: Invitation) -> None:
            self.accounts.add_user(
                invitation.email, password, invitation.role, invitation.sites or ()
            )

        invitation = self.invitations.accept(token, create)
        user = self.accounts.user_now(invitation.email)
        assert user is not None
        self.audit.record(
            user.email, "invitation.accept", user.email,
            f"{access_words(user.role, user.sites)}; invited by {invitation.invited_by}",
        )  # fmt: skip
        return user

    # API keys

    def create_key(
        self,
        actor: str,
        email: str,
        name: str = "",
        sites: Iterable[str] = (),
        expires: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        record, key = self.accounts.keys.create(email, name, sites, expires)
        scope = ", ".join(sorted(record.sites)) or "every site of its user"
        ends = f"; expires {record.expires:%Y-%m-%d %H:%M} UTC" if record.expires else ""
        self.audit.record(
            actor, "key.create", record.email, f"key {record.id} {record.name!r}: {scope}{ends}"
        )
        return record, key

    def revoke_key(self, actor: str, key_id: str, owner: str | None = None) -> ApiKey:
        """Revoke a key; with ``owner``, only one of that user's keys."""
        found = [k for k in self.accounts.keys.all() if k.id == key_id.strip().lower()]
        if not found or (owner is not None and found[0].email != owner):
            raise AccountError(f"no such key: {key_id}")
        record = self.accounts.keys.revoke(key_id)
        self.audit.record(actor, "key.revoke", record.email, f"key {record.id} {record.name!r}")
        return record

    # Second factor and password

    def confirm_totp(self, actor: str, nonce: str, code: str) -> list[str] | None:
        codes = self.accounts.confirm_totp(actor, nonce, code)
        if codes is not None:
            self.audit.record(actor, "totp.enable", actor, "recovery codes renewed")
        return codes

    def enable_totp(self, actor: str, email: str) -> bytes:
        secret = self.accounts.enable_totp(email)
        self.audit.record(actor, "totp.enable", normalize_email(email))
        return secret

    def disable_totp(self, actor: str, email: str) -> bool:
        removed = self.accounts.disable_totp(email)
        if removed:
            self.audit.record(actor, "totp.disable", normalize_email(email))
        return removed

    def change_password(self, actor: str, current: str, new: str) -> None:
        self.accounts.change_password(actor, current, new)
        self.audit.record(actor, "password.change", actor, "sessions ended")
