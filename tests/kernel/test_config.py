"""Settings: one declaration per setting, read from the environment, checked, documented.

The README's tables (`| variable | default | meaning |`) are checked row by row against the
declarations in server/kernel/config.py: a setting added without a row, a row left behind by a
removed setting, a default or a meaning that drifted, each fails here."""

import json
import os
import re
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from server.kernel.config import (
    Settings,
    SettingsError,
    StaffKey,
    environment_names,
    load_settings,
    with_generated_secrets,
)

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_HEADER = "| variable | default | meaning |"
KEY = "0123456789abcdef"


def readme_rows(text: str) -> dict[str, tuple[str, str]]:
    """variable -> (default cell, meaning cell) from every settings table of the README; a
    row naming several variables (`A` / `B`) gives each its share of the default cell."""
    rows: dict[str, tuple[str, str]] = {}
    in_table = False
    for line in text.splitlines():
        if line.strip() == TABLE_HEADER:
            in_table = True
            continue
        if not in_table or line.startswith("|---"):
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 3, f"a settings row needs three cells: {line}"
        variables = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        defaults = cells[1].split(" / ") if len(variables) > 1 else [cells[1]]
        assert len(defaults) == len(variables), f"one default per variable: {line}"
        for variable, default in zip(variables, defaults, strict=True):
            assert variable not in rows, f"{variable} has two rows in the README"
            rows[variable] = (default, cells[2])
    return rows


def documented_default(name: str) -> str:
    """The default as the README shows it: the declared `shown` text where the real default
    is computed at run time, else the default as one would write it in the variable."""
    field = Settings.model_fields[name]
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value: Any = field.default
    if isinstance(value, tuple):
        text = json.dumps(list(value))
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return f"`{text}`"


def test_every_setting_has_one_readme_row_with_its_default_and_meaning():
    rows = readme_rows(README.read_text(encoding="utf-8"))
    declared = {environment_names(name)[0]: name for name in Settings.model_fields}
    assert sorted(set(declared) - set(rows)) == [], "settings without a README row"
    assert sorted(set(rows) - set(declared)) == [], "README rows for no setting"
    for variable, name in declared.items():
        default, meaning = rows[variable]
        assert default == documented_default(name), variable
        assert meaning == Settings.model_fields[name].description, variable


def test_the_readme_check_sees_a_missing_row_and_a_drifted_default():
    text = README.read_text(encoding="utf-8")
    without_drain = "\n".join(line for line in text.splitlines()
                              if "`SHOUZHEN_DRAIN_SECONDS`" not in line)
    assert "SHOUZHEN_DRAIN_SECONDS" not in readme_rows(without_drain)
    drifted = readme_rows(text.replace("| `SHOUZHEN_PORT` | `8080` |",
                                       "| `SHOUZHEN_PORT` | `8081` |"))
    assert drifted["SHOUZHEN_PORT"][0] != documented_default("port")
    both = readme_rows(TABLE_HEADER + "\n|---|---|---|\n| `A_X` / `A_Y` | `1` / `2` | m |\n")
    assert both == {"A_X": ("`1`", "m"), "A_Y": ("`2`", "m")}


