"""Recording and archiving of consults: passthrough media, sealing, retention.

Modules, by what they hold:

- `participant_recording` — `ParticipantRecording`: a participant's encoded
  packets from the event loop into Matroska/WebM segments, off the hot path.
- `recording_reports` — the summaries and reports a recording hands back.
- `segment_file` — one segment file and its `.recording` marker; file naming.
- `video_bitstream` — picture sizes from VP8 keyframe headers and H.264 SPS.
- `crash_recovery` — `recover_unfinished`: repairs copies of unfinished segments.
- `archive_manifest` — `seal_archive` / `verify_manifest` for a consult's archive.
- `retention` — retention classes and purge rules (pure).
- `storage` — the object-store interface and its local-directory implementation.
- `durable_files` — fsync and SHA-256 helpers.

Imports only the standard library, PyAV and numpy: nothing of HTTP or Socket.IO.
"""
