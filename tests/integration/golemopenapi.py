"""The OpenAPI documents of the two daemons (openapi/golem-provider.json and
openapi/golem-discovery.json) as a check of their answers, for the world
module: golemworld.http() hands every answer of a golem daemon to
``check_answer()``, so that every integration case also checks that what the
daemons send is what the documents say.

An answer conforms when:
  - its path and method are an operation of the document, its status is one
    of that operation's responses (or one of x-golem-connection-errors, which
    the HTTP layer may answer before routing), its body validates against
    that response's schema (JSON Schema 2020-12, with python3-jsonschema) and
    it has the headers the response requires (a response documented with
    a text media type only, GET /metrics, comes with that Content-Type and
    a body that is not JSON);
  - or its path is a documented one and its method is not: 405
    METHOD_NOT_ALLOWED with an Allow header of the documented methods;
  - or its path is not documented: 404 NOT_FOUND.
The path is matched percent-decoded, as the daemons route it; HEAD is GET
without a body.  Where several documented paths match, the one
with a literal segment first wins, as in the daemons' route tables
(/api/v1/vms/jobs/{job_id} before /api/v1/vms/{name}/access).
"""

import json
import os
import urllib.parse

try:
    import jsonschema
except ImportError:     # a failure, not a skip: tools/check installs it
    jsonschema = None

