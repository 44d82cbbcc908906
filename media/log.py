"""Log records of the media layer carry the consult id (and the role where there is one)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

Log = logging.Logger | logging.LoggerAdapter[logging.Logger]
"""What a media function logs to: its module's logger or a consult's :class:`ConsultLog`."""


class ConsultLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes messages with ``[consult=<id> role=<role>]`` and adds both as record extras."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        prefix = " ".join(f"{k}={v}" for k, v in extra.items())
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[{prefix}] {msg}", kwargs

    def for_role(self, role: str) -> ConsultLog:
        return ConsultLog(self.logger, {**dict(self.extra or {}), "role": role})


def consult_log(name: str, consult_id: str) -> ConsultLog:
    return ConsultLog(logging.getLogger(name), {"consult": consult_id})
