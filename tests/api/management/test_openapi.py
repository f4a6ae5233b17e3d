"""The OpenAPI 3.1 document at /api/v1/openapi.json describes what the server really routes: every /api/v1
route with its method and nothing else, request bodies that refuse unknown fields, error answers in the
``Error`` shape, the credentials every operation needs, no response that could carry a password, and an
access token's secret in the answer that creates it only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .conftest import ManagementApi

METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path template) of every /api/v1 route the server has, as OpenAPI spells paths."""
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/v1/") and route.method != "HEAD" and not path.endswith("openapi.json"):
            routes.add((route.method, path))
    return routes


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def property_names(document: dict[str, Any], schema: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name reachable from ``schema`` (through refs, arrays, anyOf, maps)."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return set()
        seen.add(schema["$ref"])
        return property_names(document, resolve(document, schema), seen)
    names = set(schema.get("properties", {}))
    children = [*schema.get("properties", {}).values(), *schema.get("anyOf", []), *schema.get("oneOf", [])]
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            children.append(schema[key])
    for child in children:
        names |= property_names(document, child, seen)
    return names


async def test_the_document_lists_exactly_the_served_routes(api: ManagementApi) -> None:
    document = await api.ok("GET", "openapi.json")
    assert document["openapi"] == "3.1.0"
    described = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert described == served_routes(api.client.app)
    assert len(described) == 36
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(set(operation_ids)) == len(operation_ids)


async def test_request_bodies_refuse_unknown_fields_and_errors_have_the_error_shape(
    api: ManagementApi,
) -> None:
    document = await api.ok("GET", "openapi.json")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            body = operation.get("requestBody")
            if body is not None:
                schema = resolve(document, body["content"]["application/json"]["schema"])
                assert schema["additionalProperties"] is False, where
                assert {"400", "413", "422"} <= set(operation["responses"]), where
            if "{repo}" in path:
                assert "404" in operation["responses"], where
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", where


async def test_no_response_can_carry_a_password(api: ManagementApi) -> None:
    document = await api.ok("GET", "openapi.json")
    schemas = document["components"]["schemas"]
    assert schemas["ProxyCreate"]["properties"]["password"]["anyOf"][0]["writeOnly"] is True
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                for content in response.get("content", {}).values():
                    names = property_names(document, content["schema"], set())
                    assert "password" not in names, f"{method.upper()} {path} {status}"
    assert "password_set" in schemas["Proxy"]["properties"]


async def test_image_paths_take_names_with_slashes(api: ManagementApi) -> None:
    document = await api.ok("GET", "openapi.json")
    item = document["paths"]["/api/v1/repositories/{repo}/images/{image}"]
    (image,) = [p for p in item["get"]["parameters"] if p["name"] == "image"]
    assert "slash" in image["description"]
    assert set(item) == {"get", "delete"}
    assert set(document["paths"]["/api/v1/repositories/{repo}/images/{image}/tags/{tag}"]) == {"delete"}


async def test_every_operation_needs_basic_or_bearer_credentials(api: ManagementApi) -> None:
    document = await api.as_(None).ok("GET", "openapi.json")
    assert document["components"]["securitySchemes"] == {
        "basic": {"type": "http", "scheme": "basic", "description": ANY_TEXT},
        "bearer": {"type": "http", "scheme": "bearer", "description": ANY_TEXT},
    }
    assert document["security"] == [{"basic": []}, {"bearer": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation["security"] == document["security"], where
            unauthorized = operation["responses"]["401"]
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True, where
            assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True, where
            assert operation["description"].startswith("Who may call it: "), where
            if path not in ("/api/v1/me", "/api/v1/repositories") or method != "get":
                assert "403" in operation["responses"], where


async def test_the_token_secret_is_in_the_creation_answer_only(api: ManagementApi) -> None:
    document = await api.ok("GET", "openapi.json")
    schemas = document["components"]["schemas"]
    assert schemas["UserCreate"]["properties"]["password"]["writeOnly"] is True
    carrying = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                for content in response.get("content", {}).values():
                    if "secret" in property_names(document, content["schema"], set()):
                        carrying.add((method.upper(), path, status))
    assert carrying == {("POST", "/api/v1/users/{user}/tokens", "201")}


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT: Any = _AnyText()
