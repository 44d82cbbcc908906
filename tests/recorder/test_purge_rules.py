"""The retention purge's rules as pure functions: which artefact may go when, and what a purge
record must show to account for a missing file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from recorder.archive_manifest import ManifestEntry
from recorder.purge_evidence import PurgeRecord, judge_purge_record
from recorder.retention import HoldPeriod, RetentionClass, RetentionPolicy
from recorder.retention_purge import ConsultFacts, SealedArtefact, Survey, judge, plan_purge

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = RetentionPolicy(time_zone=SHANGHAI)
ENDED = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)  # 10:30 in Beijing
PROCESS, MEDICAL = RetentionClass.PROCESS_RECORD, RetentionClass.MEDICAL_RECORD


def artefact(path: str, retention_class: RetentionClass) -> SealedArtefact:
    entry = ManifestEntry(path, retention_class, "application/octet-stream", "ab" * 32, 10)
    return SealedArtefact("c1", f"consults/c1/{path}", entry)


def facts(last_visit: datetime | None = None, hold: bool = False) -> ConsultFacts:
    return ConsultFacts("c1", "child", ENDED, last_visit or ENDED, hold)


def test_process_records_go_from_the_day_after_the_third_anniversary_in_beijing():
    recording = artefact("recordings/guardian-001.webm", PROCESS)
    first_purge_day = datetime(2029, 11, 21, 0, 0, tzinfo=SHANGHAI)
    assert not judge(recording, facts(), first_purge_day - timedelta(seconds=1),
                     POLICY).decision.purgeable
    assert judge(recording, facts(), first_purge_day, POLICY).decision.purgeable
    photo = artefact("photos/a.jpg", MEDICAL)
    assert not judge(photo, facts(), first_purge_day, POLICY).decision.purgeable


def test_a_later_visit_moves_the_medical_record_and_not_the_process_record():
    later = ENDED + timedelta(days=700)
    intake = judge(artefact("record/intake.json", MEDICAL), facts(later),
                   datetime(2041, 12, 1, tzinfo=UTC), POLICY)
    assert not intake.decision.purgeable and intake.anchor == later
    chat = judge(artefact("record/chat.json", PROCESS), facts(later),
                 datetime(2041, 12, 1, tzinfo=UTC), POLICY)
    assert chat.decision.purgeable and chat.anchor == ENDED


def test_a_hold_keeps_what_has_expired_and_the_plan_says_so():
    survey = Survey(facts={"c1": facts(hold=True)},
                    present=[artefact("record/chat.json", PROCESS),
                             artefact("record/intake.json", MEDICAL)])
    plan = plan_purge(survey, datetime(2030, 1, 1, tzinfo=UTC), POLICY, dry_run=True)
    assert plan.purged == [] and [i.artefact.entry.path for i in plan.held] == [
        "record/chat.json"]
    assert [i.artefact.entry.path for i in plan.kept] == ["record/intake.json"]
    assert plan.to_dict()["would_purge"] == []


def record(**changes) -> PurgeRecord:
    values = dict(seq=99, at=datetime(2029, 11, 22, 1, tzinfo=UTC), actor_role="admin",
                  actor_id="alice", path="record/chat.json", sha256="ab" * 32, size=10,
                  retention_class="process_record",
                  expires_at=datetime(2029, 11, 21, tzinfo=SHANGHAI),
                  evaluated_at=datetime(2029, 11, 22, 1, tzinfo=UTC), clock_override=False,
                  policy=RetentionPolicy())
    values.update(changes)
    return PurgeRecord(**values)


def test_a_purge_record_accounts_for_a_missing_file_only_when_the_rule_agrees():
    sealed = artefact("record/chat.json", PROCESS).entry
    lawful = judge_purge_record(record(), sealed, ENDED, [ENDED], [], SHANGHAI)
    assert lawful.lawful and not lawful.warnings

    early = record(at=datetime(2027, 1, 1, tzinfo=UTC),
                   evaluated_at=datetime(2027, 1, 1, tzinfo=UTC))
    verdict = judge_purge_record(early, sealed, ENDED, [ENDED], [], SHANGHAI)
    assert not verdict.lawful and "before its retention ended" in verdict.problems[0]

    # A record claiming a one-year period proves nothing: the legal minimum applies.
    short = record(at=datetime(2028, 1, 1, tzinfo=UTC),
                   evaluated_at=datetime(2028, 1, 1, tzinfo=UTC),
                   policy=RetentionPolicy(process_record_years=1))
    assert not judge_purge_record(short, sealed, ENDED, [ENDED], [], SHANGHAI).lawful

    held = [HoldPeriod(datetime(2029, 1, 1, tzinfo=UTC), None)]
    assert "legal hold" in judge_purge_record(record(), sealed, ENDED, [ENDED], held,
                                              SHANGHAI).problems[0]
    cleared = [HoldPeriod(datetime(2029, 1, 1, tzinfo=UTC), datetime(2029, 6, 1, tzinfo=UTC))]
    assert judge_purge_record(record(), sealed, ENDED, [ENDED], cleared, SHANGHAI).lawful

    other = judge_purge_record(record(sha256="cd" * 32), sealed, ENDED, [ENDED], [], SHANGHAI)
    assert "other content" in other.problems[0]
    by_auditor = judge_purge_record(record(actor_role="auditor"), sealed, ENDED, [ENDED], [],
                                    SHANGHAI)
    assert "may not purge" in by_auditor.problems[0]

    rehearsal = record(at=datetime(2026, 12, 1, tzinfo=UTC), clock_override=True)
    verdict = judge_purge_record(rehearsal, sealed, ENDED, [ENDED], [], SHANGHAI)
    assert verdict.lawful and "clock override" in verdict.warnings[0]


def test_the_medical_rule_counts_only_visits_the_purge_could_have_seen():
    sealed = artefact("record/intake.json", MEDICAL).entry
    at = datetime(2041, 11, 22, tzinfo=UTC)
    purge = record(path="record/intake.json", retention_class="medical_record", at=at,
                   evaluated_at=at)
    visit_after = at + timedelta(days=30)
    assert judge_purge_record(purge, sealed, ENDED, [ENDED, visit_after], [], SHANGHAI).lawful
    visit_before = ENDED + timedelta(days=400)
    late = judge_purge_record(purge, sealed, ENDED, [ENDED, visit_before], [], SHANGHAI)
    assert not late.lawful
