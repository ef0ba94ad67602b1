"""Recovery codes of a second factor: ten single-use codes, shown once, stored as keyed hashes.

A code stands in for a one-time password when the authenticator is lost. Each has 80 random bits
(16 base32 characters, shown in groups of four), so a keyed SHA-256 is enough to store it: the
store alone cannot tell a code, and no code can be guessed within the sign-in throttle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from collector.storage.store import Store
from dashboards.account_rules import query

COUNT = 10
CODE_BYTES = 10  # 80 bits: 16 base32 characters


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


class RecoveryCodes:
    def __init__(self, store: Store, server_secret: bytes) -> None:
        self.store = store
        self._key = hashlib.blake2b(server_secret, person=b"audience-recover").digest()

    def _digest(self, email: str, code: str) -> str:
        message = f"{email}:{_normalized(code)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def replace(self, email: str) -> list[str]:
        """A new set of codes for ``email`` (the previous ones stop working), shown once."""
        self.discard(email)
        codes = []
        for _ in range(COUNT):
            raw = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
            codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
        self._save(email, [self._digest(email, code) for code in codes], deleted=False)
        return codes

    def discard(self, email: str) -> None:
        """Every code of ``email`` stops working (the second factor was removed or re-enrolled)."""
        self._save(email, self._digests(email), deleted=True)

    def remaining(self, email: str) -> int:
        return len(self._digests(email))

    def use(self, email: str, code: str) -> bool:
        """True, once, for a code of ``email`` that was not used yet."""
        if not 16 <= len(_normalized(code)) <= 32:
            return False
        digest = self._digest(email, code)
        found = any(hmac.compare_digest(digest, known) for known in self._digests(email))
        if found:
            self._save(email, [digest], deleted=True)
        return found

    def _digests(self, email: str) -> list[str]:
        rows = self.store.read(query("recovery_codes"), {"email": email})
        return [str(row["digest"]) for row in rows]

    def _save(self, email: str, digests: list[str], *, deleted: bool) -> None:
        if digests:
            parameters = {
                "email": email,
                "digests": digests,
                "updated_ms": int(time.time() * 1000),
                "deleted": int(deleted),
            }
            self.store.execute(query("save_recovery_codes"), parameters)
