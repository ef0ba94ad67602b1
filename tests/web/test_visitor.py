"""The visitor state: calendar arithmetic, visits, expiry, signing and the stored hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import warnings
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from collector.settings import COOKIE_LIFETIME_MONTHS, VISIT_TIMEOUT_SECONDS
from collector.web.visitor import (
    MAX_STATE_LENGTH,
    SECONDS_PER_DAY,
    StateSigner,
    VisitorState,
    add_months,
    advance,
    new_visitor,
)

SECRET = b"test-secret-key-that-is-long-enough-0123456789"
MINUTE, HOUR = 60, 3600


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


START = ts(2024, 3, 10, 14, 30)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        pytest.param(ts(2024, 5, 15), 1, ts(2024, 6, 15), id="plain"),
        pytest.param(ts(2024, 5, 15), 0, ts(2024, 5, 15), id="zero"),
        pytest.param(ts(2024, 1, 31), 1, ts(2024, 2, 29), id="clamp-to-leap-february"),
        pytest.param(ts(2023, 1, 31), 1, ts(2023, 2, 28), id="clamp-to-february"),
        pytest.param(ts(2024, 3, 31), 1, ts(2024, 4, 30), id="clamp-to-30-day-month"),
        pytest.param(ts(2024, 2, 29), 12, ts(2025, 2, 28), id="leap-day-next-year"),
        pytest.param(ts(2024, 2, 29), 48, ts(2028, 2, 29), id="leap-day-next-leap-year"),
        pytest.param(ts(2023, 12, 31), 2, ts(2024, 2, 29), id="rollover-into-leap-february"),
        pytest.param(ts(2024, 12, 15), 1, ts(2025, 1, 15), id="year-rollover"),
        pytest.param(ts(2024, 11, 30), 13, ts(2025, 12, 30), id="thirteen-months"),
        pytest.param(ts(2024, 3, 31), 13, ts(2025, 4, 30), id="thirteen-months-clamped"),
        pytest.param(ts(2023, 1, 31), 13, ts(2024, 2, 29), id="thirteen-months-to-leap-day"),
        pytest.param(ts(2024, 12, 1), 25, ts(2027, 1, 1), id="two-year-rollover"),
        pytest.param(ts(2024, 3, 31), -1, ts(2024, 2, 29), id="backwards-clamped"),
        pytest.param(ts(2024, 1, 15), -1, ts(2023, 12, 15), id="backwards-year-rollover"),
        pytest.param(
            ts(2024, 1, 31, 23, 59, 59), 1, ts(2024, 2, 29, 23, 59, 59), id="keeps-time-of-day"
        ),
    ],
)
def test_add_months(start: int, months: int, expected: int) -> None:
    assert add_months(start, months) == expected


def test_new_visitor() -> None:
    state = new_visitor(START)
    assert len(state.visitor_id) == 16
    assert state.created == state.visit_start == state.last_seen == START
    assert state.visit_number == 1
    assert state.previous_visit_start == 0
    assert state.days_since_last_visit == 0
    assert state.expires == add_months(START, COOKIE_LIFETIME_MONTHS) == ts(2025, 4, 10, 14, 30)
    assert new_visitor(START).visitor_id != state.visitor_id


def test_advance_without_state_is_a_new_visitor() -> None:
    state = advance(None, START)
    assert state.created == START
    assert state.visit_number == 1


@pytest.mark.parametrize("gap", [0, 1, 10 * MINUTE, VISIT_TIMEOUT_SECONDS])
def test_same_visit_within_the_timeout(gap: int) -> None:
    first = new_visitor(START)
    later = advance(first, START + gap)
    assert later.visitor_id == first.visitor_id
    assert later.visit_start == START
    assert later.last_seen == START + gap
    assert later.visit_number == 1
    assert later.previous_visit_start == 0


def test_activity_keeps_the_visit_alive_past_the_timeout() -> None:
    state = new_visitor(START)
    for step in range(1, 7):  # an event every 20 minutes for two hours
        state = advance(state, START + step * 20 * MINUTE)
    assert state.visit_number == 1
    assert state.visit_start == START
    assert state.last_seen == START + 2 * HOUR


def test_late_event_does_not_move_last_seen_back() -> None:
    state = advance(new_visitor(START), START + 20 * MINUTE)
    late = advance(state, START + 5 * MINUTE)
    assert late.last_seen == START + 20 * MINUTE
    assert late.visit_number == 1


def test_new_visit_after_the_timeout() -> None:
    first = advance(new_visitor(START), START + 10 * MINUTE)
    now = first.last_seen + VISIT_TIMEOUT_SECONDS + 1
    second = advance(first, now)
    assert second.visitor_id == first.visitor_id
    assert second.created == START
    assert second.visit_number == 2
    assert second.visit_start == second.last_seen == now
    assert second.previous_visit_start == START
    third = advance(second, now + HOUR)
    assert third.visit_number == 3
    assert third.previous_visit_start == now


@pytest.mark.parametrize(
    ("gap", "days"),
    [
        pytest.param(HOUR, 0, id="one-hour"),
        pytest.param(SECONDS_PER_DAY - 1, 0, id="just-under-a-day"),
        pytest.param(SECONDS_PER_DAY, 1, id="one-day"),
        pytest.param(2 * SECONDS_PER_DAY + 23 * HOUR, 2, id="two-days-23-hours"),
        pytest.param(30 * SECONDS_PER_DAY + 1, 30, id="thirty-days"),
    ],
)
def test_days_since_last_visit_counts_whole_days(gap: int, days: int) -> None:
    first = new_visitor(START)
    second = advance(first, START + gap)
    assert second.visit_number == 2
    assert second.days_since_last_visit == days


def test_days_since_last_visit_from_the_previous_visit_start() -> None:
    # The previous visit started at START and lasted 10 hours; the next starts 1.5 days after
    # START: the count runs from the previous visit's start.
    state = new_visitor(START)
    for step in range(1, 21):
        state = advance(state, START + step * 30 * MINUTE)
    assert state.visit_number == 1
    assert state.days_since_last_visit == 0
    again = advance(state, START + SECONDS_PER_DAY + 12 * HOUR)
    assert again.visit_number == 2
    assert again.days_since_last_visit == 1


def test_expired_state_starts_a_new_visitor() -> None:
    old = new_visitor(START)
    just_before = advance(old, old.expires - 1)
    assert just_before.visitor_id == old.visitor_id
    assert just_before.visit_number == 2
    renewed = advance(old, old.expires)
    assert renewed.visitor_id != old.visitor_id
    assert renewed.created == old.expires
    assert renewed.visit_number == 1
    assert renewed.previous_visit_start == 0
    assert renewed.days_since_last_visit == 0


def test_expiry_never_moves_however_often_the_visitor_returns() -> None:
    state = new_visitor(START)
    expires = state.expires
    now = START
    visits = 1
    while True:
        now += 3 * SECONDS_PER_DAY + 7 * HOUR  # a visit every few days...
        if now >= expires:
            break
        for minutes in (0, 5, 25):  # ... of a few events each
            state = advance(state, now + minutes * MINUTE)
        visits += 1
        assert state.expires == expires
        assert state.created == START
        assert state.visit_number == visits
    assert visits > 100
    after = advance(state, now)
    assert after.visitor_id != state.visitor_id
    assert after.expires == add_months(now, COOKIE_LIFETIME_MONTHS)


def test_sign_and_verify_round_trip() -> None:
    signer = StateSigner(SECRET)
    state = advance(advance(new_visitor(START), START + 10), START + 2 * SECONDS_PER_DAY)
    token = signer.sign(state)
    assert len(token) <= MAX_STATE_LENGTH
    assert token.isascii()
    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert signer.verify(token) == state
    assert StateSigner(SECRET).verify(token) == state  # same secret, another process


def tampered_tokens(token: str) -> list[str]:
    def flip(position: int) -> str:
        replacement = "A" if token[position] != "A" else "B"
        return token[:position] + replacement + token[position + 1 :]

    return [flip(0), flip(10), flip(len(token) // 2), flip(len(token) - 20), flip(len(token) - 1)]


def test_tampered_token_is_refused() -> None:
    signer = StateSigner(SECRET)
    token = signer.sign(new_visitor(START))
    for changed in tampered_tokens(token):
        assert changed != token
        assert signer.verify(changed) is None, changed


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda t: t[:-1], id="last-char"),
        pytest.param(lambda t: t[:-4], id="last-four-chars"),
        pytest.param(lambda t: t[1:], id="first-char"),
        pytest.param(lambda t: t[: len(t) // 2], id="half"),
        pytest.param(lambda t: t + "A", id="one-more-char"),
        pytest.param(lambda t: t + "AAAA", id="four-more-chars"),
        pytest.param(lambda t: t + t, id="doubled"),
    ],
)
def test_token_of_the_wrong_length_is_refused(cut: Callable[[str], str]) -> None:
    signer = StateSigner(SECRET)
    token = signer.sign(new_visitor(START))
    assert len(cut(token)) != len(token)
    assert signer.verify(cut(token)) is None


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("garbage", id="word"),
        pytest.param("not a token!", id="punctuation"),
        pytest.param("====", id="padding-only"),
        pytest.param("@" * 92, id="non-alphabet"),
        pytest.param("é" * 40, id="non-ascii"),
        pytest.param("A" * 92, id="right-length-zeros"),
        pytest.param("A" * (MAX_STATE_LENGTH + 1), id="too-long"),
        pytest.param("A" * 10_000, id="much-too-long"),
    ],
)
def test_garbage_token_is_refused(token: str | None) -> None:
    assert StateSigner(SECRET).verify(token) is None


def test_token_too_long_is_refused_even_with_a_valid_prefix() -> None:
    signer = StateSigner(SECRET)
    token = signer.sign(new_visitor(START))
    padded = token + "=" * (MAX_STATE_LENGTH + 1 - len(token))
    assert len(padded) > MAX_STATE_LENGTH
    assert signer.verify(padded) is None


def test_token_from_another_secret_is_refused() -> None:
    state = new_visitor(START)
    other = StateSigner(b"another-secret-key-that-is-also-long-enough!!")
    token = other.sign(state)
    assert other.verify(token) == state
    assert StateSigner(SECRET).verify(token) is None


def test_signed_state_with_visit_number_zero_is_refused() -> None:
    signer = StateSigner(SECRET)
    broken = new_visitor(START)._replace(visit_number=0)
    assert signer.verify(signer.sign(broken)) is None


def test_visitor_hash_is_stable_across_visits_and_differs_between_visitors() -> None:
    signer = StateSigner(SECRET)
    first_visit = new_visitor(START)
    same_visit = advance(first_visit, START + 10 * MINUTE)
    second_visit = advance(same_visit, START + 5 * SECONDS_PER_DAY)
    assert second_visit.visit_number == 2
    hashes = {signer.visitor_hash(s) for s in (first_visit, same_visit, second_visit)}
    assert len(hashes) == 1
    assert signer.visitor_hash(new_visitor(START)) not in hashes
    # after a round trip through the token, and in another process with the same secret
    restored = StateSigner(SECRET).verify(signer.sign(second_visit))
    assert restored is not None
    assert StateSigner(SECRET).visitor_hash(restored) in hashes


def test_visit_hash_is_stable_within_a_visit_and_differs_between_visits() -> None:
    signer = StateSigner(SECRET)
    first_visit = new_visitor(START)
    same_visit = advance(first_visit, START + 10 * MINUTE)
    second_visit = advance(same_visit, START + HOUR)
    assert signer.visit_hash(first_visit) == signer.visit_hash(same_visit)
    assert signer.visit_hash(second_visit) != signer.visit_hash(first_visit)
    assert signer.visit_hash(first_visit) != signer.visitor_hash(first_visit)
    other_visitor = first_visit._replace(visitor_id=new_visitor(START).visitor_id)
    assert signer.visit_hash(other_visitor) != signer.visit_hash(first_visit)


def test_hashes_depend_on_the_secret() -> None:
    state = new_visitor(START)
    one, two = StateSigner(SECRET), StateSigner(SECRET + b"!")
    assert one.visitor_hash(state) != two.visitor_hash(state)
    assert one.visit_hash(state) != two.visit_hash(state)
    assert 0 <= one.visitor_hash(state) < 2**64
    assert 0 <= one.visit_hash(state) < 2**64


def test_state_is_immutable() -> None:
    state: VisitorState = new_visitor(START)
    with pytest.raises(AttributeError):
        state.visit_number = 5  # type: ignore[misc]


def test_tabs_restored_after_the_timeout_share_one_visit() -> None:
    """Each restored tab starts "a new visit" from the same expired state, seconds apart and in
    any order: they land in one visit, with one visit number, which the next one follows."""
    signer = StateSigner(SECRET)
    expired = advance(new_visitor(START), START + 10 * MINUTE)
    back = START + 10 * MINUTE + VISIT_TIMEOUT_SECONDS + 40 * MINUTE
    tabs = [advance(expired, back + delay) for delay in (3, 0, 1)]
    assert {signer.visit_hash(tab) for tab in tabs} == {signer.visit_hash(tabs[1])}
    assert {tab.visit_number for tab in tabs} == {2}
    assert signer.visit_hash(tabs[0]) != signer.visit_hash(expired)
    # the same visit continued from any tab's state
    assert {signer.visit_hash(advance(tab, back + 10 * MINUTE)) for tab in tabs} == {
        signer.visit_hash(tabs[0])
    }
    later = advance(tabs[0], back + 3 * HOUR)
    assert later.visit_number == 3 and signer.visit_hash(later) != signer.visit_hash(tabs[0])


def test_state_survives_signing() -> None:
    signer = StateSigner(b"k" * 32)
    state = advance(advance(new_visitor(START), START + 5), START + 2 * HOUR)
    assert signer.verify(signer.sign(state)) == state


def test_a_version_2_state_is_still_read() -> None:
    """Cookies signed before the visit steps went (version 2, with three counters more) keep
    their visitor, visit and expiry."""
    key = hashlib.blake2b(SECRET, person=b"audience-sign").digest()
    state = advance(new_visitor(START), START + 5)
    payload = struct.pack(">B16sQQQIQHHQ", 2, *state, 4, 2, 12345)
    token = base64.urlsafe_b64encode(payload + hmac.digest(key, payload, "sha256")[:16])
    assert StateSigner(SECRET).verify(token.rstrip(b"=").decode()) == state
    forged = payload[:-1] + b"\x00"
    token = base64.urlsafe_b64encode(forged + hmac.digest(key, payload, "sha256")[:16])
    assert StateSigner(SECRET).verify(token.rstrip(b"=").decode()) is None


def test_a_forked_child_never_reuses_the_parents_visitor_ids() -> None:
    new_visitor(START)  # the parent has a pool of random bytes in hand
    reader, writer = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(writer, new_visitor(START).visitor_id)
        os._exit(0)
    os.waitpid(child, 0)
    from_child = os.read(reader, 16)
    os.close(reader)
    os.close(writer)
    assert from_child != new_visitor(START).visitor_id