def test_every_variable_is_read_with_its_type():
    env = {
        "SHOUZHEN_DATA_DIR": "/srv/shouzhen", "SHOUZHEN_HOST": "0.0.0.0", "SHOUZHEN_PORT": "8443",
        "SHOUZHEN_PUBLIC_URL": "https://clinic.example/", "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "redis://r:6379/0", "SHOUZHEN_SECRET_KEY": "s" * 40,
        "SHOUZHEN_ADMIN_KEYS": f"alice:{KEY}, bob:{KEY}1", "SHOUZHEN_AUDITOR_KEYS": f"aud:{KEY}",
        "SHOUZHEN_TLS_CERT": "c.pem", "SHOUZHEN_TLS_KEY": "k.pem",
        "SHOUZHEN_ICE_SERVERS": '[{"urls": ["stun:stun.example:3478"]}]',
        "SHOUZHEN_NODE_ID": "n1", "SHOUZHEN_CLUSTER_NAME": "c",
        "SHOUZHEN_CLUSTER_ORIGINS": "https://a.example/, https://B.example:8443 ,",
        "SHOUZHEN_DRAIN_SECONDS": "5", "SHOUZHEN_MAX_BODY_BYTES": "10",
        "SHOUZHEN_MAX_PHOTO_BYTES": "20", "SHOUZHEN_CONSULT_WINDOW_MINUTES": "30",
        "SHOUZHEN_MAX_PHOTOS_PER_CONSULT": "12", "SHOUZHEN_MAX_PHOTOS_PER_CAPTURE_REQUEST": "3",
        "SHOUZHEN_MAX_PHOTO_MEGAPIXELS": "12.5", "SHOUZHEN_PHOTO_DECODE_WORKERS": "1",
        "SHOUZHEN_RECONNECT_GRACE_SECONDS": "7", "SHOUZHEN_TIMEZONE": "UTC",
        "SHOUZHEN_PILOT_START": "2026-01-01", "SHOUZHEN_PILOT_END": "2027-12-31",
        "SHOUZHEN_LOG_LEVEL": "DEBUG",
        "SHOUZHEN_WEBHOOKS": f'[{{"url": "https://his.example/h", "secret": "{KEY}"}}]',
        "SHOUZHEN_EVENT_STREAM": "", "SHOUZHEN_EVENT_STREAM_MAXLEN": "1000",
        "SHOUZHEN_EVENT_TIMEOUT_SECONDS": "2.5", "SHOUZHEN_EVENT_RETRY_BASE_SECONDS": "0.5",
        "SHOUZHEN_EVENT_RETRY_CAP_SECONDS": "60", "SHOUZHEN_EVENT_POLL_SECONDS": "0.2",
        "SHOUZHEN_EVENT_ALERT_AFTER_HOURS": "1.5", "SHOUZHEN_FORWARDING": "transcoding",
        "SHOUZHEN_EVENT_LOOP": "asyncio", "SHOUZHEN_PROCESS_RECORD_YEARS": "4",
        "SHOUZHEN_MEDICAL_RECORD_YEARS": "16",
        "SHOUZHEN_REFUSAL_WINDOW_SECONDS": "30", "SHOUZHEN_ANONYMOUS_REFUSALS_PER_MINUTE": "5",
    }
    assert {environment_names(name)[0] for name in Settings.model_fields} == set(env)
    s = load_settings(env)
    assert (s.data_dir, s.host, s.port) == (Path("/srv/shouzhen"), "0.0.0.0", 8443)
    assert s.base_url == "https://clinic.example"
    assert (s.database_url, s.redis_url, s.secret_key) == ("postgresql://db/x",
                                                          "redis://r:6379/0", "s" * 40)
    assert s.admin_keys == (StaffKey("alice", KEY), StaffKey("bob", KEY + "1"))
    assert s.auditor_keys == (StaffKey("aud", KEY),)
    assert (s.tls_cert, s.tls_key) == ("c.pem", "k.pem")
    assert s.ice_servers == ({"urls": ["stun:stun.example:3478"]},)
    assert (s.node_id, s.cluster_name, s.drain_seconds) == ("n1", "c", 5)
    assert s.cluster_origins == ("https://a.example", "https://B.example:8443")
    assert s.effective_cluster_origins == {"https://a.example", "https://b.example:8443"}
    assert (s.max_body_bytes, s.max_photo_bytes) == (10, 20)
    assert (s.refusal_window_seconds, s.anonymous_refusals_per_minute) == (30.0, 5)
    assert (s.max_photos_per_consult, s.max_photos_per_capture_request,
            s.max_photo_megapixels, s.photo_decode_workers) == (12, 3, 12.5, 1)
    assert (s.consult_window_minutes, s.reconnect_grace_seconds) == (30, 7)
    assert (s.timezone, s.log_level) == ("UTC", "DEBUG")
    assert (s.pilot_start, s.pilot_end) == (date(2026, 1, 1), date(2027, 12, 31))
    assert [h.target_name for h in s.webhooks] == ["webhook:https://his.example/h"]
    assert (s.event_stream_key, s.event_stream_maxlen) == ("", 1000)
    assert (s.event_timeout_seconds, s.event_retry_base_seconds, s.event_retry_cap_seconds,
            s.event_poll_seconds, s.event_alert_after_hours) == (2.5, 0.5, 60.0, 0.2, 1.5)
    assert (s.forwarding, s.event_loop) == ("transcoding", "asyncio")
    assert (s.process_record_years, s.medical_record_years) == (4, 16)


