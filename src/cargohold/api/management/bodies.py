"""Reading a management request's JSON body: bounded in size, parsed, and validated against its pydantic
model. Malformed JSON is a 400; a body over the limit a 413; a body that is JSON but not what the model
accepts a 422 naming the field and the reason (never the value sent: it may be a password).
"""

from __future__ import annotations

import json
from typing import Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cargohold.api.management.errors import ApiError

MAX_JSON_BODY: Final = 64 * 1024
"""The largest JSON body the management API reads."""

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The whole body, or ApiError 413 as soon as it passes ``limit`` bytes (nothing more is read)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    data = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > limit:
            raise ApiError(413, f"the body is larger than {limit} bytes")
    return bytes(data)


def parse_model(model: type[M], raw: bytes, *, required: bool) -> M:
    """``raw`` as an instance of ``model``; an empty body is ``{}`` when the body is optional."""
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON object body is required")
        raw = b"{}"
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"the body is not valid JSON: {_json_reason(error)}") from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise ApiError(422, "the body must be a JSON object", field="body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise validation_error(error) from None


def validation_error(error: ValidationError) -> ApiError:
    """A 422 naming each field at fault and why; ``field`` is the first of them."""
    problems: list[tuple[str, str]] = []
    for entry in error.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in entry["loc"]) or "body"
        reason = "unknown field" if entry["type"] == "extra_forbidden" else entry["msg"]
        problems.append((field, reason.removeprefix("Value error, ")))
    message = "; ".join(f"{field}: {reason}" for field, reason in problems)
    return ApiError(422, message, field=problems[0][0] if problems else "body")


def _json_reason(error: UnicodeDecodeError | json.JSONDecodeError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return "not UTF-8"
