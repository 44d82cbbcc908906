"""Recording and archiving of consults: passthrough media, sealing, retention and purge.

Modules, by what they hold:

- `participant_recording` — `ParticipantRecording`: a participant's encoded
  packets from the event loop into Matroska/WebM segments, off the hot path.
- `recording_reports` — the summaries and reports a recording hands back.
- `segment_file` — one segment file and its `.recording` marker; file naming.
- `video_bitstream` — picture sizes from VP8 keyframe headers and H.264 SPS.
- `crash_recovery` — `recover_unfinished`: repairs copies of unfinished segments.
- `consult_recorder` — `ConsultRecorder`: a consult's participants' recordings, each
  closed segment and alert handed to a `RecordingLedger` port; start-up recovery.
- `archive_manifest` — `seal_archive` / `verify_manifest`: fingerprints, the manifest,
  read-only files, and what verification finds.
- `archive_seal` — what a consult's sealed archive holds (record documents, recordings,
  photos, each with its retention class), and the sealed manifest read back.
- `archive_verification` — years later: every artefact against the sealed manifest, and
  each one gone either accounted for by a lawful purge or missing.
- `archive_export` — the sealed archive as one self-checking tar for a regulator.
- `retention` — retention classes, expiry dates and legal holds (pure rules).
- `retention_purge` — the purge: sealed archives surveyed, the rule applied, evidence
  committed through a `PurgeLedger` port before each file goes.
- `purge_evidence` — years later, whether a purge entry accounts for a missing file.
- `storage` — the object-store interface and its local-directory implementation.
- `durable_files` — fsync and SHA-256 helpers.

Imports only the standard library, PyAV and numpy: nothing of `server`, `signaling`, HTTP
or Socket.IO. What needs the database or the audit chain reaches it through the ports
(`RecordingLedger`, `PurgeLedger`, `SealRecord`), which `server/records/` implements.
"""