OPENAPI_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "openapi")
DOCUMENTS = {"golem-providerd": "golem-provider.json",
             "golem-discoveryd": "golem-discovery.json"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")

_loaded = {}
# (document, path template, METHOD, status) of every answer that conformed to an operation.
SEEN = set()


def document(program):
    """The OpenAPI document of ``program`` (golem-providerd or
    golem-discoveryd), loaded once."""
    if program not in _loaded:
        _loaded[program] = OpenAPI(os.path.join(OPENAPI_DIR,
                                                DOCUMENTS[program]))
    return _loaded[program]


class OpenAPI:
    def __init__(self, path):
        if jsonschema is None:
            raise AssertionError("python3-jsonschema is missing (apt-get "
                                 "install python3-jsonschema): the answers "
                                 "of the daemons cannot be checked against "
                                 "openapi/")
        self.name = os.path.basename(path)
        with open(path) as f:
            self.doc = json.load(f)
        self.paths = [(p.split("/")[1:], p, item)
                      for p, item in self.doc["paths"].items()]
        self.connection_errors = self.doc["x-golem-connection-errors"][
            "statuses"]
        self._validators = {}

    # -- lookups

    def match(self, path):
        """The documented paths that match the request path ``path``, best
        first: [(template, path item)]."""
        segments = path.split("/")[1:]
        found = []
        for template, name, item in self.paths:
            if len(template) != len(segments):
                continue
            if all(t.startswith("{") or t == s
                   for t, s in zip(template, segments)):
                if all(s for t, s in zip(template, segments)
                       if t.startswith("{")):
                    found.append((template, name, item))
        found.sort(key=lambda m: [t.startswith("{") for t in m[0]])
        return [(name, item) for _, name, item in found]

    def resolve(self, obj):
        """``obj`` with its local $ref followed (components/responses...)."""
        while "$ref" in obj and obj["$ref"].startswith("#/components/") \
                and len(obj) == 1:
            node = self.doc
            for part in obj["$ref"][2:].split("/"):
                node = node[part]
            obj = node
        return obj

    def validator(self, key, schema):
        """A JSON Schema 2020-12 validator of ``schema``, whose refs resolve
        in this document's components."""
        v = self._validators.get(key)
        if v is None:
            wrapper = dict(schema)
            wrapper["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            wrapper["components"] = self.doc["components"]
            cls = jsonschema.Draft202012Validator
            cls.check_schema(wrapper)
            v = self._validators[key] = cls(wrapper)
        return v

    def _envelope(self, where, data, code):
        schema = {"$ref": "#/components/schemas/Error"}
        self._validate(("error",), schema, data, where)
        if data["detail"]["code"] != code:
            raise AssertionError(f"{where}: detail.code {data['detail']['code']!r}"
                                 f", {self.name} says {code}")

    def _validate(self, key, schema, data, where):
        errors = sorted(self.validator(key, schema).iter_errors(data),
                        key=lambda e: list(e.absolute_path))
        if errors:
            e = errors[0]
            at = "/".join(str(p) for p in e.absolute_path) or "(the body)"
            raise AssertionError(
                f"{where}: the body does not match {self.name}: at {at}: "
                f"{e.message}; body {json.dumps(data)[:600]}")

    # -- the check

    def check(self, method, path, status, headers, data):
        """Fails (AssertionError) unless the answer conforms (see the top of
        this file).  ``headers`` have lower-case names; ``data`` is the
        parsed JSON body, or bytes when it is not JSON."""
        where = f"{method} {path} -> {status}"
        lookup = "get" if method.upper() == "HEAD" else method.lower()
        with_body = method.upper() != "HEAD"
        if with_body and isinstance(data, bytes) and \
                not self._text_answer(path, lookup, status):
            raise AssertionError(f"{where}: the body is not JSON: "
                                 f"{data[:200]!r}")
        matches = self.match(path)
        status_key = str(status)
        if not matches or not any(lookup in item for _, item in matches):
            if status_key in self.connection_errors and status != 404 and \
                    status != 405:
                if with_body:
                    self._envelope(where, data,
                                   self.connection_errors[status_key])
                return
            if not matches:
                if status != 404:
                    raise AssertionError(f"{where}: {path} is not a path of "
                                         f"{self.name}, yet not 404")
                if with_body:
                    self._envelope(where, data, "NOT_FOUND")
                return
            allowed = {m.upper() for _, item in matches
                       for m in METHODS if m in item}
            if "GET" in allowed:  # HEAD is served wherever GET is
                allowed.add("HEAD")
            allowed = sorted(allowed)
            if status != 405:
                raise AssertionError(f"{where}: {self.name} has no "
                                     f"{method} on {matches[0][0]}, yet not "
                                     "405")
            got = sorted(a.strip() for a in headers.get("allow", "").split(",")
                         if a.strip())
            if got != allowed:
                raise AssertionError(f"{where}: Allow is {got}, {self.name} "
                                     f"documents {allowed}")
            if with_body:
                self._envelope(where, data, "METHOD_NOT_ALLOWED")
            return

        name, item = next((n, i) for n, i in matches if lookup in i)
        operation = item[lookup]
        responses = operation["responses"]
        if status_key not in responses:
            if status_key in self.connection_errors:
                if with_body:
                    self._envelope(where, data,
                                   self.connection_errors[status_key])
                return
            raise AssertionError(
                f"{where}: {self.name} does not document {status} for "
                f"{lookup.upper()} {name} (it has {', '.join(responses)}); "
                f"body {json.dumps(data)[:300] if not isinstance(data, bytes) else data[:300]!r}")
        self._check_response(where, responses[status_key], headers, data,
                             (name, lookup, status_key), with_body)
        SEEN.add((self.name, name, lookup.upper(), status))

    def _text_answer(self, path, method, status):
        """The media type of the documented answer when it is text, not
        JSON, else None."""
        for _, item in self.match(path):
            if method in item:
                response = self.resolve(
                    item[method]["responses"].get(str(status), {}))
                types = list(response.get("content", {}))
                if types and all(t.startswith("text/") for t in types):
                    return types[0]
                return None
        return None

    def _check_response(self, where, response, headers, data, key, with_body):
        response = self.resolve(response)
        for header, spec in response.get("headers", {}).items():
            spec = self.resolve(spec)
            if spec.get("required") and header.lower() not in headers:
                raise AssertionError(f"{where}: no {header} header, which "
                                     f"{self.name} requires")
        text = [t for t in response.get("content", {})
                if t.startswith("text/")]
        if text and with_body:
            ctype = headers.get("content-type", "")
            if ctype not in text:
                raise AssertionError(f"{where}: Content-Type {ctype!r}, "
                                     f"{self.name} says {text[0]}")
            if not isinstance(data, bytes):
                raise AssertionError(f"{where}: a JSON body, {self.name} "
                                     f"says {text[0]}")
            return
        content = response.get("content", {}).get("application/json")
        if content is None or not with_body:
            return
        ctype = headers.get("content-type", "")
        if not ctype.startswith("application/json"):
            raise AssertionError(f"{where}: Content-Type {ctype!r}, "
                                 f"{self.name} says application/json")
        self._validate(key, content["schema"], data, where)


def check_answer(program, method, target, status, headers, data):
    """Checks an answer of ``program`` (golem-providerd or
    golem-discoveryd) to ``method target`` against its document."""
    # The daemons route the path percent-decoded.
    path = urllib.parse.unquote(target.split("?", 1)[0])
    document(program).check(method, path, status, headers, data)
