"""JSON Schemas as data: loaded once from ``schemas/``, resolved locally, never fetched.

Every ``*.schema.json`` file is registered in a :class:`referencing.Registry` under its ``$id``;
``$ref`` between them resolves inside that registry, and a reference to anything else fails
instead of going to the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from connector.errors import ValidationFailed

SCHEMA_SUFFIX = ".schema.json"


def _refuse_retrieval(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)


class SchemaStore:
    """The project's schemas, keyed by short name (``dataset`` for ``dataset.schema.json``)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"schemas directory not found: {self.directory}")
        self.documents: dict[str, dict[str, Any]] = {}
        resources = []
        for path in sorted(self.directory.glob("*" + SCHEMA_SUFFIX)):
            document = json.loads(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(document)
            self.documents[path.name.removesuffix(SCHEMA_SUFFIX)] = document
            resources.append((document["$id"], Resource.from_contents(document)))
        self.registry: Registry = Registry(retrieve=_refuse_retrieval).with_resources(resources)
        self._validators = {
            name: Draft202012Validator(doc, registry=self.registry, format_checker=FormatChecker())
            for name, doc in self.documents.items()
        }

    def iter_errors(self, name: str, instance: Any) -> Iterator[ValidationError]:
        """Every validation error of ``instance`` against the schema ``name``."""
        return self._validators[name].iter_errors(instance)

    def validate(self, name: str, instance: Any) -> None:
        """Raise :class:`ValidationFailed` listing every error, each with its JSON path."""
        errors = sorted(self.iter_errors(name, instance), key=lambda e: list(e.absolute_path))
        if errors:
            raise ValidationFailed([describe_error(e) for e in errors])


def describe_error(error: ValidationError) -> dict[str, str]:
    """One error as ``{"path": "$.a[0]", "message": ...}`` in words a caller can act on."""
    message = error.message
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        message = "unknown field(s): " + ", ".join(extra)
    elif error.validator == "unevaluatedProperties":
        message = "unknown field(s): " + ", ".join(re.findall(r"'([^']+)'", error.message))
    elif error.validator in ("anyOf", "oneOf") and all(
        set(branch) == {"required"} for branch in error.validator_value
    ):
        names = [", ".join(branch["required"]) for branch in error.validator_value]
        message = f"needs {'exactly ' if error.validator == 'oneOf' else ''}one of: " + "; ".join(names)
    elif error.validator == "pattern" and "description" in error.schema:
        description = error.schema["description"].rstrip(".")
        message = f"{error.instance!r} is not valid: expected {description[0].lower()}{description[1:]}"
    return {"path": error.json_path, "message": message}
