"""The OpenAPI document describes every request and response, and the bearer token Swagger's Authorize asks for."""

from typing import Any

from fastapi.testclient import TestClient

BODY_METHODS = {"post", "put", "patch"}


def _spec(app_client: TestClient) -> dict[str, Any]:
    response = app_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def _typed(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Not `{}`, and not an object or list of objects that says nothing of its keys (a bare `dict[str, Any]`)."""
    schema = _resolve(spec, schema)
    if not schema:
        return False
    if schema.get("type") == "array":
        return _typed(spec, schema.get("items", {}))
    if schema.get("type") == "object" and "properties" not in schema:
        return schema.get("additionalProperties") not in (None, True, {})
    return True


def test_every_json_response_has_a_schema(app_client: TestClient) -> None:
    spec = _spec(app_client)
    untyped = []
    for method, path, operation in _operations(spec):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, f"{method.upper()} {path} declares no 2xx response"
        for code, response in successes.items():
            for media, content in response.get("content", {}).items():
                if media == "application/json" and not _typed(spec, content.get("schema", {})):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []


def test_every_body_has_a_schema(app_client: TestClient) -> None:
    spec = _spec(app_client)
    # Routes that take no body at all: claiming a lock, reopening a document or cancelling a training run acts on
    # the path alone.
    bodyless = {
        ("post", "/api/v1/documents/{document_id}/claim"),
        ("post", "/api/v1/documents/{document_id}/reopen"),
        ("post", "/api/v1/training-runs/{run_id}/cancel"),
    }
    missing = []
    for method, path, operation in _operations(spec):
        if method not in BODY_METHODS or (method, path) in bodyless:
            continue
        content = operation.get("requestBody", {}).get("content", {})
        if not content or not all(_typed(spec, c.get("schema", {})) for c in content.values()):
            missing.append(f"{method.upper()} {path}")
    assert missing == []


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_known_shapes_are_named(app_client: TestClient) -> None:
    """Clients generated from the document get named types, not anonymous objects, and every reference resolves."""
    spec = _spec(app_client)
    schemas = spec["components"]["schemas"]
    for name in ("ProjectRead", "AnnotatorRead", "SnapshotRead", "DecisionOutcome", "LockState", "QueueEntry"):
        assert name in schemas, name
    assert {ref.removeprefix("#/components/schemas/") for ref in _refs(spec)} <= set(schemas)
    # A project's schema and settings are validated by the service, yet documented.
    create = schemas["ProjectCreate"]["properties"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/LabelSchema"} in create
    settings = schemas["ProjectUpdate"]["properties"]["settings"]["anyOf"][0]
    assert {"languages", "min_chars", "reviewers_per_document"} <= set(settings["properties"])
    # So are an annotator's parameters, asked for and shown.
    for shape in ("AnnotatorCreate", "AnnotatorRead"):
        parameters = schemas[shape]["properties"]["parameters"]
        assert {"role", "temperature", "concurrency", "training_run"} <= set(parameters["properties"]), shape


def test_bearer_scheme_is_declared_and_used(app_client: TestClient) -> None:
    spec = _spec(app_client)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token: `concord token create --username U`.",
    }
    operations = {(m, p): op for m, p, op in _operations(spec)}
    assert operations[("get", "/api/v1/projects")]["security"] == [{"bearer": []}]
    assert operations[("post", "/api/v1/projects/{project_id}/snapshots")]["security"] == [{"bearer": []}]
    # Public routes ask for nothing.
    assert "security" not in operations[("get", "/healthz")]
    # Every /api/v1 route takes the token.
    assert all("security" in op for (_m, p), op in operations.items() if p.startswith("/api/v1/"))


def test_missing_or_malformed_tokens_answer_as_before(app_client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer   "}, {"Authorization": "Bearer"}):
        response = app_client.get("/api/v1/projects", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer <token>" in response.json()["detail"]
    wrong = app_client.get("/api/v1/projects", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
