"""The OpenAPI 3.1 document of the management API, generated from the route table and the pydantic models.

Nothing here is written by hand that the server decides elsewhere: paths, methods, parameters, request
bodies, success statuses and response bodies come from the ``Operation`` entries, schemas from the models'
``model_json_schema`` (JSON Schema 2020-12, which OpenAPI 3.1 uses as it is) under
``#/components/schemas/``, and every operation lists the error answers the adapter and the error table give
it, each in the ``Error`` shape. Every operation needs credentials (the ``basic`` and ``bearer`` security
schemes); who may call it is said in its description, from its ``Access`` rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from cargohold.api.management.access import CHALLENGE
from cargohold.api.management.operation import Operation
from cargohold.api.management.schemas import Error

REF_TEMPLATE: Final = "#/components/schemas/{model}"

ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "The body is not valid JSON (or is missing where one is required).",
    412: "If-Match names a version the resource no longer has: read it again (its ETag) and retry.",
    401: "No credentials, or credentials that do not work.",
    403: "The credentials work, but they do not allow this.",
    404: "The repository, proxy, image, tag, user or token does not exist.",
    409: "The name is taken, or the repository is declared in the config file and cannot be changed here.",
    413: "The body is larger than the limit (64 KiB).",
    422: "A field is unknown or cannot be used; ``field`` names it.",
    429: "Too many failed sign-ins from this address or for this user lately; retry after Retry-After.",
}

ERROR_HEADERS: Final[dict[int, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": f"{CHALLENGE}: sign in with a password or an access token.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before signing in again.",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "A user name with its password or one of its access tokens.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token (cgh_…); registry JWTs of /v2/token are not accepted here.",
    },
}
SECURITY: Final[list[dict[str, list[str]]]] = [{"basic": []}, {"bearer": []}]

PARAMETER_DESCRIPTIONS: Final[dict[str, str]] = {
    "repo": "Repository name.",
    "proxy": "Proxy name.",
    "image": "Image name inside the repository; it may hold slashes (library/nginx).",
    "tag": "Tag name.",
    "user": "User name.",
    "token": "Access token name.",
}


def _package_version() -> str:
    try:
        return version("cargohold")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0"


def _models(operations: Iterable[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Error, "serialization"): None}
    for operation in operations:
        if operation.body is not None:
            seen[(operation.body, "validation")] = None
        if operation.response is not None:
            seen[(operation.response, "serialization")] = None
    return list(seen)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


def _operation(operation: Operation, refs: Refs) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PARAMETER_DESCRIPTIONS.get(name, ""),
            "schema": {"type": "string", "minLength": 1},
        }
        for name in operation.parameters
    ]
    if operation.conditional:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "The ETag read before (of this resource or, for a proxy, of its repository): "
                "the change is refused with 412 when the resource changed since.",
                "schema": {"type": "string"},
            }
        )
    success: dict[str, Any] = {"description": operation.summary}
    if operation.response is not None:
        item = refs[(operation.response, "serialization")]
        if operation.streams:
            success["content"] = {"application/x-ndjson": {"schema": item}}
            success["description"] += " (one JSON object per line, sent as it happens)"
        else:
            success["content"] = _json({"type": "array", "items": item} if operation.many else item)
    else:
        success["description"] = "Done; no content."
    if operation.status == 201:
        success["headers"] = {
            "Location": {"description": "The created resource.", "schema": {"type": "string"}}
        }
    if operation.tagged:
        success.setdefault("headers", {})["ETag"] = {
            "description": "The version of the resource (or, for a list of proxies, of their repository), "
            "for If-Match.",
            "schema": {"type": "string"},
        }
    responses: dict[str, Any] = {str(operation.status): success}
    error_ref = refs[(Error, "serialization")]
    for status in operation.error_statuses:
        responses[str(status)] = {"description": ERROR_DESCRIPTIONS[status], "content": _json(error_ref)}
        if status in ERROR_HEADERS:
            responses[str(status)]["headers"] = ERROR_HEADERS[status]
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
        "security": SECURITY,
        "description": " ".join(
            filter(None, [f"Who may call it: {operation.access.value}.", operation.description])
        ),
    }
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {
            "required": operation.body_required,
            "content": _json(refs[(operation.body, "validation")]),
        }
    return document


def build_document(operations: Iterable[Operation]) -> bytes:
    """The OpenAPI 3.1 document of ``operations``, as the JSON bytes the server serves."""
    operations = list(operations)
    refs, definitions = models_json_schema(_models(operations), ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, refs)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "cargohold management API",
            "version": _package_version(),
            "description": "Repositories, their priority-ordered proxies, content and statistics; users, "
            "their permissions and access tokens. Every operation needs credentials: HTTP Basic with a "
            "password or an access token, or Authorization: Bearer with an access token. Passwords are "
            "write-only; an access token's secret is shown once, when it is created. Errors answer in one "
            'JSON shape: {"error": {"status", "code", "message", "field"}}.',
        },
        "security": SECURITY,
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }
    return json.dumps(document, indent=2).encode()
