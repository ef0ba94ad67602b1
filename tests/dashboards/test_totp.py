"""TOTP (RFC 6238) and its secrets: the RFC's SHA-1 test vectors, the ±1 step window, the
derivation of a user's secret, the otpauth URI and the record of used time steps."""

from __future__ import annotations

import base64

import pytest

from dashboards import totp
from tests.conftest import SECRET

RFC_SECRET = b"12345678901234567890"  # the SHA-1 key of RFC 6238, appendix B


@pytest.mark.parametrize(
    ("now", "step", "code"),
    [
        (59, 0x1, "94287082"),
        (1111111109, 0x23523EC, "07081804"),
        (1111111111, 0x23523ED, "14050471"),
        (1234567890, 0x273EF07, "89005924"),
        (2000000000, 0x3F940AA, "69279037"),
        (20000000000, 0x27BC86AA, "65353130"),
    ],
)
def test_rfc_6238_sha1_vectors(now: int, step: int, code: str) -> None:
    assert totp.time_step(now) == step
    assert totp.generate(RFC_SECRET, now, digits=8) == code
    assert totp.generate(RFC_SECRET, now) == code[-6:]  # 6 digits: the same value mod 10^6
    assert totp.verify(RFC_SECRET, code, now, digits=8) == step
    assert totp.verify(RFC_SECRET, code[-6:], now) == step


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-31, False),
        (-30, True),
        (-1, True),
        (0, True),
        (29, True),
        (30, True),
        (59, True),
        (60, False),
    ],
)
def test_a_code_is_accepted_one_step_early_or_late(offset: int, accepted: bool) -> None:
    start = 1_750_000_020.0  # the start of a step
    code = totp.generate(RFC_SECRET, start)
    matched = totp.verify(RFC_SECRET, code, start + offset)  # the server's clock, off by offset
    assert matched == (totp.time_step(start) if accepted else None)


@pytest.mark.parametrize(
    "code",
    ["", "12345", "1234567", "abcdef", "12 34 5x", "١٢٣٤٥٦", "-12345", "123456\x00"],
)
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.verify(RFC_SECRET, code, 59) is None


def test_spaces_inside_a_code_are_ignored() -> None:
    code = totp.generate(RFC_SECRET, 59)
    assert totp.verify(RFC_SECRET, f" {code[:3]} {code[3:]} ", 59) == 1


def test_secret_depends_on_the_server_secret_the_email_and_the_nonce() -> None:
    server = SECRET.encode()
    nonce = totp.new_nonce()
    secret = totp.derive_secret(server, "ana@example.com", nonce)
    assert len(secret) == totp.SECRET_BYTES
    assert secret == totp.derive_secret(server, "ana@example.com", nonce)
    others = {
        totp.derive_secret(server, "bob@example.com", nonce),
        totp.derive_secret(server, "ana@example.com", totp.new_nonce()),
        totp.derive_secret(b"another server secret of enough length", "ana@example.com", nonce),
    }
    assert secret not in others and len(others) == 3
    assert totp.new_nonce() != nonce and len(nonce) == 32


def test_otpauth_uri_and_base32_secret() -> None:
    encoded = totp.encode_secret(RFC_SECRET)
    assert encoded == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert base64.b32decode(encoded) == RFC_SECRET
    assert totp.otpauth_uri("ana@example.com", RFC_SECRET) == (
        "otpauth://totp/Kalido%20Audience:ana@example.com"
        f"?secret={encoded}&issuer=Kalido%20Audience"
    )
    assert "a%2Bb@x.test" in totp.otpauth_uri("a+b@x.test", RFC_SECRET)
    assert "=" not in totp.encode_secret(b"\x01" * 21)  # no padding, whatever the length


def test_a_used_step_cannot_be_claimed_again() -> None:
    used = totp.UsedSteps()
    now = 1_750_000_000.0
    step = totp.time_step(now)
    assert used.claim("ana@example.com", step, now)
    assert not used.claim("ana@example.com", step, now)  # replay
    assert not used.claim("ana@example.com", step - 1, now)  # an older code after a newer one
    assert used.claim("bob@example.com", step, now)  # per user
    assert used.claim("ana@example.com", step + 1, now + 30)
