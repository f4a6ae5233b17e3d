"""Python logging of the server, as text or as JSON lines, on stderr.

``text`` (the default): ``<time> <LEVEL> <logger>[<pid>]: <message>``, without colours or other escape
sequences. ``json``: one object per line with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
``process``, the access log's fields (``cargohold.api.observe.access``) for its lines, and ``exception`` (the
traceback as text) when one was logged. Nothing here adds escape sequences, whether stderr is a TTY or not.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
QUIET_LOGGERS: Final = {"alembic": logging.WARNING}


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            document.update(access)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def announce(message: str, log_format: str, *, logger: str = "cargohold") -> None:
    """Write ``message`` to stderr whatever the log level (a generated password shown once): as is, or as
    one JSON log object in the JSON format."""
    if log_format == "json":
        record = logging.LogRecord(logger, logging.WARNING, __file__, 0, message, None, None)
        message = JsonFormatter().format(record)
    print(message, file=sys.stderr, flush=True)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send every log record at ``level`` or above to stderr, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python warnings as log records, in the same format
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
