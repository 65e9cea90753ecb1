"""Dataspace Protocol 2025-1 messages, validated against the official JSON Schemas.

The schemas (draft 2019-09) refer to each other by ``https://w3id.org/dspace/2025/1/...``;
every ``$id`` is resolved from the copies in ``spec/`` and a reference to anything else is
refused, never fetched. A message's ``@type`` picks its schema; the version answer has no
``@type`` and is validated by name.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator, FormatChecker
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from connector.schemas import describe_error

SPEC_DIR = Path(__file__).with_name("spec")
VERSION_RESPONSE = "VersionResponse"

#: Message types of each sub-protocol, as the ``@type`` of the compacted form names them.
CATALOG_TYPES = frozenset({"CatalogRequestMessage", "DatasetRequestMessage", "Catalog", "Dataset",
                           "CatalogError"})
NEGOTIATION_TYPES = frozenset({
    "ContractRequestMessage", "ContractOfferMessage", "ContractAgreementMessage",
    "ContractAgreementVerificationMessage", "ContractNegotiationEventMessage",
    "ContractNegotiationTerminationMessage", "ContractNegotiation", "ContractNegotiationError"})
TRANSFER_TYPES = frozenset({
    "TransferRequestMessage", "TransferStartMessage", "TransferSuspensionMessage",
    "TransferCompletionMessage", "TransferTerminationMessage", "TransferProcess", "TransferError"})


class InvalidMessage(ValueError):
    """A message broke its schema, or its ``@type`` is missing or unknown.

    ``errors`` lists ``{"path", "message"}`` items; ``message_type`` is the ``@type`` given.
    """

    def __init__(self, reason: str, errors: list[dict[str, str]] | None = None,
                 message_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []
        self.message_type = message_type


def _refuse(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)


def _mend_pointers(node: Any) -> Any:
    """Read ``"$ref": "...#definitions/X"`` as the JSON Pointer ``#/definitions/X`` it means.

    A few references in the 2025-1-err1 transfer schemas lack the slash; Java validators
    accept them, ``referencing`` rightly does not. The files stay as published.
    """
    if isinstance(node, dict):
        return {key: (value.replace("#definitions/", "#/definitions/")
                      if key == "$ref" and isinstance(value, str) else _mend_pointers(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_mend_pointers(item) for item in node]
    return node


class MessageSchemas:
    """Validators for every message type, built once from ``spec/``."""

    def __init__(self, directory: Path = SPEC_DIR) -> None:
        documents = []
        for path in sorted(directory.glob("*/*-schema.json")):
            document = _mend_pointers(json.loads(path.read_text(encoding="utf-8")))
            Draft201909Validator.check_schema(document)
            documents.append(document)
        self.registry: Registry = Registry(retrieve=_refuse).with_resources(
            (doc["$id"], Resource.from_contents(doc)) for doc in documents)
        self._validators: dict[str, Draft201909Validator] = {}
        for document in documents:
            name = document["title"].removesuffix("Schema")
            if name in ("Transfer", "Context", "DidService", "Policy"):
                continue  # shared definitions, not messages
            if name == "Version":
                name = VERSION_RESPONSE
            self._validators[name] = Draft201909Validator(
                document, registry=self.registry, format_checker=FormatChecker())

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._validators)

    def errors(self, message: Any, message_type: str | None = None) -> list[dict[str, str]]:
        """Every schema error of ``message`` (typed by its ``@type`` unless named)."""
        if message_type is None:
            message_type = self.type_of(message)
        validator = self._validators[message_type]
        found = sorted(validator.iter_errors(message), key=lambda e: list(e.absolute_path))
        return [describe_error(e) for e in found]

    def type_of(self, message: Any, expected: frozenset[str] | None = None) -> str:
        """The ``@type`` of ``message``; InvalidMessage when missing, unknown or not expected."""
        if not isinstance(message, dict):
            raise InvalidMessage("a message is a JSON object")
        given = message.get("@type")
        if not isinstance(given, str):
            raise InvalidMessage("the message has no @type")
        if given not in self._validators or (expected is not None and given not in expected):
            raise InvalidMessage(f"unknown or unexpected @type {given!r}", message_type=given)
        return given

    def validate(self, message: Any, *, expected: frozenset[str] | str | None = None) -> str:
        """Check ``message``; returns its type. ``expected`` limits the accepted types."""
        if isinstance(expected, str):
            expected = frozenset({expected})
        message_type = self.type_of(message, expected)
        errors = self.errors(message, message_type)
        if errors:
            first = errors[0]
            raise InvalidMessage(f"{message_type} is not valid: {first['path']}: {first['message']}",
                                 errors, message_type)
        return message_type

    def validate_version_response(self, document: Any) -> None:
        """Check a ``/.well-known/dspace-version`` answer."""
        errors = self.errors(document, VERSION_RESPONSE)
        if errors:
            raise InvalidMessage(f"not a version answer: {errors[0]['path']}: {errors[0]['message']}",
                                 errors)


@cache
def message_schemas() -> MessageSchemas:
    """The process-wide validators (the schemas never change while running)."""
    return MessageSchemas()
