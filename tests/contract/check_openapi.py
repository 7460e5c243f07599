#!/usr/bin/python3
"""Checks recorded HTTP exchanges against an OpenAPI 3.0 spec, both ways.

    check_openapi.py SPEC.yaml EXCHANGES.json [--allow-unexercised ITEM]...

EXCHANGES.json is a list of recorded responses:
    [{"method": "GET", "path": "/api/v1/secure-channel/connections/{id}", "status": 200,
      "content_type": "application/json", "body": "{...}", "headers": {"Allow": "..."}}]
`path` is a path template of the spec (a concrete path such as /connections/7 is matched
against the templates too); a path the spec does not list is checked against the spec's
`x-unmatched-path-responses`. `body` is the raw body text (parsed here when the media type is
JSON) or an already parsed JSON value. `headers` is optional; when present, every header the
spec declares for that response must be in it.

Fails (exit 1), listing every problem, when:
  * a body does not match the schema of its path/method/status/content type;
  * an exchange's path, method, status or content type is not described in the spec;
  * the spec describes a response (METHOD PATH STATUS) no exchange exercised, or a schema
    property no response ever carried (so spec and server cannot drift apart), unless the item
    ("GET /metrics 500", or a property's location such as
    "#/components/schemas/PoolHealth/properties/last_connect_error") is allow-listed.

Only the subset of JSON Schema the spec uses is understood: type (integer is a JSON number
without fraction or exponent: 3 is an integer, 3.0 is not; any integer is a number), nullable,
enum, format date-time, minimum, maximum, required, properties, additionalProperties (boolean or
schema), items, oneOf, anyOf, allOf, and $ref to "#/...". Standard library and PyYAML only.
"""

import argparse
import json
import re
import sys

import yaml

DATE_TIME = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
KNOWN_KEYWORDS = {
    "type", "nullable", "enum", "format", "minimum", "maximum", "required", "properties", "additionalProperties",
    "items", "oneOf", "anyOf", "allOf", "$ref", "description", "example", "title", "default",
}


def pointer_escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_join(pointer, token):
    return pointer + "/" + pointer_escape(token)


