"""One management API operation as data, and the adapter that turns it into an aiohttp handler.

An ``Operation`` names its method, path, request model, success status and response model. The adapter reads
and validates the body with exactly that request model and serialises the handler's result with exactly that
response model, and ``openapi.py`` describes the same ``Operation`` objects: what the document says is what
the server does. Handlers receive a ``Call`` (path parameters, the validated body, the services) and return
a service view (or a list of them, or a ``Reply`` with headers); they never build HTTP responses.

Every operation has an ``Access`` rule: the adapter signs the caller in (401 without working credentials)
and checks the rule (403) before it reads the body, so a caller who may not call an operation learns
nothing from its validation errors.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from aiohttp import web
from pydantic import BaseModel

from cargohold.api.management.access import Access, authorize, signed_in
from cargohold.api.management.bodies import parse_model, read_body
from cargohold.api.management.services import ManagementServices
from cargohold.auth.principal import Principal
from cargohold.auth.users import UserAdmin

M = TypeVar("M", bound=BaseModel)

SERVICES_KEY: Final = web.AppKey("management_services", ManagementServices)


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request's path parameters, its validated body, the services and who asks."""

    request: web.Request
    services: ManagementServices
    body: BaseModel | None
    principal: Principal

    @property
    def users(self) -> UserAdmin:
        return self.services.users

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def if_match(self) -> str | None:
        """The request's ``If-Match`` header (None when absent)."""
        return self.request.headers.get("If-Match")

    def body_as(self, model: type[M]) -> M:
        if not isinstance(self.body, model):
            raise TypeError(f"operation body is {type(self.body).__name__}, not {model.__name__}")
        return self.body


@dataclass(frozen=True)
class Reply:
    """A handler result with extra response headers (``Location`` of a created resource)."""

    value: object
    headers: Mapping[str, str]


@dataclass(frozen=True)
class EventStream:
    """A handler result sent while it is produced: each event one JSON object on a line of its own
    (``application/x-ndjson``), for an operation whose ``streams`` is set."""

    events: AsyncIterator[BaseModel]


Handler = Callable[[Call], Awaitable[object]]

_PARAM_RE: Final = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """The OpenAPI form, ``/api/v1/repositories/{repo}``."""
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    access: Access = Access.ADMIN
    """Who may call it (a global admin unless it says otherwise)."""
    status: int = 200
    response: type[BaseModel] | None = None
    """None: no body (204)."""
    many: bool = False
    """The response is a JSON array of ``response``."""
    streams: bool = False
    """The response is a stream of ``response`` objects, one per line (the handler returns an
    ``EventStream``)."""
    body: type[BaseModel] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    """Error statuses beyond those every body brings (400, 413, 422)."""
    slashed: frozenset[str] = field(default_factory=frozenset)
    """Path parameters that may hold slashes (image names)."""
    description: str = ""
    conditional: bool = False
    """A change that honours ``If-Match`` (412 when it names an older version)."""
    tagged: bool = False
    """The answer carries an ``ETag`` (the result's ``etag``, or the handler's ``Reply`` header)."""

    @property
    def parameters(self) -> list[str]:
        return _PARAM_RE.findall(self.path)

    @property
    def route_path(self) -> str:
        """The aiohttp form: a slashed parameter matches ``.+``."""
        return _PARAM_RE.sub(
            lambda m: f"{{{m[1]}:.+}}" if m[1] in self.slashed else m[0],
            self.path,
        )

    @property
    def error_statuses(self) -> list[int]:
        statuses = set(self.errors) | {401, 429}
        if self.conditional:
            statuses.add(412)
        if self.access is not Access.SIGNED_IN:
            statuses.add(403)
        if self.body is not None:
            statuses |= {400, 413, 422}
        return sorted(statuses)


def endpoint(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of ``operation``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        principal = await signed_in(request)
        authorize(operation.access, principal, dict(request.match_info))
        body: BaseModel | None = None
        if operation.body is not None:
            raw = await read_body(request)
            body = parse_model(operation.body, raw, required=operation.body_required)
        result = await operation.handler(Call(request, request.app[SERVICES_KEY], body, principal))
        headers: Mapping[str, str] = {}
        if isinstance(result, Reply):
            headers = result.headers
            result = result.value
        if isinstance(result, EventStream):
            return await _stream(request, operation.status, result)
        etag = getattr(result, "etag", None)
        if operation.tagged and isinstance(etag, str) and etag:
            headers = {**headers, "ETag": etag}
        if operation.response is None:
            return web.Response(status=operation.status, headers=headers)
        return web.json_response(
            serialise(operation.response, result, many=operation.many),
            status=operation.status,
            headers=headers,
        )

    handle.__name__ = operation.operation_id
    return handle


async def _stream(request: web.Request, status: int, stream: EventStream) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    async for event in stream.events:
        await response.write(event.model_dump_json(exclude_none=True).encode() + b"\n")
    await response.write_eof()
    return response


def serialise(model: type[BaseModel], value: object, *, many: bool) -> object:
    """``value`` (a service view, or a sequence of them) as JSON-ready data through ``model``."""
    if many:
        if not isinstance(value, Sequence):
            raise TypeError(f"expected a sequence of {model.__name__}, got {type(value).__name__}")
        return [model.model_validate(item).model_dump(mode="json") for item in value]
    return model.model_validate(value).model_dump(mode="json")
