"""Which statuses keycred answered each operation with, from its own request log.

Usage: status_report.py openapi.yaml SERVE_LOG FIRST_LINE

Reads the `request` log lines keycred wrote from line FIRST_LINE on (the
schemathesis run), matches each to an operation of the spec, and prints one row
per operation with the count of each status. Exits non-zero if an operation was
never answered with a 2xx: the pinned parameters of schemathesis.toml are there
so that generated cases reach the success branches, not only the 4xx ones.
"""

import re
import sys
from collections import Counter, defaultdict

import yaml

LINE = re.compile(r"\bmethod=(\S+) path=(\S+) status=(\d{3})\b")
METHODS = ("get", "put", "post", "patch", "delete")


def routes(spec: dict) -> list:
    """(method, compiled path regex, operationId), longest paths first."""
    found = []
    for path, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
        for method in METHODS:
            if method in item:
                found.append((method.upper(), pattern, item[method]["operationId"]))
    return found


def main() -> None:
    spec_path, log_path, first_line = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(spec_path) as file:
        known = routes(yaml.safe_load(file))
    statuses: dict = defaultdict(Counter)
    with open(log_path, errors="replace") as file:
        for number, line in enumerate(file, start=1):
            match = LINE.search(line) if number >= first_line else None
            if not match:
                continue
            method, path, status = match.groups()
            operation = next((op for m, pattern, op in known if m == method and pattern.match(path)), None)
            statuses[operation or "(no operation: unknown path or method)"][status] += 1

    never_succeeded = []
    print(f"{'operation':34} statuses answered (count)")
    for _, _, operation in known:
        counts = statuses.get(operation, Counter())
        print(f"{operation:34} " + ", ".join(f"{status}: {count}" for status, count in sorted(counts.items())))
        if not any(status.startswith("2") for status in counts):
            never_succeeded.append(operation)
    other = statuses.get("(no operation: unknown path or method)")
    if other:
        print(f"{'(unknown path or method)':34} " + ", ".join(f"{s}: {c}" for s, c in sorted(other.items())))
    if never_succeeded:
        sys.exit(f"never answered with a 2xx: {', '.join(never_succeeded)}")


if __name__ == "__main__":
    main()