def test_the_embedded_defaults_run_one_node_on_sqlite_in_the_data_dir():
    s = load_settings({})
    assert s == Settings()
    assert s.effective_database_url == "sqlite+aiosqlite:///data/shouzhen.sqlite3"
    assert s.base_url == "http://127.0.0.1:8080"
    assert (s.redis_url, s.webhooks, s.event_loop) == ("", (), "uvloop")


def test_database_and_redis_urls_fall_back_to_the_prefixed_names():
    assert load_settings({"SHOUZHEN_DATABASE_URL": "postgresql://b/x"}).database_url \
        == "postgresql://b/x"
    assert load_settings({"DATABASE_URL": "postgresql://a/x",
                          "SHOUZHEN_DATABASE_URL": "postgresql://b/x"}).database_url \
        == "postgresql://a/x"
    assert load_settings({"SHOUZHEN_REDIS_URL": "redis://b"}).redis_url == "redis://b"
    assert load_settings({"REDIS_URL": "redis://a", "SHOUZHEN_REDIS_URL": "redis://b"}
                         ).redis_url == "redis://a"


def test_keyword_overrides_beat_the_environment():
    s = load_settings({"SHOUZHEN_PORT": "9000", "SHOUZHEN_HOST": "0.0.0.0"}, port=9100)
    assert (s.host, s.port) == ("0.0.0.0", 9100)


def test_only_load_settings_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("SHOUZHEN_PORT", "9200")
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere")
    assert (Settings().port, Settings().redis_url) == (8080, "")
    assert (load_settings().port, load_settings().redis_url) == (9200, "redis://elsewhere")


@pytest.mark.parametrize(("env", "message"), [
    ({"SHOUZHEN_PORT": "abc"}, "SHOUZHEN_PORT: Input should be a valid integer"),
    ({"SHOUZHEN_EVENT_TIMEOUT_SECONDS": "ten"}, "SHOUZHEN_EVENT_TIMEOUT_SECONDS: "),
    ({"SHOUZHEN_ICE_SERVERS": "[{"}, "SHOUZHEN_ICE_SERVERS: not JSON"),
    ({"SHOUZHEN_ICE_SERVERS": '{"urls": []}'}, "SHOUZHEN_ICE_SERVERS: expected a JSON list"),
    ({"SHOUZHEN_ICE_SERVERS": '["stun:x"]'}, r"SHOUZHEN_ICE_SERVERS\[0\]: "),
    ({"SHOUZHEN_ADMIN_KEYS": "alice:short"}, "SHOUZHEN_ADMIN_KEYS: expected name:key pairs"),
    ({"SHOUZHEN_AUDITOR_KEYS": KEY}, "SHOUZHEN_AUDITOR_KEYS: expected name:key pairs"),
    ({"SHOUZHEN_WEBHOOKS": '[{"url": "ftp://x"}]'}, r"SHOUZHEN_WEBHOOKS\[0\]\.url: "),
    ({"SHOUZHEN_EVENT_LOOP": "trio"}, "SHOUZHEN_EVENT_LOOP: one of uvloop, asyncio, not 'trio'"),
    ({"SHOUZHEN_TIMEZONE": "Asia/Beijing"},
     "SHOUZHEN_TIMEZONE: not an IANA time zone \\('Asia/Beijing'\\)"),
    ({"SHOUZHEN_PILOT_START": "2026-13-01"}, "SHOUZHEN_PILOT_START: Input should be a valid date"),
    ({"SHOUZHEN_PILOT_START": "2026-06-01", "SHOUZHEN_PILOT_END": "2026-05-31"},
     "SHOUZHEN_PILOT_END: 2026-05-31 is before SHOUZHEN_PILOT_START \\(2026-06-01\\)"),
])
def test_a_bad_value_is_refused_in_one_line_naming_its_variable(env, message):
    with pytest.raises(SettingsError, match=message) as refused:
        load_settings(env)
    assert "\n" not in str(refused.value)


