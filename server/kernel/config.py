"""One typed configuration object, built from the environment.

Every setting is declared once below: its type, its default, the variable it is read from and
what it means (the README's tables are checked against these declarations by
tests/kernel/test_config.py). The embedded defaults run a single node on one machine: SQLite
and media under one data directory, no Redis. Secrets that are not given are generated once
and kept in `<data dir>/secrets.json` (mode 0600), so a restart keeps join links valid.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "SHOUZHEN_"
EVENT_LOOPS = ("uvloop", "asyncio")


class SettingsError(ValueError):
    """The environment holds a value shouzhen cannot use; the one-line message names it."""


@dataclass(frozen=True)
class StaffKey:
    """A named API key for a staff role; the name is what the audit log records."""

    name: str
    key: str


@dataclass(frozen=True)
class WebhookConfig:
    """One hospital system that receives events by signed HTTP POST.

    `name` identifies the target in the delivery table: keep it stable, or the renamed target
    receives the whole event history again (deduplicated by event id on its side).
    """

    url: str
    secret: str
    events: frozenset[str] | None = None  # None: every event type
    name: str = ""

    @property
    def target_name(self) -> str:
        return self.name or "webhook:" + _url_without_secrets(self.url)

    def __repr__(self) -> str:  # printed at start-up: never the secret, nor URL credentials
        events = ",".join(sorted(self.events)) if self.events is not None else "*"
        return f"WebhookConfig({self.target_name} -> {_url_without_secrets(self.url)} [{events}])"


def _setting(default: Any, variable: str, meaning: str, *, also: str | None = None,
             shown: str | None = None, secret: bool = False) -> Any:
    """One setting: read from `variable` (then `also`); `meaning` is its README row's text;
    `shown` is the README's default where the real one is computed at run time."""
    return Field(default, description=meaning, repr=not secret,
                 validation_alias=AliasChoices(variable, also) if also else variable,
                 json_schema_extra={"shown_default": shown} if shown is not None else None)


