#!/usr/bin/python3
"""Validate OCI runtime-spec config.json files against the schema Debian ships.

Usage: /usr/bin/python3 validate-oci.py CONFIG.json...

Run it with Debian's /usr/bin/python3 (python3-jsonschema), not another python3 in PATH.
Exit status: 0 all valid, 1 some invalid, 2 cannot check (usage, missing schema or module).
"""
import json
import os
import pathlib
import sys

SCHEMA_DIR = os.environ.get(
    "OCI_SCHEMA_DIR",
    "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema",
)


def make_validator():
    import jsonschema

    schema_path = pathlib.Path(SCHEMA_DIR) / "config-schema.json"
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    # The schema refers to defs.json, config-linux.json, ... by relative file names, so they
    # resolve against the directory the schema lives in.
    resolver = jsonschema.RefResolver(base_uri=schema_path.parent.as_uri() + "/", referrer=schema)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, resolver=resolver)


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        validator = make_validator()
    except (ImportError, OSError, ValueError) as e:
        print(f"validate-oci: cannot load the schema: {e}", file=sys.stderr)
        return 2

    status = 0
    for path in argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 1
            continue
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        for error in errors:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"{path}: {where}: {error.message}", file=sys.stderr)
        if errors:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
