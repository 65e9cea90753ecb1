"""JSON Schemas as data: loaded once from ``schemas/``, resolved locally, never fetched.

Every ``*.schema.json`` file is registered in a :class:`referencing.Registry` under its ``$id``;
``$ref`` between them resolves inside that registry, and a reference to anything else fails
instead of going to the network. Each schema is checked against its meta-schema when it is first
used, so a process that validates one kind of document does not pay for all of them.
"""

from __future__ import annotations

import functools
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
            self.documents[path.name.removesuffix(SCHEMA_SUFFIX)] = document
            resources.append((document["$id"], Resource.from_contents(document)))
        self.registry: Registry = Registry(retrieve=_refuse_retrieval).with_resources(resources)
        self._validators: dict[str, Draft202012Validator] = {}
        self._fast_validators: dict[str, Any] = {}

    def _validator(self, name: str) -> Draft202012Validator:
        # Checked and built on first use: checking all of them costs about 0.2 s per process,
        # paid by every staging job that only needs the manifest's.
        validator = self._validators.get(name)
        if validator is None:
            document = self.documents[name]
            Draft202012Validator.check_schema(document)
            validator = Draft202012Validator(document, registry=self.registry, format_checker=FormatChecker())
            self._validators[name] = validator
        return validator

    def iter_errors(self, name: str, instance: Any) -> Iterator[ValidationError]:
        """Every validation error of ``instance`` against the schema ``name``."""
        return self._validator(name).iter_errors(instance)

    def prepare(self, name: str) -> None:
        """Check the schema ``name`` and build its validators now, not on first use (a caller
        can do this in the background before the document it must validate exists)."""
        if name not in self._fast_validators:
            self._validator(name)  # checks the schema against its meta-schema once
            self._fast_validators[name] = _compiled(inline_refs(self.documents[name], self.registry))

    def is_valid(self, name: str, instance: Any) -> bool:
        """Whether ``instance`` is valid against ``name``, the same decision as
        :meth:`iter_errors`, only faster for a valid one: a compiled validator (jsonschema-rs,
        over the schema with each ``$ref`` inlined, formats checked by the same functions as
        here) accepts it; anything it does not accept is decided by :meth:`iter_errors`."""
        self.prepare(name)
        fast = self._fast_validators[name]
        if fast is not None:
            try:
                if fast.is_valid(instance):
                    return True
            except (ValueError, TypeError, OverflowError):  # a value it cannot take: decide below
                pass
        return next(iter(self.iter_errors(name, instance)), None) is None

    def validate(self, name: str, instance: Any) -> None:
        """Raise :class:`ValidationFailed` listing every error, each with its JSON path (a valid
        ``instance`` is accepted by the compiled validator of :meth:`is_valid` alone)."""
        if self.is_valid(name, instance):
            return
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


# Keywords whose value is one subschema, a list of them, or a map of names to them (2020-12);
# every other keyword holds data and is copied as is.
_ONE_SCHEMA = frozenset({"additionalProperties", "propertyNames", "items", "contains", "not", "if", "then",
                         "else", "unevaluatedItems", "unevaluatedProperties", "contentSchema"})
_SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP = frozenset({"properties", "patternProperties", "dependentSchemas"})


class _NotInlinable(Exception):
    pass


def inline_refs(schema: dict[str, Any], registry: Registry) -> dict[str, Any] | None:
    """A copy of ``schema`` with each ``$ref`` replaced by ``allOf: [<the target, inlined>]``,
    which validates the same instances (``unevaluated*`` sees through ``allOf`` as through
    ``$ref``) without a registry lookup per use. None for a recursive schema, or one using
    keywords this copy does not handle (``$dynamicRef``, a nested ``$id``)."""

    def walk(node: Any, resolver: Any, trail: tuple[int, ...], root: bool = False) -> Any:
        if not isinstance(node, dict):
            return node  # a boolean schema
        if "$dynamicRef" in node or "$recursiveRef" in node or ("$id" in node and not root):
            raise _NotInlinable
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$ref", "$defs", "definitions", "$id", "$schema", "$anchor", "$comment"):
                continue
            if key in _ONE_SCHEMA:
                out[key] = walk(value, resolver, trail)
            elif key in _SCHEMA_LIST:
                out[key] = [walk(item, resolver, trail) for item in value]
            elif key in _SCHEMA_MAP:
                out[key] = {name: walk(item, resolver, trail) for name, item in value.items()}
            else:
                out[key] = value
        if "$ref" in node:
            resolved = resolver.lookup(node["$ref"])
            # the registry hands out the same object for the same target: its id is the target's
            if id(resolved.contents) in trail:
                raise _NotInlinable
            contents = walk(resolved.contents, resolved.resolver, (*trail, id(resolved.contents)), root=True)
            out["allOf"] = [contents, *out.get("allOf", [])]
        return out

    try:
        return walk(schema, registry.resolver(schema.get("$id", "")), (), root=True)
    except _NotInlinable:
        return None


def _compiled(schema: dict[str, Any] | None) -> Any:
    """A jsonschema-rs validator of an inlined schema, with the format checks of
    :class:`FormatChecker` (so a format never passes there and fails here); None without one."""
    if schema is None:
        return None
    import jsonschema_rs

    checker = FormatChecker()
    formats = {name: functools.partial(checker.conforms, format=name) for name in checker.checkers}
    return jsonschema_rs.Draft202012Validator(schema, formats=formats, validate_formats=True)