class Settings(BaseSettings):
    """Constructed by keyword (`Settings(data_dir=…, port=…)`) or from the environment with
    `load_settings`, the one place that reads it."""

    # Only the keyword arguments: a test's Settings(...) never picks up the shell's variables.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                                      validate_by_alias=True)

    data_dir: Path = _setting(Path("data"), "SHOUZHEN_DATA_DIR",
                              "SQLite file, media, generated secrets")
    host: str = _setting("127.0.0.1", "SHOUZHEN_HOST", "the address to listen on")
    port: int = _setting(8080, "SHOUZHEN_PORT", "the port to listen on")
    public_url: str = _setting(
        "", "SHOUZHEN_PUBLIC_URL",
        "base of the join links (set it behind a proxy or on a LAN)",
        shown="`http(s)://host:port`")
    database_url: str = _setting(
        "", "DATABASE_URL",
        "e.g. `postgresql+asyncpg://user@127.0.0.1:5432/shouzhen` "
        "(`SHOUZHEN_DATABASE_URL` is read when `DATABASE_URL` is unset)",
        also="SHOUZHEN_DATABASE_URL", shown="SQLite in the data dir")
    redis_url: str = _setting(
        "", "REDIS_URL",
        "Redis for several nodes, e.g. `redis://127.0.0.1:6379/0` "
        "(`SHOUZHEN_REDIS_URL` is read when `REDIS_URL` is unset)",
        also="SHOUZHEN_REDIS_URL", shown="(none)")
    secret_key: str = _setting("", "SHOUZHEN_SECRET_KEY", "signs join and capture tokens",
                               shown="generated into `data/secrets.json`", secret=True)
    admin_keys: tuple[StaffKey, ...] = _setting(
        (), "SHOUZHEN_ADMIN_KEYS", "`name:key,name:key` (keys ≥16 chars)",
        shown="one generated key named `admin`", secret=True)
    auditor_keys: tuple[StaffKey, ...] = _setting(
        (), "SHOUZHEN_AUDITOR_KEYS", "`name:key,…`",
        shown="one generated key named `auditor`", secret=True)
    tls_cert: str = _setting(
        "", "SHOUZHEN_TLS_CERT",
        "certificate (PEM) to serve HTTPS with (browsers allow cameras only on HTTPS or "
        "localhost)", shown="(none)")
    tls_key: str = _setting("", "SHOUZHEN_TLS_KEY",
                            "its private key (PEM), unless the certificate file holds it",
                            shown="(none)")
    ice_servers: tuple[dict[str, Any], ...] = _setting(
        (), "SHOUZHEN_ICE_SERVERS", "JSON list of RTCIceServer objects (STUN/TURN, e.g. coturn)")
    # Several nodes (REDIS_URL set).
    node_id: str = _setting("", "SHOUZHEN_NODE_ID", "this node's id in the registry",
                            shown="`<hostname>-<port>`")
    cluster_name: str = _setting("shouzhen", "SHOUZHEN_CLUSTER_NAME",
                                 "key prefix in Redis (several clusters may share a Redis)")
    cluster_origins: tuple[str, ...] = _setting(
        (), "SHOUZHEN_CLUSTER_ORIGINS", "comma-separated origins of all nodes",
        shown="this node's base URL")
    drain_seconds: int = _setting(900, "SHOUZHEN_DRAIN_SECONDS",
                                  "how long SIGTERM waits for running calls")
    max_body_bytes: int = _setting(1_048_576, "SHOUZHEN_MAX_BODY_BYTES",
                                   "largest JSON request body")
    max_photo_bytes: int = _setting(20 * 1_048_576, "SHOUZHEN_MAX_PHOTO_BYTES",
                                    "largest photo upload")
    # Photos are medical records kept ≥15 years: quotas keep one link from filling the archive,
    # and the pixel cap (read from the file's header, before any decoding) bounds each decode.
    max_photos_per_consult: int = _setting(
        40, "SHOUZHEN_MAX_PHOTOS_PER_CONSULT",
        "photos one consult may hold (gallery uploads, captures and stream stills together); "
        "more are refused (409 `photo_quota_exceeded`)")
    max_photos_per_capture_request: int = _setting(
        2, "SHOUZHEN_MAX_PHOTOS_PER_CAPTURE_REQUEST",
        "photos one capture request may yield (the device's still and the stream fallback)")
    max_photo_megapixels: float = _setting(
        24.0, "SHOUZHEN_MAX_PHOTO_MEGAPIXELS",
        "largest photo in decoded pixels (width × height from the file's header, checked "
        "before decoding)")
    photo_decode_workers: int = _setting(
        2, "SHOUZHEN_PHOTO_DECODE_WORKERS",
        "photos decoded and scored at once (a pool of its own; 4 more per worker may wait, at "
        "most 2 of one consult; beyond that 503 with `Retry-After`)")
    consult_window_minutes: int = _setting(
        60, "SHOUZHEN_CONSULT_WINDOW_MINUTES",
        "default consult window; join links expire at its end")
    reconnect_grace_seconds: int = _setting(
        60, "SHOUZHEN_RECONNECT_GRACE_SECONDS",
        "how long a dropped participant may take to come back")
    # Audit growth bounded by design (server/kernel/refusal_ledger.py).
    refusal_window_seconds: float = _setting(
        60.0, "SHOUZHEN_REFUSAL_WINDOW_SECONDS",
        "refusals of one kind (who, client address, route or event, reason) after the first in "
        "this window are written as one `count` entry when it closes")
    anonymous_refusals_per_minute: int = _setting(
        30, "SHOUZHEN_ANONYMOUS_REFUSALS_PER_MINUTE",
        "per client address, how many refusals of callers without credentials are written at "
        "once per minute; the rest are only counted")
    timezone: str = _setting("Asia/Shanghai", "SHOUZHEN_TIMEZONE",
                             "calendar dates (ages, eligibility)")
    # The pilot's approval runs for a period; the hospital's calendar (timezone above) decides
    # on which day a consult falls (server.clinical.booking.PilotPeriod).
    pilot_start: date | None = _setting(
        None, "SHOUZHEN_PILOT_START",
        "first day (YYYY-MM-DD) on which consults may be booked to take place", shown="(none)")
    pilot_end: date | None = _setting(
        None, "SHOUZHEN_PILOT_END",
        "last day (YYYY-MM-DD) on which consults may take place; later ones are refused",
        shown="(none)")
    log_level: str = _setting("INFO", "SHOUZHEN_LOG_LEVEL", "logs are JSON lines on stderr")
    # Events out (server/events/event_delivery.py): webhooks, the Redis Stream, retry policy.
    webhooks: tuple[WebhookConfig, ...] = _setting(
        (), "SHOUZHEN_WEBHOOKS",
        'JSON list of `{"url", "secret", "events"?, "name"?}`; `secret` ≥16 chars shared with '
        "the receiver; `events` limits the types sent (default all); `name` identifies the "
        "target in the delivery table (default `webhook:<url without query>`; keep it stable)")
    event_stream_key: str = _setting(
        "shouzhen:events", "SHOUZHEN_EVENT_STREAM",
        "Redis Stream key (with `REDIS_URL`); set it empty to turn the stream off")
    # 0 keeps everything: an event is never dropped from the stream unless asked.
    event_stream_maxlen: int = _setting(0, "SHOUZHEN_EVENT_STREAM_MAXLEN",
                                        "`XADD MAXLEN ~ n`; `0` never trims")
    event_timeout_seconds: float = _setting(
        10.0, "SHOUZHEN_EVENT_TIMEOUT_SECONDS",
        "a receiver that does not answer within this is retried")
    event_retry_base_seconds: float = _setting(
        1.0, "SHOUZHEN_EVENT_RETRY_BASE_SECONDS",
        "backoff: base·2ⁿ⁻¹, capped, jittered within the upper half of each step")
    event_retry_cap_seconds: float = _setting(
        600.0, "SHOUZHEN_EVENT_RETRY_CAP_SECONDS",
        "backoff: base·2ⁿ⁻¹, capped, jittered within the upper half of each step")
    event_poll_seconds: float = _setting(1.0, "SHOUZHEN_EVENT_POLL_SECONDS",
                                         "how often an idle dispatcher looks for new events")
    event_alert_after_hours: float = _setting(
        4.0, "SHOUZHEN_EVENT_ALERT_AFTER_HOURS",
        "an event not acknowledged this long after it was written is flagged once: an error "
        "log line, an `event.delivery_overdue` audit entry, the "
        "`shouzhen_event_deliveries_overdue` gauge")
    # Checked where the strategy is built (media.consult_media.MediaConfig).
    forwarding: str = _setting(
        "passthrough", "SHOUZHEN_FORWARDING",
        "`transcoding` decodes and re-encodes every frame: the benchmark's baseline, never "
        "for consults")
    # uvloop's C datagram transport and loop cut a forwarded consult's CPU by ~15 %
    # (bench/README.md); "asyncio" is the fallback if a platform lacks it.
    event_loop: str = _setting(
        "uvloop", "SHOUZHEN_EVENT_LOOP",
        "`asyncio` to run on asyncio's own loop instead (uvloop saves ~15 % CPU per consult)")
    # recorder.retention.RetentionPolicy floors both at the legal minimums (3 and 15), so a
    # smaller value here can never shorten what the law requires.
    process_record_years: int = _setting(
        3, "SHOUZHEN_PROCESS_RECORD_YEARS",
        "years to keep audio/video and chat from the end of their consult (never fewer than 3)")
    medical_record_years: int = _setting(
        15, "SHOUZHEN_MEDICAL_RECORD_YEARS",
        "years to keep the medical record from the child's last visit (never fewer than 15)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    # -- from environment text (a value given by keyword arrives already typed) ------------

    @field_validator("admin_keys", "auditor_keys", mode="before")
    @classmethod
    def _staff_keys_from_text(cls, value: Any, info: ValidationInfo) -> Any:
        return _parse_staff_keys(value, _variable(info)) if isinstance(value, str) else value

    @field_validator("ice_servers", mode="before")
    @classmethod
    def _ice_servers_from_json(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        try:
            servers = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{_variable(info)}: not JSON ({error})") from None
        if not isinstance(servers, list):
            raise ValueError(f"{_variable(info)}: expected a JSON list of RTCIceServer objects")
        return servers

    @field_validator("cluster_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())

    @field_validator("webhooks", mode="before")
    @classmethod
    def _webhooks_from_json(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_webhooks(value, _variable(info)) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str, info: ValidationInfo) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{_variable(info)}: not an IANA time zone ({value!r})") from None
        return value

    @field_validator("pilot_end")
    @classmethod
    def _pilot_ends_after_it_starts(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("pilot_start")
        if value is not None and start is not None and value < start:
            raise ValueError(f"{_variable(info)}: {value.isoformat()} is before "
                             f"SHOUZHEN_PILOT_START ({start.isoformat()})")
        return value

    @field_validator("max_photos_per_consult", "max_photos_per_capture_request",
                     "max_photo_megapixels", "photo_decode_workers")
    @classmethod
    def _positive(cls, value: float, info: ValidationInfo) -> float:
        if value <= 0:
            raise ValueError(f"{_variable(info)}: must be more than 0, not {value}")
        return value

    @field_validator("event_loop")
    @classmethod
    def _known_event_loop(cls, value: str, info: ValidationInfo) -> str:
        if value not in EVENT_LOOPS:
            raise ValueError(f"{_variable(info)}: one of {', '.join(EVENT_LOOPS)}, "
                             f"not {value!r}")
        return value

    # -- derived -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def effective_node_id(self) -> str:
        return self.node_id or f"{socket.gethostname()}-{self.port}"

    @property
    def effective_cluster_origins(self) -> frozenset[str]:
        return frozenset(o.lower() for o in (self.cluster_origins or (self.base_url,)))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'shouzhen.sqlite3'}"

    def replace(self, **changes: Any) -> Settings:
        """These settings with some changed, checked like the originals."""
        return type(self)(**{**self.as_keywords(), **changes})

    def as_keywords(self) -> dict[str, Any]:
        """Every setting by field name, as given to the constructor (StaffKey and
        WebhookConfig objects kept as they are)."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def masked(self) -> dict[str, str]:
        """Every setting as text for the start-up log, secrets shown only by length/name."""
        shown: dict[str, str] = {}
        for name, value in self.as_keywords().items():
            if name == "secret_key":
                shown[name] = f"<{len(value)} chars>"
            elif name in ("admin_keys", "auditor_keys"):
                shown[name] = ",".join(f"{k.name}:***" for k in value) or "<none>"
            elif name in ("database_url", "redis_url"):
                shown[name] = _mask_url_password(str(value))
            else:
                shown[name] = str(value)
        shown["effective_database_url"] = _mask_url_password(self.effective_database_url)
        return shown


def environment_names(field_name: str) -> tuple[str, ...]:
    """The variables a setting is read from, in order: the first one set wins."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    assert isinstance(alias, str), f"{field_name} declares no variable"
    return (alias,)


def _variable(info: ValidationInfo) -> str:
    assert info.field_name is not None
    return environment_names(info.field_name)[0]


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from `env` (default: the process environment), then explicit overrides.

    Raises SettingsError, one line naming each variable that cannot be used."""
    env = os.environ if env is None else env
    given: dict[str, Any] = {}
    for name in Settings.model_fields:
        for variable in environment_names(name):
            if variable in env:
                given[name] = env[variable]
                break
    try:
        return Settings(**{**given, **overrides})
    except ValidationError as error:
        raise SettingsError(_one_line(error)) from None


def _one_line(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        field, *inside = problem["loc"]
        if problem["type"] == "value_error":
            # Raised by the parsers above, whose message already names the variable.
            problems.append(str(problem["ctx"]["error"]))
            continue
        declared = Settings.model_fields.get(str(field))
        where = environment_names(str(field))[0] if declared else str(field)
        where += "".join(f"[{part}]" for part in inside)
        got = f" (got {problem['input']!r})" if declared and declared.repr else ""
        problems.append(f"{where}: {problem['msg']}{got}")
    return "; ".join(problems)


def _mask_url_password(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _parse_staff_keys(raw: str, variable: str) -> tuple[StaffKey, ...]:
    keys: list[StaffKey] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, key = item.partition(":")
        if not sep or not name or len(key) < 16:
            raise ValueError(f"{variable}: expected name:key pairs with keys of ≥16 characters")
        keys.append(StaffKey(name=name, key=key))
    return tuple(keys)


def with_generated_secrets(settings: Settings) -> Settings:
    """Fill in secrets that were not configured from `<data_dir>/secrets.json`, creating it."""
    if settings.secret_key and settings.admin_keys and settings.auditor_keys:
        return settings
    path = settings.data_dir / "secrets.json"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {
            "secret_key": secrets.token_urlsafe(48),
            "admin_key": secrets.token_urlsafe(24),
            "auditor_key": secrets.token_urlsafe(24),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(stored, out, indent=2)
    return settings.replace(
        secret_key=settings.secret_key or stored["secret_key"],
        admin_keys=settings.admin_keys or (StaffKey("admin", stored["admin_key"]),),
        auditor_keys=settings.auditor_keys or (StaffKey("auditor", stored["auditor_key"]),),
    )


# -- events out: webhook targets -----------------------------------------------------------


def _url_without_secrets(url: str) -> str:
    """scheme://host[:port]/path: user info and query strings may carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def parse_webhooks(raw: str, variable: str) -> tuple[WebhookConfig, ...]:
    """`[{"url": "https://…", "secret": "…", "events": ["referral.created"], "name": "his"}]`"""
    try:
        items = json.loads(raw or "[]")
    except json.JSONDecodeError as error:
        raise ValueError(f"{variable}: not JSON ({error})") from None
    if not isinstance(items, list):
        raise ValueError(f"{variable}: expected a JSON list of webhook objects")
    hooks: list[WebhookConfig] = []
    for i, item in enumerate(items):
        where = f"{variable}[{i}]"
        if not isinstance(item, dict) or set(item) - {"url", "secret", "events", "name"}:
            raise ValueError(f"{where}: expected an object with url, secret, events?, name?")
        url, secret = item.get("url"), item.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"{where}.url: an http(s) URL is required")
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValueError(f"{where}.secret: a shared secret of ≥16 characters is required")
        events = item.get("events")
        if events is not None and (not isinstance(events, list)
                                   or not all(isinstance(e, str) and e for e in events)):
            raise ValueError(f"{where}.events: a list of event types")
        name = item.get("name", "")
        if not isinstance(name, str) or len(name) > 120:
            raise ValueError(f"{where}.name: text of at most 120 characters")
        hooks.append(WebhookConfig(url=url, secret=secret, name=name,
                                   events=frozenset(events) if events is not None else None))
    names = [h.target_name for h in hooks]
    if len(set(names)) != len(names):
        raise ValueError(f"{variable}: two webhooks share a name or URL; give each a name")
    return tuple(hooks)
