"""Checks the rules of openapi.yaml that openapi-spec-validator and spectral do not.

Usage: check_spec.py openapi.yaml   (exit status 1 and one line per problem if any)

- Every operation has an operationId, a declared tag, a summary and a description.
- Every parameter has a description.
- Every request and response body has an example (`example` or `examples`).
- Every operation lists every error response keycred can answer it with, each in
  the error shape of its style (`Error`, or `TokenError` on the token endpoint):
    400 and 500 always (every operation takes X-Client-Request-ID, which can be
        malformed, and anything can fail inside), only 500 for the operations served
        by hand (`x-hand-written`: the contract documents and /docs take nothing);
    401 and 503 when it needs a token or a credential (both are looked up in the
        database);
    403 and 404 under /organizations/{organization_id} (roles; unknown IDs);
    413 and 415 when it has a request body (size limit; media type);
    412 when it takes If-Match (a version that no longer matches).
  A 401 documents its WWW-Authenticate header.
- Every operation that creates a resource (a POST whose 2xx body has an `id`) has a
  link to every operation on the resource's own path, passing that `id`, so a
  client or schemathesis's stateful phase can follow it; and every link names an
  existing operation and exactly that operation's path parameters.
"""

import re
import sys

import yaml

METHODS = ("get", "put", "post", "patch", "delete", "options", "head", "trace")


def resolve(spec: dict, node: dict) -> dict:
    """Follows a local `$ref` (one level is all this spec uses)."""
    reference = node.get("$ref")
    if reference is None:
        return node
    target = spec
    for part in reference.removeprefix("#/").split("/"):
        target = target[part]
    return target


def operations(spec: dict):
    """(path, method, path item, operation) for every operation."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item, item[method]


def parameters(spec: dict, item: dict, operation: dict) -> list:
    """An operation's parameters, its path item's included, resolved."""
    return [resolve(spec, p) for p in item.get("parameters", []) + operation.get("parameters", [])]


def has_example(media: dict) -> bool:
    return "example" in media or bool(media.get("examples"))


def expected_errors(path: str, operation: dict, spec: dict) -> set:
    """The error statuses keycred can answer this operation with (see the module doc)."""
    # Served by hand (x-hand-written): no parameters, so nothing the client sends can be a 400.
    statuses = {"500"} if operation.get("x-hand-written") else {"400", "500"}
    security = operation.get("security", spec.get("security", []))
    if any(requirement for requirement in security):
        statuses |= {"401", "503"}
    if path.startswith("/organizations/{organization_id}"):
        statuses |= {"403", "404"}
    if "requestBody" in operation:
        statuses |= {"413", "415"}
    if any(parameter.get("name") == "If-Match" for parameter in parameters(spec, {}, operation)):
        statuses |= {"412"}
    return statuses


def schema_name(media: dict) -> str | None:
    reference = media.get("schema", {}).get("$ref", "")
    return reference.rsplit("/", 1)[-1] if reference else None


def check_operation(spec: dict, path: str, method: str, item: dict, operation: dict, problems: list) -> None:
    where = f"{method.upper()} {path}"
    declared_tags = {tag["name"] for tag in spec.get("tags", [])}
    for field in ("operationId", "summary", "description"):
        if not operation.get(field):
            problems.append(f"{where}: no {field}")
    tags = operation.get("tags") or []
    if not tags:
        problems.append(f"{where}: no tag")
    for tag in tags:
        if tag not in declared_tags:
            problems.append(f"{where}: tag {tag!r} is not declared in the top-level tags")

    for parameter in parameters(spec, item, operation):
        if not parameter.get("description"):
            problems.append(f"{where}: parameter {parameter['name']} has no description")

    if "requestBody" in operation:
        for media_type, media in resolve(spec, operation["requestBody"])["content"].items():
            if not has_example(media):
                problems.append(f"{where}: request body {media_type} has no example")

    error_schema = "TokenError" if operation.get("x-error-style") == "oauth" else "Error"
    responses = operation.get("responses", {})
    for status, response in responses.items():
        response = resolve(spec, response)
        for media_type, media in response.get("content", {}).items():
            if not has_example(media):
                problems.append(f"{where}: response {status} {media_type} has no example")
            if status[0] in "45" and schema_name(media) != error_schema:
                problems.append(f"{where}: response {status} is not a {error_schema}")
        if status[0] in "45" and not response.get("content"):
            problems.append(f"{where}: response {status} has no body")
        if status == "401" and "WWW-Authenticate" not in response.get("headers", {}):
            problems.append(f"{where}: response 401 does not document WWW-Authenticate")
    for status in sorted(expected_errors(path, operation, spec) - set(responses)):
        problems.append(f"{where}: keycred can answer {status}, which is not documented")


def path_parameter_names(path: str) -> set:
    return set(re.findall(r"{([^}]+)}", path))


def check_links(spec: dict, problems: list) -> None:
    by_id = {operation["operationId"]: (path, method) for path, method, _, operation in operations(spec)}
    for path, method, _, operation in operations(spec):
        where = f"{method.upper()} {path}"
        for status, response in operation.get("responses", {}).items():
            links = {name: resolve(spec, link) for name, link in resolve(spec, response).get("links", {}).items()}
            for name, link in links.items():
                target = by_id.get(link.get("operationId"))
                if target is None:
                    problems.append(f"{where}: link {name} names no known operationId")
                    continue
                wanted = path_parameter_names(target[0])
                given = set(link.get("parameters", {}))
                if given != wanted:
                    problems.append(f"{where}: link {name} passes {sorted(given)}, {target[0]} needs {sorted(wanted)}")
                for expression in link.get("parameters", {}).values():
                    if not str(expression).startswith(("$request.", "$response.")):
                        problems.append(f"{where}: link {name} has a constant parameter {expression!r}")

            # A create: the resource's own path is this path plus one {parameter}.
            if method != "post" or not status.startswith("2"):
                continue
            media = resolve(spec, response).get("content", {}).get("application/json")
            body = resolve(spec, media["schema"]) if media else {}
            if "id" not in body.get("properties", {}):
                continue
            for other_path, other_method, _, other in operations(spec):
                match = re.fullmatch(re.escape(path) + r"/{([^}/]+)}", other_path)
                if not match:
                    continue
                passing_id = [
                    link
                    for link in links.values()
                    if link.get("operationId") == other["operationId"]
                    and link.get("parameters", {}).get(match.group(1)) == "$response.body#/id"
                ]
                if not passing_id:
                    problems.append(f"{where}: no link to {other['operationId']} with {match.group(1)}: $response.body#/id")


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = yaml.safe_load(file)
    problems: list = []
    count = 0
    for path, method, item, operation in operations(spec):
        count += 1
        check_operation(spec, path, method, item, operation, problems)
    check_links(spec, problems)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print(f"{count} operations: each has its operationId, tag, summary, description, examples and error responses")


if __name__ == "__main__":
    main()