def json_type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short(value, limit=60):
    text = json.dumps(value) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Spec:
    def __init__(self, document):
        self.document = document
        self.location = {}  # id(schema dict) -> "#/..." where it is written
        self.seen_properties = set()  # (id(schema dict), property name)
        self.problems = []  # unsupported keywords etc., reported as spec errors
        self._index(document, "#")

    def _index(self, node, pointer):
        if isinstance(node, dict):
            self.location.setdefault(id(node), pointer)
            for key, value in node.items():
                self._index(value, pointer_join(pointer, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self._index(value, pointer_join(pointer, index))

    def resolve(self, node):
        """Follows $ref chains; returns the target node."""
        hops = 0
        while isinstance(node, dict) and "$ref" in node:
            reference = node["$ref"]
            if not reference.startswith("#/"):
                raise ValueError("only local references are supported: " + reference)
            target = self.document
            for token in reference[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(target, list):
                    target = target[int(token)]
                elif isinstance(target, dict) and token in target:
                    target = target[token]
                else:
                    raise ValueError("unresolvable $ref " + reference)
            node = target
            hops += 1
            if hops > 50:
                raise ValueError("$ref loop at " + reference)
        return node

    def declared_properties(self):
        """Every (schema, property) the spec declares, with its location."""
        found = []

        def walk(node):
            if isinstance(node, dict):
                properties = node.get("properties")
                if isinstance(properties, dict) and all(isinstance(v, dict) for v in properties.values()):
                    for name in properties:
                        found.append((id(node), name, self.location.get(id(properties[name]), "?")))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.document)
        return found

    # -- validation -----------------------------------------------------------------------

    def validate(self, schema, value, pointer, errors):
        """Appends (pointer, expected, got) for every mismatch of `value` against `schema`."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            errors.append((pointer, "a schema object in the spec", repr(schema)))
            return
        for keyword in schema:
            if keyword not in KNOWN_KEYWORDS and not keyword.startswith("x-"):
                errors.append((pointer, "schema keyword this checker understands",
                               "'%s' at %s" % (keyword, self.location.get(id(schema), "?"))))

        if value is None:
            if schema.get("nullable") is True:
                return
            if "type" in schema or "properties" in schema:
                errors.append((pointer, "non-null " + schema.get("type", "value"), "null"))
                return

        for combinator in ("oneOf", "anyOf"):
            if combinator in schema:
                branch_errors = []
                for branch in schema[combinator]:
                    attempt = []
                    self._validate_quietly(branch, value, pointer, attempt)
                    branch_errors.append(attempt)
                matches = sum(1 for attempt in branch_errors if not attempt)
                if matches == 0:
                    detail = "; ".join(
                        "branch %d: %s" % (i, ", ".join("%s expected %s got %s" % e for e in attempt[:3]))
                        for i, attempt in enumerate(branch_errors)
                    )
                    errors.append((pointer, "a match for one %s branch" % combinator, "none (" + detail + ")"))
                elif combinator == "oneOf" and matches > 1:
                    errors.append((pointer, "exactly one oneOf branch to match", "%d matched" % matches))
                else:
                    # Record the properties seen through the matching branch only.
                    for branch, attempt in zip(schema[combinator], branch_errors):
                        if not attempt:
                            self.validate(branch, value, pointer, [])
                            break
        for branch in schema.get("allOf", []):
            self.validate(branch, value, pointer, errors)

        expected_type = schema.get("type")
        if expected_type is not None:
            got = json_type_name(value)
            ok = got == expected_type or (expected_type == "number" and got == "integer")
            if not ok:
                errors.append((pointer, expected_type, "%s %s" % (got, short(value))))
                return

        if "enum" in schema and value not in schema["enum"]:
            errors.append((pointer, "one of %s" % json.dumps(schema["enum"]), short(value)))

        if schema.get("format") == "date-time" and isinstance(value, str) and not DATE_TIME.match(value):
            errors.append((pointer, "RFC 3339 date-time", short(value)))

        if "minimum" in schema and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < schema["minimum"]:
                errors.append((pointer, ">= %s" % schema["minimum"], short(value)))
        if "maximum" in schema and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value > schema["maximum"]:
                errors.append((pointer, "<= %s" % schema["maximum"], short(value)))

        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    errors.append((pointer_join(pointer, name), "required property '%s'" % name, "absent"))
            additional = schema.get("additionalProperties", True)
            for name, item in value.items():
                child = pointer_join(pointer, name)
                if name in properties:
                    self.seen_properties.add((id(schema), name))
                    self.validate(properties[name], item, child, errors)
                elif additional is False:
                    errors.append((child, "no property '%s' (additionalProperties: false)" % name, short(item)))
                elif isinstance(additional, dict):
                    self.validate(additional, item, child, errors)

        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.validate(schema["items"], item, pointer_join(pointer, index), errors)

    def _validate_quietly(self, schema, value, pointer, errors):
        """Validates without recording seen properties (for trying oneOf/anyOf branches)."""
        saved = set(self.seen_properties)
        self.validate(schema, value, pointer, errors)
        self.seen_properties = saved


def compile_template(template):
    parts = re.split(r"(\{[^/{}]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    return re.compile("^" + regex + "$")


def media_base(content_type):
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media(content_type):
    base = media_base(content_type)
    return base == "application/json" or base.endswith("+json")


def find_response(responses, status):
    """The response object for `status`, trying "404", then "4XX", then "default"."""
    for key in (str(status), str(status)[0] + "XX", "default"):
        if key in responses:
            return key, responses[key]
        if key.isdigit() and int(key) in responses:  # YAML may load unquoted codes as ints
            return key, responses[int(key)]
    return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec")
    parser.add_argument("exchanges")
    parser.add_argument("--allow-unexercised", action="append", default=[], metavar="ITEM",
                        help='"METHOD PATH STATUS" or a property location "#/components/..."')
    arguments = parser.parse_args()

    with open(arguments.spec, encoding="utf-8") as f:
        spec = Spec(yaml.safe_load(f))
    with open(arguments.exchanges, encoding="utf-8") as f:
        exchanges = json.load(f)

    document = spec.document
    failures = []
    paths = document.get("paths", {})
    templates = [(template, compile_template(template)) for template in paths]
    unmatched = document.get("x-unmatched-path-responses", {})

    # Every response the spec describes: "GET /path 200" (and "* <unmatched> 404").
    described = set()
    for template, item in paths.items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                for status in operation.get("responses", {}):
                    if str(status) != "default":
                        described.add("%s %s %s" % (method.upper(), template, status))
    for status in unmatched:
        described.add("* <unmatched path> %s" % status)
    exercised = set()

    for number, exchange in enumerate(exchanges):
        method = str(exchange.get("method", "GET")).upper()
        path = str(exchange.get("path", ""))
        status = int(exchange.get("status", 0))
        content_type = str(exchange.get("content_type", ""))
        body = exchange.get("body", "")
        where = "#%d %s %s %d" % (number, method, path, status)
        if exchange.get("target"):
            where += " (%s)" % exchange["target"]

        def fail(pointer, expected, got):
            place = "response" if pointer is None else "body " + (pointer or "(root)")
            failures.append("%s: %s: expected %s, got %s" % (where, place, expected, got))

        # Path and operation.
        template = path if path in paths else next((t for t, rx in templates if rx.match(path)), None)
        if template is None:
            if not unmatched:
                fail(None, "a path described in the spec", "undescribed path")
                continue
            key, response = find_response(unmatched, status)
            if response is None:
                fail(None, "a status in x-unmatched-path-responses %s" % sorted(map(str, unmatched)), status)
                continue
            exercised.add("* <unmatched path> %s" % key)
        else:
            item = paths[template]
            operation = item.get(method.lower())
            coverage_method = method
            if operation is None:
                # Methods the path does not serve: the 405 its operations describe.
                served = [m for m in HTTP_METHODS if isinstance(item.get(m), dict)]
                with_405 = [m for m in served if find_response(item[m].get("responses", {}), 405)[0] == "405"]
                if status != 405 or not with_405:
                    fail(None, "a method described for %s (%s)" % (template, ", ".join(m.upper() for m in served)),
                         "%s answered %d" % (method, status))
                    continue
                coverage_method = with_405[0].upper()
                operation = item[with_405[0]]
            key, response = find_response(operation.get("responses", {}), status)
            if response is None:
                fail(None, "a status described for %s %s (%s)" % (coverage_method, template,
                                                              ", ".join(map(str, operation.get("responses", {})))),
                     status)
                continue
            exercised.add("%s %s %s" % (coverage_method, template, key))

        try:
            response = spec.resolve(response)
        except ValueError as error:
            fail(None, "a resolvable response", str(error))
            continue

        # Headers the spec declares.
        if isinstance(exchange.get("headers"), dict):
            present = {name.lower() for name in exchange["headers"]}
            for name in response.get("headers", {}) or {}:
                if name.lower() not in present:
                    fail(None, "header %s" % name, "absent")

        # Media type and body.
        content = response.get("content") or {}
        if not content:
            if body not in ("", None):
                fail(None, "no body", "a %s body" % content_type)
            continue
        media = content.get(content_type)
        if media is None:
            media = next((m for t, m in content.items() if media_base(t) == media_base(content_type)), None)
        if media is None:
            fail(None, "content type one of %s" % ", ".join(content), repr(content_type))
            continue
        if is_json_media(content_type) and isinstance(body, str):
            try:
                value = json.loads(body)
            except ValueError as error:
                fail(None, "a JSON body", "unparsable (%s): %s" % (error, short(body)))
                continue
        else:
            value = body
        errors = []
        try:
            spec.validate(media.get("schema", {}), value, "", errors)
        except ValueError as error:
            errors.append(("", "a valid spec", str(error)))
        for pointer, expected, got in errors:
            fail(pointer, expected, got)

    # The other direction: everything the spec promises was seen at least once.
    allowed = set(arguments.allow_unexercised)
    for item in sorted(described - exercised - allowed):
        failures.append("spec describes a response no exchange exercised: %s" % item)
    for schema_id, name, location in spec.declared_properties():
        if (schema_id, name) not in spec.seen_properties and location not in allowed:
            failures.append("spec declares a property no response carried: %s" % location)
    for item in sorted(allowed - described):
        if not item.startswith("#/"):
            failures.append("allow-listed item is not described in the spec (stale allow-list?): %s" % item)

    if failures:
        print("%d contract mismatch(es) between %s and %d recorded exchanges:" %
              (len(failures), arguments.spec, len(exchanges)))
        for failure in failures:
            print("  " + failure)
        return 1
    print("OK: %d exchanges match %s; %d described responses all exercised" %
          (len(exchanges), arguments.spec, len(described)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
