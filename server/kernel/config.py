"""One typed configuration object, built from the environment.

Every setting has an embedded default that runs a single node on one machine: SQLite and
media under one data directory, no Redis. Secrets that are not given are generated once and
kept in `<data dir>/secrets.json` (mode 0600), so a restart keeps join links valid.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "SHOUZHEN_"


@dataclass(frozen=True)
class StaffKey:
    """A named API key for a staff role; the name is what the audit log records."""

    name: str
    key: str


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # the base of join links; defaults to http://host:port
    database_url: str = ""  # defaults to SQLite in data_dir
    redis_url: str = ""
    secret_key: str = field(default="", repr=False)
    admin_keys: tuple[StaffKey, ...] = field(default=(), repr=False)
    auditor_keys: tuple[StaffKey, ...] = field(default=(), repr=False)
    tls_cert: str = ""
    tls_key: str = ""
    ice_servers: tuple[dict[str, Any], ...] = ()
    # Several nodes (REDIS_URL set): this node's id, the cluster's name in Redis, and the
    # origins a browser may be redirected to (defaults to this node's own base URL).
    node_id: str = ""
    cluster_name: str = "shouzhen"
    cluster_origins: tuple[str, ...] = ()
    drain_seconds: int = 900
    max_body_bytes: int = 1_048_576
    max_photo_bytes: int = 20 * 1_048_576
    consult_window_minutes: int = 60
    reconnect_grace_seconds: int = 60
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    # Events out (server/events/event_delivery.py): webhooks, the Redis Stream, retry policy.
    webhooks: tuple[WebhookConfig, ...] = ()
    event_stream_key: str = "shouzhen:events"  # "" turns the stream off even with Redis
    event_stream_maxlen: int = 0  # 0: never trim (nothing is dropped); else XADD MAXLEN ~
    event_timeout_seconds: float = 10.0
    event_retry_base_seconds: float = 1.0
    event_retry_cap_seconds: float = 600.0
    event_poll_seconds: float = 1.0
    event_alert_after_hours: float = 4.0
    forwarding: str = "passthrough"  # passthrough | transcoding (benchmark baseline only)
    # uvloop | asyncio. uvloop's C datagram transport and loop cut a forwarded consult's
    # CPU by ~15 % (bench/README.md); "asyncio" is the fallback if a platform lacks it.
    event_loop: str = "uvloop"
    # Retention (server/records/retention_purge.py): years to keep process records (audio/video,
    # chat) and medical records; recorder.retention.RetentionPolicy floors both at the legal
    # minimums (3 and 15), so a smaller value here can never shorten what the law requires.
    process_record_years: int = 3
    medical_record_years: int = 15

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

    def masked(self) -> dict[str, str]:
        """Every setting as text for the start-up log, secrets shown only by length/name."""
        shown: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "secret_key":
                shown[f.name] = f"<{len(value)} chars>"
            elif f.name in ("admin_keys", "auditor_keys"):
                shown[f.name] = ",".join(f"{k.name}:***" for k in value) or "<none>"
            elif f.name in ("database_url", "redis_url"):
                shown[f.name] = _mask_url_password(str(value))
            else:
                shown[f.name] = str(value)
        shown["effective_database_url"] = _mask_url_password(self.effective_database_url)
        return shown


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


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from `env` (default: the process environment), then explicit overrides."""
    env = os.environ if env is None else env

    def get(name: str, default: str = "") -> str:
        return env.get(ENV_PREFIX + name, default)

    values: dict[str, Any] = {
        "data_dir": Path(get("DATA_DIR", "data")),
        "host": get("HOST", "127.0.0.1"),
        "port": int(get("PORT", "8080")),
        "public_url": get("PUBLIC_URL"),
        "database_url": env.get("DATABASE_URL", get("DATABASE_URL")),
        "redis_url": env.get("REDIS_URL", get("REDIS_URL")),
        "secret_key": get("SECRET_KEY"),
        "admin_keys": _parse_staff_keys(get("ADMIN_KEYS"), ENV_PREFIX + "ADMIN_KEYS"),
        "auditor_keys": _parse_staff_keys(get("AUDITOR_KEYS"), ENV_PREFIX + "AUDITOR_KEYS"),
        "tls_cert": get("TLS_CERT"),
        "tls_key": get("TLS_KEY"),
        "ice_servers": tuple(json.loads(get("ICE_SERVERS", "[]"))),
        "node_id": get("NODE_ID"),
        "cluster_name": get("CLUSTER_NAME", "shouzhen"),
        "cluster_origins": tuple(o.strip().rstrip("/") for o in
                                 get("CLUSTER_ORIGINS").split(",") if o.strip()),
        "drain_seconds": int(get("DRAIN_SECONDS", "900")),
        "max_body_bytes": int(get("MAX_BODY_BYTES", "1048576")),
        "max_photo_bytes": int(get("MAX_PHOTO_BYTES", str(20 * 1_048_576))),
        "consult_window_minutes": int(get("CONSULT_WINDOW_MINUTES", "60")),
        "reconnect_grace_seconds": int(get("RECONNECT_GRACE_SECONDS", "60")),
        "timezone": get("TIMEZONE", "Asia/Shanghai"),
        "log_level": get("LOG_LEVEL", "INFO"),
        "webhooks": parse_webhooks(get("WEBHOOKS", "[]"), ENV_PREFIX + "WEBHOOKS"),
        "event_stream_key": get("EVENT_STREAM", "shouzhen:events"),
        "event_stream_maxlen": int(get("EVENT_STREAM_MAXLEN", "0")),
        "event_timeout_seconds": float(get("EVENT_TIMEOUT_SECONDS", "10")),
        "event_retry_base_seconds": float(get("EVENT_RETRY_BASE_SECONDS", "1")),
        "event_retry_cap_seconds": float(get("EVENT_RETRY_CAP_SECONDS", "600")),
        "event_poll_seconds": float(get("EVENT_POLL_SECONDS", "1")),
        "event_alert_after_hours": float(get("EVENT_ALERT_AFTER_HOURS", "4")),
        "forwarding": get("FORWARDING", "passthrough"),
        "event_loop": _event_loop(get("EVENT_LOOP", "uvloop")),
        "process_record_years": int(get("PROCESS_RECORD_YEARS", "3")),
        "medical_record_years": int(get("MEDICAL_RECORD_YEARS", "15")),
    }
    values.update(overrides)
    return Settings(**values)


EVENT_LOOPS = ("uvloop", "asyncio")


def _event_loop(value: str) -> str:
    if value not in EVENT_LOOPS:
        raise ValueError(f"{ENV_PREFIX}EVENT_LOOP: one of {', '.join(EVENT_LOOPS)}, not {value!r}")
    return value


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
    return Settings(
        **{
            **{f.name: getattr(settings, f.name) for f in fields(settings)},
            "secret_key": settings.secret_key or stored["secret_key"],
            "admin_keys": settings.admin_keys or (StaffKey("admin", stored["admin_key"]),),
            "auditor_keys": settings.auditor_keys
            or (StaffKey("auditor", stored["auditor_key"]),),
        }
    )


# -- events out: webhook targets -----------------------------------------------------------


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


def _url_without_secrets(url: str) -> str:
    """scheme://host[:port]/path: user info and query strings may carry tokens."""
    from urllib.parse import urlsplit

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
