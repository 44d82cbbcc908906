"""The playback ledger that keeps the audit log to one entry per segment and session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.api.replay_api import PlaybackLedger, ReplayGrant


def test_the_ledger_audits_each_segment_once_per_grant_until_the_grant_expires():
    now = datetime(2026, 11, 20, tzinfo=UTC)
    grant = ReplayGrant("c1", "audrey", "g1", now + timedelta(hours=2))
    ledger = PlaybackLedger()
    assert ledger.first_play(grant, 7, now)
    assert not ledger.first_play(grant, 7, now + timedelta(minutes=5))
    assert ledger.first_play(grant, 8, now)
    other = ReplayGrant("c1", "audrey", "g2", now + timedelta(hours=2))
    assert ledger.first_play(other, 7, now)
    assert ledger.first_play(grant, 7, now + timedelta(hours=3)), "forgotten after expiry"
