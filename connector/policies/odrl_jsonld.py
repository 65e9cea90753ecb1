"""ODRL 2.2 policies read from and written to JSON-LD.

:func:`parse_policy` accepts the compact JSON-LD of the Dataspace Protocol 2025-1: bare terms
(``"action": "use"``), ``odrl:``-prefixed terms and property names, full ODRL IRIs, ``@id``
objects and ``@value`` literals. It checks the document against the vocabulary of
:mod:`connector.policies.operands` and raises :class:`PolicyInvalid` listing every problem with
its JSON path. :func:`to_jsonld` writes the bare DSP form back; ``parse_policy(to_jsonld(p))``
equals ``p``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from connector.errors import ValidationFailed
from connector.policies import operands as vocab
from connector.policies.odrl import (
    Conflict,
    Constraint,
    LogicalConstraint,
    LogicalOperand,
    Policy,
    PolicyType,
    Rule,
    RuleKind,
)

ODRL_NS = "http://www.w3.org/ns/odrl/2/"
XSD_NS = "http://www.w3.org/2001/XMLSchema#"


class PolicyInvalid(ValidationFailed):
    """A policy document that cannot be accepted; ``errors`` lists every problem (422)."""

    code, title = "policy-invalid", "Invalid ODRL policy"


# --- reading ----------------------------------------------------------------------------

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # the property names jsonschema writes as .name
_POLICY_TYPES = {"Set": PolicyType.SET, "Policy": PolicyType.SET,
                 "Offer": PolicyType.OFFER, "Agreement": PolicyType.AGREEMENT}
_RULE = ("@id", "uid", "@type", "action", "target", "assignee", "assigner", "constraint")
_NESTED = {RuleKind.PERMISSION: "duty", RuleKind.PROHIBITION: "remedy"}
_ATOMIC = ("@id", "uid", "@type", "leftOperand", "operator", "rightOperand", "unit", "dataType")
_LOGICAL = ("@id", "uid", "@type", *LogicalOperand)


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _NAME.match(key) else f"{path}['{key}']"


def bare_term(value: Any) -> str | None:
    """``use`` for ``use``, ``odrl:use``, the full ODRL IRI or ``{"@id": ...}``; else None."""
    if isinstance(value, dict) and set(value) == {"@id"}:
        value = value["@id"]
    if not isinstance(value, str) or not value.strip():
        return None
    return value.removeprefix("odrl:").removeprefix(ODRL_NS)


class _Reader:
    """Walks one document, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        self.site_terms: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    def fields(self, obj: Any, path: str, allowed: Sequence[str], what: str) -> dict[str, Any]:
        """``{name: (value, path)}`` of an object, with ``odrl:`` prefixes removed."""
        if not isinstance(obj, dict):
            self.fail(path, f"{what} must be an object")
            return {}
        found: dict[str, Any] = {}
        for key, value in obj.items():
            name = key.removeprefix("odrl:") if not key.startswith("odrl:@") else key
            if name not in allowed:
                self.fail(_child(path, key), f"unknown field '{key}' in {what}")
            elif name in found:
                self.fail(_child(path, key), f"'{name}' is given twice")
            else:
                found[name] = (value, _child(path, key))
        return found

    def identifier(self, value: Any, path: str, what: str, kinds: tuple[str, ...] = ()) -> Any:
        if isinstance(value, dict) and kinds:
            return self.collection(value, path, what, kinds)
        term = value["@id"] if isinstance(value, dict) and set(value) == {"@id"} else value
        if isinstance(term, str) and term and not any(c.isspace() for c in term):
            return term
        self.fail(path, f"{what} must be an identifier (a string without spaces)")
        return None

    def collection(self, value: dict, path: str, what: str, kinds: tuple[str, ...]) -> Any:
        """A Party/Asset object: identified by @id, uid or (for a collection) source."""
        found = self.fields(value, path, ("@id", "uid", "source", "@type"), what)
        if "@type" in found and bare_term(found["@type"][0]) not in kinds:
            self.fail(found["@type"][1], f"{what} @type must be one of {', '.join(kinds)}")
        names = [name for name in ("@id", "uid", "source") if name in found]
        if len(names) != 1:
            self.fail(path, f"{what} needs exactly one of @id, uid or source")
            return None
        return self.identifier(*found[names[0]], what)

    def items(self, value: Any, path: str, what: str) -> Iterator[tuple[Any, str]]:
        if isinstance(value, dict) and set(value) == {"@list"}:
            value, path = value["@list"], _child(path, "@list")
        if not isinstance(value, list) or not value:
            self.fail(path, f"{what} must be a non-empty array")
            return
        yield from ((item, _child(path, index)) for index, item in enumerate(value))

    def uid(self, found: dict[str, Any], what: str) -> str | None:
        if "@id" in found and "uid" in found:
            self.fail(found["uid"][1], f"{what} has both @id and uid")
        for name in ("@id", "uid"):
            if name in found:
                return self.identifier(*found[name], f"{what} @id")
        return None

    def check_type(self, found: dict[str, Any], expected: str, what: str) -> None:
        if "@type" in found and bare_term(found["@type"][0]) != expected:
            self.fail(found["@type"][1], f"{what} @type must be {expected}")

    # policy ---------------------------------------------------------------------------

    def policy(self, doc: Any) -> Policy | None:
        allowed = ("@context", "@id", "uid", "@type", "profile", "conflict", "assigner",
                   "assignee", "target", "permission", "prohibition", "obligation",
                   "dct:description", "dct:license", "timestamp")
        found = self.fields(doc, "$", allowed, "a policy")
        if not found and not isinstance(doc, dict):
            return None
        uid = self.uid(found, "the policy")
        if uid is None and not any(name in found for name in ("@id", "uid")):
            self.fail("$", "a policy needs an @id (its uid)")
        kind = self.policy_type(found)
        profiles = self.profiles(found)
        shared = {name: self.identifier(*found[name], name, kinds)
                  for name, kinds in (("assigner", ("Party", "PartyCollection")),
                                      ("assignee", ("Party", "PartyCollection")),
                                      ("target", ("Asset", "AssetCollection"))) if name in found}
        rules = {kind_: self.rules(found, name, kind_) for name, kind_ in (
            ("permission", RuleKind.PERMISSION), ("prohibition", RuleKind.PROHIBITION),
            ("obligation", RuleKind.DUTY))}
        if not any(name in found for name in ("permission", "prohibition", "obligation")):
            self.fail("$", "a policy needs at least one permission, prohibition or obligation")
        texts = {name: self.text(*found[name], name)
                 for name in ("dct:description", "dct:license") if name in found}
        timestamp = self.timestamp(found, kind)
        conflict = self.conflict(found)
        self.require_site_profile(profiles)
        if kind is PolicyType.AGREEMENT:
            self.agreement_parties(shared, rules)
        if self.errors or uid is None or kind is None:
            return None
        return Policy(
            uid=uid, type=kind, permissions=rules[RuleKind.PERMISSION],
            prohibitions=rules[RuleKind.PROHIBITION], obligations=rules[RuleKind.DUTY],
            profiles=profiles, conflict=conflict, description=texts.get("dct:description"),
            license=texts.get("dct:license"), timestamp=timestamp, **shared)

    def policy_type(self, found: dict[str, Any]) -> PolicyType | None:
        if "@type" not in found:
            return PolicyType.SET  # ODRL: Set is the default subclass of Policy
        value, path = found["@type"]
        kind = _POLICY_TYPES.get(bare_term(value) or "")
        if kind is None:
            self.fail(path, f"policy @type must be Set, Offer or Agreement, not {value!r}")
        return kind

    def profiles(self, found: dict[str, Any]) -> tuple[str, ...]:
        if "profile" not in found:
            return ()
        value, path = found["profile"]
        values = [(value, path)] if isinstance(value, str | dict) else list(
            self.items(value, path, "profile"))
        result = []
        for item, item_path in values:
            iri = self.identifier(item, item_path, "profile")
            if iri is not None and iri not in vocab.KNOWN_PROFILES:
                self.fail(item_path, f"unknown profile '{iri}': this connector understands "
                          f"{' and '.join(sorted(vocab.KNOWN_PROFILES))}")
            result.append(iri)
        return tuple(result)

    def conflict(self, found: dict[str, Any]) -> Conflict | None:
        if "conflict" not in found:
            return None
        value, path = found["conflict"]
        term = bare_term(value)
        if term not in set(Conflict):
            self.fail(path, f"conflict must be perm, prohibit or invalid, not {value!r}")
            return None
        return Conflict(term)

    def text(self, value: Any, path: str, what: str) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.fail(path, f"{what} must be a non-empty string")
        return None

    def timestamp(self, found: dict[str, Any], kind: PolicyType | None) -> str | None:
        if "timestamp" not in found:
            return None
        value, path = found["timestamp"]
        if kind is not PolicyType.AGREEMENT:
            self.fail(path, "only an Agreement carries a timestamp")
        try:
            vocab.parse_datetime(value)
        except ValueError as error:
            self.fail(path, str(error))
        return value

    def require_site_profile(self, profiles: tuple[str, ...]) -> None:
        if vocab.SITE_PROFILE in profiles:
            return
        for path, name in self.site_terms:
            self.fail(path, f"'{name}' belongs to the site profile; declare "
                      f"\"profile\": \"{vocab.SITE_PROFILE}\"")

    def agreement_parties(self, shared: dict[str, Any], rules: dict[RuleKind, Any]) -> None:
        granted = [*rules[RuleKind.PERMISSION], *rules[RuleKind.PROHIBITION]]
        for role in ("an assigner", "an assignee", "a target"):
            name = role.split()[1]
            if shared.get(name) is None and not (
                    granted and all(getattr(rule, name) for rule in granted)):
                self.fail("$", f"an Agreement needs {role}, on the policy or on every rule")

    # rules ----------------------------------------------------------------------------

    def rules(self, found: dict[str, Any], name: str, kind: RuleKind) -> tuple[Rule, ...]:
        if name not in found:
            return ()
        nested = _NESTED.get(kind, "consequence")
        items = self.items(*found[name], name)
        return tuple(filter(None, (self.rule(item, path, kind, nested)
                                   for item, path in items)))

    def rule(self, obj: Any, path: str, kind: RuleKind, nested: str | None) -> Rule | None:
        what = f"a {kind}"
        found = self.fields(obj, path, (*_RULE, *filter(None, (nested,))), what)
        if not isinstance(obj, dict):
            return None
        self.check_type(found, kind.capitalize(), what)
        uid = self.uid(found, what)
        action = self.action(found, path, what)
        roles = {name: self.identifier(*found[name], name, kinds) for name, kinds in (
            ("assignee", ("Party", "PartyCollection")), ("assigner", ("Party", "PartyCollection")),
            ("target", ("Asset", "AssetCollection"))) if name in found}
        constraints = self.constraints(found)
        children = {"duty": (), "remedy": (), "consequence": ()}
        if nested in found:  # only a permission's duties may carry consequences (IM 2.6.3)
            grandchild = "consequence" if nested == "duty" else None
            children[nested] = tuple(filter(None, (
                self.rule(item, item_path, RuleKind.DUTY, grandchild)
                for item, item_path in self.items(*found[nested], nested))))
        if action is None or None in roles.values() or constraints is None:
            return None
        return Rule(kind=kind, action=action, constraints=constraints, uid=uid,
                    duties=children["duty"], remedies=children["remedy"],
                    consequences=children["consequence"], **roles)

    def action(self, found: dict[str, Any], path: str, what: str) -> str | None:
        if "action" not in found:
            self.fail(path, f"{what} needs an action (ODRL 2.2: a Rule has exactly one action)")
            return None
        value, action_path = found["action"]
        name = bare_term(value)
        if name is None:
            self.fail(action_path, "action must be a term such as \"use\" or {\"@id\": ...} "
                      "(refined actions and lists of actions are not supported)")
        elif name in vocab.DEPRECATED_ACTIONS and vocab.DEPRECATED_ACTIONS[name] is None:
            self.fail(action_path, f"action '{name}' is deprecated in ODRL 2.2 and has no "
                      "replacement")
        elif vocab.canonical_action(name) is None:
            self.fail(action_path, f"unknown action '{name}'")
        else:
            if name in vocab.SITE_ACTIONS:
                self.site_terms.append((action_path, name))
            return name
        return None

    # constraints ----------------------------------------------------------------------

    def constraints(self, found: dict[str, Any]) -> tuple[Any, ...] | None:
        if "constraint" not in found:
            return ()
        parsed = [self.constraint(item, path)
                  for item, path in self.items(*found["constraint"], "constraint")]
        return None if None in parsed or not parsed else tuple(parsed)

    def constraint(self, obj: Any, path: str) -> Constraint | LogicalConstraint | None:
        logical = isinstance(obj, dict) and any(
            key.removeprefix("odrl:") in set(LogicalOperand) for key in obj)
        return self.logical(obj, path) if logical else self.atomic(obj, path)

    def logical(self, obj: dict, path: str) -> LogicalConstraint | None:
        found = self.fields(obj, path, _LOGICAL, "a logical constraint")
        self.check_type(found, "LogicalConstraint", "a logical constraint")
        uid = self.uid(found, "a logical constraint")
        operands = [name for name in LogicalOperand if name in found]
        if len(operands) != 1:
            self.fail(path, "a logical constraint has exactly one of and, or, xone, andSequence")
            return None
        members = list(self.items(*found[operands[0]], operands[0]))
        if len(members) == 1:
            self.fail(found[operands[0]][1], "a logical constraint compares two or more "
                      "constraints")
        parsed = [self.constraint(item, item_path) for item, item_path in members]
        if None in parsed or len(parsed) < 2:
            return None
        return LogicalConstraint(LogicalOperand(operands[0]), tuple(parsed), uid)

    def atomic(self, obj: Any, path: str) -> Constraint | None:
        found = self.fields(obj, path, _ATOMIC, "a constraint")
        if not isinstance(obj, dict):
            return None
        self.check_type(found, "Constraint", "a constraint")
        uid = self.uid(found, "a constraint")
        missing = [name for name in ("leftOperand", "operator", "rightOperand")
                   if name not in found]
        for name in missing:
            self.fail(path, f"a constraint needs a {name}")
        terms = {name: self.term(*found[name], name) for name in ("leftOperand", "operator")
                 if name in found}
        right, literal_type = self.literal(*found["rightOperand"]) if (
            "rightOperand" in found) else (None, None)
        extras = {name: self.identifier(*found[name], name) for name in ("unit", "dataType")
                  if name in found}
        data_type = self.data_type(extras.get("dataType"), literal_type, path)
        if missing or None in terms.values() or None in extras.values() or right is None:
            return None
        if terms["leftOperand"] in vocab.LEFT_OPERANDS and (
                vocab.LEFT_OPERANDS[terms["leftOperand"]].site):
            self.site_terms.append((found["leftOperand"][1], terms["leftOperand"]))
        paths = {name: found.get(name, (None, path))[1] for name in _ATOMIC}
        if "dataType" not in found and "rightOperand" in found:  # the literal's own @type
            paths["dataType"] = found["rightOperand"][1]
        _, problems = vocab.check_constraint(terms["leftOperand"], terms["operator"], right,
                                             extras.get("unit"), data_type)
        for name, message in problems:
            self.fail(paths[name], message)
        if problems:
            return None
        return Constraint(terms["leftOperand"], terms["operator"], right,
                          extras.get("unit"), data_type, uid)

    def term(self, value: Any, path: str, what: str) -> str | None:
        name = bare_term(value)
        if name is None:
            self.fail(path, f"{what} must be a term such as \"eq\" or {{\"@id\": ...}}")
        return name

    def literal(self, value: Any, path: str) -> tuple[Any, str | None]:
        """A right operand: (a literal or a tuple of literals, the @type of its values)."""
        if isinstance(value, list):
            pairs = [self.literal(item, item_path) for item, item_path in
                     self.items(value, path, "rightOperand")]
            types = {kind for _, kind in pairs}
            if len(types) > 1:
                self.fail(path, "the values of a rightOperand list have different @types")
            ok = pairs and all(item is not None for item, _ in pairs)
            return (tuple(item for item, _ in pairs) if ok else None), next(iter(types), None)
        if isinstance(value, dict):
            found = self.fields(value, path, ("@value", "@type", "@id"), "a rightOperand")
            if set(found) == {"@id"}:
                return self.identifier(*found["@id"], "rightOperand @id"), None
            if "@value" not in found or "@id" in found:
                self.fail(path, "a rightOperand object needs @value (and optionally @type) "
                          "or only @id")
                return None, None
            kind = self.identifier(*found["@type"], "@type") if "@type" in found else None
            return self.literal(found["@value"][0], found["@value"][1])[0], kind
        if isinstance(value, str | int | float | bool) and value != "":
            return value, None
        self.fail(path, "rightOperand must be a string, number, boolean, or a list of them")
        return None, None

    def data_type(self, explicit: str | None, literal: str | None, path: str) -> str | None:
        names = {name.replace(XSD_NS, "xsd:") for name in (explicit, literal) if name}
        if len(names) > 1:
            self.fail(path, f"dataType and the rightOperand @type disagree: {sorted(names)}")
        return next(iter(names), None)


