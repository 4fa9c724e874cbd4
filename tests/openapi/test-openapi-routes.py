#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The OpenAPI documents and the daemons' route tables list the same paths and methods, both
ways; a route counted against the rate limit documents its 429, and one that is not does not;
info.version is the project's version.

    test-openapi-routes.py VERSION REST.c DOCUMENT.json [REST.c DOCUMENT.json...]

Each REST.c has one static HttpRoute table ({ HTTP_GET, "/api/v1/vms/{}", handler, flags },
"{}" for one path segment); a table that cannot be found, or is empty, fails the test.
"""

import json
import re
import sys

TABLE = re.compile(r"HttpRoute\s+\w+\[\]\s*=\s*\{(.*?)\n\};", re.S)
ROUTE = re.compile(r"\{\s*HTTP_([A-Z]+)\s*,\s*\"([^\"]+)\"\s*,\s*(\w+)\s*,\s*([^}]*?)\s*\}")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def routes_of(source):
    with open(source) as f:
        text = f.read()
    tables = TABLE.findall(text)
    if len(tables) != 1:
        raise SystemExit(f"FAIL: {source}: expected one HttpRoute table, found {len(tables)}")
    routes = {}
    for method, pattern, handler, flags in ROUTE.findall(tables[0]):
        routes[(method.lower(), pattern)] = "HTTP_ROUTE_RATE_LIMITED" in flags
    body_lines = [line for line in tables[0].splitlines() if line.strip().startswith("{")]
    if not routes or len(routes) != len(body_lines):
        raise SystemExit(f"FAIL: {source}: read {len(routes)} routes of the {len(body_lines)} "
                         "lines of its table: the table's shape changed, adapt this test")
    return routes


def operations_of(document):
    with open(document) as f:
        doc = json.load(f)
    ops = {}
    for path, item in doc["paths"].items():
        pattern = re.sub(r"\{[^/}]+\}", "{}", path)
        for method in METHODS:
            if method in item:
                ops[(method, pattern)] = ("429" in item[method]["responses"], path)
    if not ops:
        raise SystemExit(f"FAIL: {document}: no operations")
    return doc, ops


def main():
    if len(sys.argv) < 4 or len(sys.argv) % 2 != 0:
        raise SystemExit(__doc__)
    version = sys.argv[1]
    failures = []
    for source, document in zip(sys.argv[2::2], sys.argv[3::2]):
        routes = routes_of(source)
        doc, ops = operations_of(document)
        name = document.rsplit("/", 1)[-1]
        if doc["info"]["version"] != version:
            failures.append(f"{name}: info.version {doc['info']['version']!r}, the project is {version!r}")
        for key, limited in sorted(routes.items()):
            if key not in ops:
                failures.append(f"{name}: does not document {key[0].upper()} {key[1]} (a route of {source})")
            elif ops[key][0] != limited:
                failures.append(f"{name}: {key[0].upper()} {ops[key][1]}: "
                                + ("is rate limited and does not document 429" if limited
                                   else "documents 429, and the route is not rate limited"))
        for key, (_, path) in sorted(ops.items()):
            if key not in routes:
                failures.append(f"{name}: documents {key[0].upper()} {path}, which {source} does not route")
        print(f"{name}: {len(ops)} operations, {len(routes)} routes")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("PASS: the documents and the route tables agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
