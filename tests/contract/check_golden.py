#!/usr/bin/python3
"""Checks the golden JSON bodies in tests/golden/ against recorded real responses.

    check_golden.py GOLDEN_DIR EXCHANGES.json [--write]

GOLDEN_DIR/manifest.json names each golden file and the responses ("METHOD PATH STATUS", where
`*` matches any method or path and `4xx` any status of that class) whose bodies it stands for.
A body whose top level has an `error` member is an error body and belongs to the file whose
schema is `Error`, whatever its path.

The *fields* of a JSON document are the paths of its object members: `connections[].state`,
`latency_ms.p95`; members of the objects listed in the manifest's `maps` are free-form keys and
count as one field `errors_by_kind{}`. For each golden file, the union of the fields of every
matching recorded body must equal the file's own fields: a field the server sends that the
golden file lacks, or one the golden file has that no response carried, fails the check. The
Go module's tests decode the same files into their structs (go/monitor/golden_test.go), so the
server, the golden files and the Go structs cannot drift apart.

--write replaces each golden file with the deep merge of its recorded bodies (objects merged
member by member, the elements of an array merged into one), which carries every field any
response had with a real value for each.

Exit status 1 with every difference listed; 0 when all files agree. Standard library only.
"""

import argparse
import json
import os
import sys


def fields(value, maps, prefix=""):
    found = set()
    if isinstance(value, dict):
        for key, member in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if key in maps:
                found.add(path + "{}")
                continue
            found.add(path)
            found |= fields(member, maps, path)
    elif isinstance(value, list):
        for element in value:
            found |= fields(element, maps, prefix + "[]")
    return found


def merge(into, value):
    if isinstance(into, dict) and isinstance(value, dict):
        for key, member in value.items():
            into[key] = merge(into[key], member) if key in into else member
        return into
    if isinstance(into, list) and isinstance(value, list):
        elements = into + value
        if not elements:
            return []
        merged = elements[0]
        for element in elements[1:]:
            merged = merge(merged, element)
        return [merged]
    # Scalars: keep a non-null value so the golden file shows the type a client must parse.
    return into if value is None else value


def matches(pattern, exchange):
    method, path, status = pattern.split(" ")
    if method not in ("*", exchange["method"]) or path not in ("*", exchange["path"]):
        return False
    if status.endswith("xx"):
        return str(exchange["status"]).startswith(status[0])
    return int(status) == exchange["status"]


def json_body(exchange):
    if not exchange.get("content_type", "").startswith("application/json"):
        return None
    body = exchange["body"]
    if isinstance(body, str):
        if not body:
            return None
        body = json.loads(body)
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("golden_dir")
    parser.add_argument("exchanges")
    parser.add_argument("--write", action="store_true")
    arguments = parser.parse_args()

    with open(os.path.join(arguments.golden_dir, "manifest.json")) as f:
        manifest = json.load(f)
    maps = set(manifest.get("maps", []))
    with open(arguments.exchanges) as f:
        exchanges = json.load(f)

    bodies = {name: [] for name in manifest["files"]}
    error_file = next(name for name, entry in manifest["files"].items() if entry["schema"] == "Error")
    for exchange in exchanges:
        if exchange["method"] == "HEAD":
            continue
        body = json_body(exchange)
        if not isinstance(body, dict):
            continue
        if "error" in body:
            if any(matches(p, exchange) for p in manifest["files"][error_file]["responses"]):
                bodies[error_file].append(body)
            continue
        for name, entry in manifest["files"].items():
            if name != error_file and any(matches(p, exchange) for p in entry["responses"]):
                bodies[name].append(body)

    problems = []
    for name, recorded in bodies.items():
        path = os.path.join(arguments.golden_dir, name)
        if not recorded:
            problems.append(f"{name}: no recorded response matched {manifest['files'][name]['responses']}")
            continue
        if arguments.write:
            merged = {}
            for body in recorded:
                merged = merge(merged, json.loads(json.dumps(body)))
            with open(path, "w") as f:
                json.dump(merged, f, indent=2, sort_keys=True)
                f.write("\n")
            print(f"wrote {path} from {len(recorded)} responses")
            continue
        try:
            with open(path) as f:
                golden = json.load(f)
        except (OSError, ValueError) as error:
            problems.append(f"{name}: {error}")
            continue
        sent = set().union(*(fields(body, maps) for body in recorded))
        kept = fields(golden, maps)
        for field in sorted(sent - kept):
            problems.append(f"{name}: the server sends `{field}`, the golden file lacks it")
        for field in sorted(kept - sent):
            problems.append(f"{name}: the golden file has `{field}`, no response ({len(recorded)} recorded) carried it")

    for problem in problems:
        print(problem)
    if problems:
        print("(regenerate with SC_WRITE_GOLDEN=1, see tests/golden/manifest.json)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