def parse_policy(doc: Any) -> Policy:
    """Read an ODRL 2.2 policy document; raise :class:`PolicyInvalid` listing every problem."""
    reader = _Reader()
    policy = reader.policy(doc)
    if reader.errors or policy is None:
        raise PolicyInvalid(reader.errors or [{"path": "$", "message": "not a policy"}])
    return policy


# --- writing ----------------------------------------------------------------------------

def _drop_empty(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if value not in (None, [], ())}


def constraint_to_jsonld(item: Constraint | LogicalConstraint) -> dict[str, Any]:
    """One constraint in the DSP compact form."""
    if isinstance(item, LogicalConstraint):
        return _drop_empty({"@id": item.uid, str(item.operand): [
            constraint_to_jsonld(member) for member in item.constraints]})
    right = list(item.right_operand) if isinstance(item.right_operand, tuple) else (
        item.right_operand)
    return _drop_empty({"@id": item.uid, "leftOperand": item.left_operand,
                        "operator": item.operator, "rightOperand": right, "unit": item.unit,
                        "dataType": item.data_type})


def rule_to_jsonld(rule: Rule) -> dict[str, Any]:
    """One rule (with its constraints and nested duties) in the DSP compact form."""
    return _drop_empty({
        "@id": rule.uid, "action": rule.action, "target": rule.target,
        "assigner": rule.assigner, "assignee": rule.assignee,
        "constraint": [constraint_to_jsonld(item) for item in rule.constraints],
        "duty": [rule_to_jsonld(item) for item in rule.duties],
        "remedy": [rule_to_jsonld(item) for item in rule.remedies],
        "consequence": [rule_to_jsonld(item) for item in rule.consequences]})


def to_jsonld(policy: Policy) -> dict[str, Any]:
    """The policy as DSP 2025-1 compact JSON-LD (bare terms, no ``@context``)."""
    profile: Any = list(policy.profiles) if len(policy.profiles) > 1 else (
        policy.profiles[0] if policy.profiles else None)
    return _drop_empty({
        "@id": policy.uid, "@type": str(policy.type), "profile": profile,
        "conflict": policy.conflict and str(policy.conflict), "assigner": policy.assigner,
        "assignee": policy.assignee, "target": policy.target,
        "dct:description": policy.description, "dct:license": policy.license,
        "timestamp": policy.timestamp,
        "permission": [rule_to_jsonld(rule) for rule in policy.permissions],
        "prohibition": [rule_to_jsonld(rule) for rule in policy.prohibitions],
        "obligation": [rule_to_jsonld(rule) for rule in policy.obligations]})
