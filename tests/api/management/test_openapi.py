"""The OpenAPI 3.1 document at /api/v1/openapi.json describes what the server really routes: every /api/v1
route with its method and nothing else, request bodies that refuse unknown fields, error answers in the
``Error`` shape, and no response that could carry a password."""

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
    assert len(described) == 21
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