def test_every_bad_variable_is_named_at_once_and_a_secret_is_never_echoed():
    with pytest.raises(SettingsError) as refused:
        load_settings({"SHOUZHEN_PORT": "x", "SHOUZHEN_DRAIN_SECONDS": "y",
                       "SHOUZHEN_ADMIN_KEYS": "alice:short-secret"})
    assert "SHOUZHEN_PORT" in str(refused.value) and "SHOUZHEN_DRAIN_SECONDS" in str(
        refused.value) and "SHOUZHEN_ADMIN_KEYS" in str(refused.value)
    assert "short-secret" not in str(refused.value)


def test_serve_with_a_bad_variable_exits_with_one_line_and_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(tmp_path), "serve"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SHOUZHEN_PORT": "abc"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "shouzhen: SHOUZHEN_PORT: Input should be a valid integer, unable to parse string as "
        "an integer (got 'abc')"]


def test_replace_checks_the_changed_settings_like_the_originals():
    s = Settings(admin_keys=(StaffKey("alice", KEY),))
    changed = s.replace(port=9300)
    assert (changed.port, changed.admin_keys, s.port) == (9300, s.admin_keys, 8080)
    with pytest.raises(ValueError, match="event_loop"):
        s.replace(event_loop="trio")


def test_missing_secrets_are_generated_once_private_and_kept(tmp_path):
    first = with_generated_secrets(Settings(data_dir=tmp_path))
    stored = tmp_path / "secrets.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    again = with_generated_secrets(Settings(data_dir=tmp_path))
    assert again == first and len(first.secret_key) >= 48
    assert [k.name for k in first.admin_keys + first.auditor_keys] == ["admin", "auditor"]
    given = with_generated_secrets(Settings(data_dir=tmp_path,
                                            admin_keys=(StaffKey("alice", KEY),)))
    assert given.admin_keys == (StaffKey("alice", KEY),)
    assert given.auditor_keys == first.auditor_keys


def test_the_start_up_print_masks_every_secret():
    s = load_settings({"SHOUZHEN_SECRET_KEY": "top-secret-signing-key",
                       "SHOUZHEN_ADMIN_KEYS": f"alice:{KEY}",
                       "DATABASE_URL": "postgresql+asyncpg://app:pw-db@db:5432/x",
                       "REDIS_URL": "redis://:pw-redis@r:6379/0"})
    shown = s.masked()
    assert set(shown) == set(Settings.model_fields) | {"effective_database_url"}
    assert shown["secret_key"] == "<22 chars>" and shown["admin_keys"] == "alice:***"
    assert shown["database_url"] == "postgresql+asyncpg://app:***@db:5432/x"
    for secret in ("top-secret-signing-key", KEY, "pw-db", "pw-redis"):
        assert secret not in str(shown)
    assert "top-secret-signing-key" not in repr(s) and KEY not in repr(s)
