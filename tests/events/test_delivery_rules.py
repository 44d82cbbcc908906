"""The rules of delivery as pure functions: backoff, what an answer means, signatures,
per-consult order, webhook configuration, report periods and percentiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.events.event_delivery import (
    AttemptResult,
    QueuedDelivery,
    RetryPolicy,
    Verdict,
    backoff_delay,
    classify_status,
    is_overdue,
    next_delay,
    parse_retry_after,
    waiting_behind,
)
from server.events.webhooks import (
    OutboundEvent,
    event_body,
    signature,
    signed_headers,
    verify_signature,
)
from server.kernel.config import load_settings, parse_webhooks
from server.kernel.errors import MalformedRequest
from server.records.quality_report import parse_period, percentile

POLICY = RetryPolicy(base_seconds=1, cap_seconds=600)


def test_backoff_doubles_from_one_second_and_stops_at_ten_minutes():
    upper = [backoff_delay(n, POLICY, jitter=0.999999) for n in range(1, 14)]
    assert [round(u) for u in upper[:5]] == [1, 2, 4, 8, 16]
    assert all(round(u) == 600 for u in upper[10:])  # 2**10 s > 600 s: capped from the 11th
    assert backoff_delay(10_000, POLICY, 0.5) <= 600  # no overflow after weeks of failures


def test_jitter_keeps_each_delay_in_the_upper_half_of_its_step():
    for failures in (1, 4, 30):
        step = min(600, 2 ** (failures - 1))
        low, high = backoff_delay(failures, POLICY, 0.0), backoff_delay(failures, POLICY, 1.0)
        assert (low, high) == (step / 2, step)


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.ACKNOWLEDGED), (202, Verdict.ACKNOWLEDGED), (204, Verdict.ACKNOWLEDGED),
    (500, Verdict.RETRY), (502, Verdict.RETRY), (503, Verdict.RETRY), (408, Verdict.RETRY),
    (429, Verdict.RETRY), (400, Verdict.RETRY_AT_CAP), (401, Verdict.RETRY_AT_CAP),
    (404, Verdict.RETRY_AT_CAP), (410, Verdict.RETRY_AT_CAP), (301, Verdict.RETRY_AT_CAP),
])
def test_what_an_http_answer_means(status, verdict):
    assert classify_status(status).verdict is verdict


def test_a_misconfigured_receiver_is_retried_at_the_cap_from_the_first_failure():
    refused = classify_status(404)
    assert 300 <= next_delay(refused, 1, POLICY, 0.0) <= 600
    assert next_delay(classify_status(503), 1, POLICY, 0.0) == 0.5


def test_retry_after_is_honoured_but_never_beyond_the_cap():
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Fri, 20 Nov 2026 02:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None
    # A receiver's odd header is ignored, never an error in the dispatcher.
    assert parse_retry_after("²", now) is None
    assert parse_retry_after("٣٠", now) is None
    busy = AttemptResult(Verdict.RETRY, 429, "HTTP 429", retry_after=120)
    assert next_delay(busy, 1, POLICY, 0.0) == 120
    assert next_delay(AttemptResult(Verdict.RETRY, 429, retry_after=10**6), 1, POLICY, 0) == 600


def test_an_event_is_overdue_after_the_threshold_counting_from_the_older_timestamp():
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    hours = timedelta(hours=4)
    assert not is_overdue(now - timedelta(hours=3), now, now, hours)
    assert is_overdue(now - timedelta(hours=5), now, now, hours)
    assert is_overdue(now, now - timedelta(hours=5), now, hours)


EVENT = OutboundEvent("e" * 32, "referral.created", "c-1",
                      datetime(2026, 11, 20, 2, 0, tzinfo=UTC), {"reference_number": "ZZ1"})


def test_a_signed_body_verifies_and_any_change_does_not():
    body = event_body(EVENT)
    headers = signed_headers("s" * 20, EVENT, body, timestamp=1_800_000_000, attempt=1)
    sig, ts = headers["X-Shouzhen-Signature"], headers["X-Shouzhen-Timestamp"]
    assert sig.startswith("v1=") and len(sig) == 3 + 64
    assert verify_signature("s" * 20, ts, body, sig, now=1_800_000_010)
    assert not verify_signature("t" * 20, ts, body, sig, now=1_800_000_010)  # other secret
    assert not verify_signature("s" * 20, ts, body.replace(b"ZZ1", b"ZZ2"), sig,
                                now=1_800_000_010)
    assert not verify_signature("s" * 20, "1800000001", body, sig, now=1_800_000_010)
    assert not verify_signature("s" * 20, ts, body, None, now=1_800_000_010)
    assert not verify_signature("s" * 20, "not-a-number", body, sig, now=1_800_000_010)


def test_an_old_or_far_future_timestamp_is_refused_as_a_replay():
    body = event_body(EVENT)
    sig = signature("s" * 20, 1_800_000_000, body)
    assert verify_signature("s" * 20, 1_800_000_000, body, sig, now=1_800_000_300)
    assert not verify_signature("s" * 20, 1_800_000_000, body, sig, now=1_800_000_301)
    assert not verify_signature("s" * 20, 1_800_000_000, body, sig, now=1_799_999_699)


def test_a_header_with_several_signatures_verifies_if_one_matches():
    body = event_body(EVENT)
    good = signature("new-secret-0123456789", 1_800_000_000, body)
    header = f"{signature('old-secret-0123456789', 1_800_000_000, body)}, {good}"
    assert verify_signature("new-secret-0123456789", 1_800_000_000, body, header,
                            now=1_800_000_000)


def test_the_body_carries_id_type_consult_time_and_data_in_utf8():
    body = event_body(EVENT).decode("utf-8")
    assert body.startswith('{"consult_id":"c-1","created_at":"2026-11-20T02:00:00+00:00"')
    assert '"id":"' + "e" * 32 in body and '"type":"referral.created"' in body


def test_each_event_waits_behind_the_earliest_unacknowledged_event_of_its_consult():
    items = [QueuedDelivery(1, "a1", "A", "his", delivered=True),
             QueuedDelivery(2, "a2", "A", "his", delivered=False),
             QueuedDelivery(3, "b1", "B", "his", delivered=False),
             QueuedDelivery(4, "a3", "A", "his", delivered=False),
             QueuedDelivery(4, "a3", "A", "stream", delivered=False),
             QueuedDelivery(5, "x", None, "his", delivered=False)]
    assert waiting_behind(items) == {("a3", "his"): "a2"}


def test_webhook_configuration_is_checked_and_its_secret_never_printed():
    hooks = parse_webhooks('[{"url": "https://u:pw@his.example/hook?token=t", '
                           '"secret": "0123456789abcdef", "events": ["referral.created"]}]',
                           "SHOUZHEN_WEBHOOKS")
    assert hooks[0].target_name == "webhook:https://his.example/hook"
    assert hooks[0].events == frozenset({"referral.created"})
    shown = load_settings({"SHOUZHEN_WEBHOOKS": '[{"url": "https://his.example/h?token=t", '
                                                '"secret": "0123456789abcdef"}]'}).masked()
    assert "0123456789abcdef" not in str(shown) and "token" not in str(shown)
    for bad, message in [('[{"url": "ftp://x", "secret": "0123456789abcdef"}]', "url"),
                         ('[{"url": "https://x", "secret": "short"}]', "secret"),
                         ('{"url": "https://x"}', "list"),
                         ('[{"url": "https://x", "secret": "0123456789abcdef"}, '
                          '{"url": "https://x", "secret": "0123456789abcdef"}]', "name"),
                         ("[", "JSON")]:
        with pytest.raises(ValueError, match=message):
            parse_webhooks(bad, "SHOUZHEN_WEBHOOKS")


def test_nearest_rank_p90_is_an_observed_value():
    assert percentile([], 0.9) is None
    assert percentile([60, 300, 600], 0.9) == 600
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([5], 0.9) == 5


def test_report_periods_are_whole_days_in_the_hospital_time_zone():
    tz = ZoneInfo("Asia/Shanghai")
    period = parse_period("2026-11-20", "2026-11-20", today=date(2026, 11, 22), timezone=tz)
    assert period.start.isoformat() == "2026-11-20T00:00:00+08:00"
    assert period.end - period.start == timedelta(days=1)
    default = parse_period(None, None, today=date(2026, 11, 22), timezone=tz)
    assert (default.first_day, default.last_day) == (date(2026, 10, 24), date(2026, 11, 22))
    for first, last in [("2026-13-01", None), ("yesterday", None), ("2026-11-21", "2026-11-20"),
                        ("2024-01-01", "2026-11-20")]:
        with pytest.raises(MalformedRequest):
            parse_period(first, last, today=date(2026, 11, 22), timezone=tz)
