"""The ODRL policy model: reading JSON-LD, validation on write, writing back, the schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connector.errors import ValidationFailed
from connector.policies import operands, templates
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
from connector.policies.odrl_conflicts import conflicts
from connector.policies.odrl_jsonld import PolicyInvalid, parse_policy, to_jsonld
from connector.schemas import SchemaStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "schemas" / "examples" / "odrl-policy"
SCHEMAS = SchemaStore(REPO / "schemas")


def examples(kind: str) -> list[Path]:
    return sorted((EXAMPLES / kind).glob("*.json"))


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def problems(doc: dict) -> list[dict[str, str]]:
    with pytest.raises(PolicyInvalid) as raised:
        parse_policy(doc)
    return raised.value.errors


def offer(*constraints: dict, **extra) -> dict:
    return {"@id": "urn:x:offer", "@type": "Offer", **extra,
            "permission": [{"action": "use", "constraint": list(constraints)}]}


# --- examples: schema and semantic checks agree -----------------------------------------

# Where the schema complains about each invalid example.
SCHEMA_INVALID = {
    "bad-policy-type.json": "$['@type']",
    "consequence-of-a-consequence.json": "$.permission[0].duty[0].consequence[0]",
    "constraint-without-right-operand.json": "$.permission[0].constraint[0]",
    "empty-constraint-list.json": "$.permission[0].constraint",
    "logical-with-one-member.json": "$.permission[0].constraint[0].or",
    "missing-id.json": "$",
    "no-rules.json": "$",
    "refined-action.json": "$.permission[0].action",
    "remedy-on-permission.json": "$.permission[0]",
    "right-operand-reference.json": "$.permission[0].constraint[0]",
    "rule-without-action.json": "$.permission[0]",
    "rules-not-an-array.json": "$.permission",
    "two-logical-operands.json": "$.permission[0].constraint[0]",
    "unknown-policy-field.json": "$",
}
# What parse_policy says about each document that passes the schema but not the semantics.
SEMANTIC_INVALID = {
    "agreement-without-assignee.json": ("$", "an Agreement needs an assignee"),
    "clearance-off-scale.json": ("$.permission[0].constraint[0].rightOperand",
                                 "'COSMIC' is not a clearance level"),
    "datatype-mismatch.json": ("$.permission[0].constraint[0].rightOperand",
                               "dataType 'xsd:dateTime' does not fit count"),
    "datetime-without-timezone.json": ("$.permission[0].constraint[0].rightOperand",
                                       "has no time zone"),
    "deprecated-action.json": ("$.permission[0].action", "action 'lease' is deprecated"),
    "dsp-agreement-full.json": ("$.permission[1].constraint[0].and[0].leftOperand",
                                "unknown left operand 'partner'"),
    "dsp-dataset-offer-blank-node-region.json": ("$.permission[0].constraint[0].rightOperand",
                                                 "'_:EU' is not an ISO 3166 country code"),
    "duration-not-iso.json": ("$.permission[0].constraint[0].rightOperand",
                              "'30 days' is not a duration"),
    "eq-with-a-list.json": ("$.permission[0].constraint[0].rightOperand",
                            "operator 'eq' compares with one value"),
    "operator-not-for-operand.json": ("$.permission[0].constraint[0].operator",
                                      "operator 'lt' does not apply to purpose"),
    "party-with-id-and-source.json": ("$.permission[0].assignee",
                                      "needs exactly one of @id, uid or source"),
    "site-operand-without-profile.json": ("$.permission[0].constraint[0].leftOperand",
                                          "'dataPermit' belongs to the site profile"),
    "timestamp-on-offer.json": ("$.timestamp", "only an Agreement carries a timestamp"),
    "unit-on-count.json": ("$.permission[0].constraint[0].unit", "takes no unit"),
    "unknown-action.json": ("$.permission[0].action", "unknown action 'fly'"),
    "unknown-left-operand.json": ("$.permission[0].constraint[0].leftOperand",
                                  "unknown left operand 'foo'"),
    "unknown-operator.json": ("$.permission[0].constraint[0].operator",
                              "unknown operator 'between'"),
    "unknown-profile.json": ("$.profile", "unknown profile 'https://test.com/profile'"),
    "unsupported-odrl-left-operand.json": ("$.permission[0].constraint[0].leftOperand",
                                           "left operand 'payAmount' is not supported"),
    "unsupported-operator.json": ("$.permission[0].constraint[0].operator",
                                  "operator 'hasPart' is not supported"),
}


def test_every_example_file_has_a_stated_expectation():
    assert {path.name for path in examples("invalid")} == set(SCHEMA_INVALID)
    assert {path.name for path in examples("semantic-invalid")} == set(SEMANTIC_INVALID)
    assert len(examples("valid")) >= 8


@pytest.mark.parametrize("path", examples("valid"), ids=lambda path: path.name)
def test_valid_example_passes_the_schema_and_the_semantic_checks_and_round_trips(path):
    doc = read(path)
    assert list(SCHEMAS.iter_errors("odrl-policy", doc)) == []
    policy = parse_policy(doc)
    assert parse_policy(to_jsonld(policy)) == policy
    assert list(SCHEMAS.iter_errors("odrl-policy", to_jsonld(policy))) == []


@pytest.mark.parametrize("path", examples("invalid"), ids=lambda path: path.name)
def test_invalid_example_fails_the_schema_where_expected_and_the_parser_too(path):
    doc = read(path)
    paths = {error.json_path for error in SCHEMAS.iter_errors("odrl-policy", doc)}
    assert SCHEMA_INVALID[path.name] in paths
    assert problems(doc)


@pytest.mark.parametrize("path", examples("semantic-invalid"), ids=lambda path: path.name)
def test_semantic_invalid_example_passes_the_schema_but_parse_policy_names_the_problem(path):
    doc = read(path)
    assert list(SCHEMAS.iter_errors("odrl-policy", doc)) == []
    where, message = SEMANTIC_INVALID[path.name]
    assert any(error["path"] == where and message in error["message"]
               for error in problems(doc)), problems(doc)


# --- reading ----------------------------------------------------------------------------

def test_bare_prefixed_iri_and_id_object_forms_read_as_the_same_policy():
    bare = {"@id": "urn:x:p", "@type": "Offer", "permission": [{
        "action": "read", "constraint": [
            {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-01-01T00:00:00Z",
             "dataType": "xsd:dateTime"}]}]}
    prefixed = {"@id": "urn:x:p", "@type": "odrl:Offer", "odrl:permission": [{
        "odrl:action": {"@id": "odrl:read"}, "odrl:constraint": [
            {"odrl:leftOperand": "http://www.w3.org/ns/odrl/2/dateTime",
             "odrl:operator": {"@id": "odrl:lt"},
             "odrl:rightOperand": {"@value": "2026-01-01T00:00:00Z",
                                   "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}}]}]}
    assert parse_policy(bare) == parse_policy(prefixed)


def test_a_policy_reads_into_frozen_dataclasses_with_its_typed_right_operands():
    policy = parse_policy(read(EXAMPLES / "valid" / "duties-remedies-obligations.json"))
    assert policy.type is PolicyType.SET and policy.conflict is Conflict.PERM
    permission, = policy.permissions
    delete, pseudonymize = permission.duties
    assert (delete.uid, delete.action) == ("urn:connector:duty:delete", "delete")
    assert delete.consequences[0].assignee == "urn:connector:org:steward-office"
    assert pseudonymize.target == "column:patient_id"
    assert policy.prohibitions[0].remedies[0].action == "anonymize"
    assert policy.obligations[0].kind is RuleKind.DUTY
    assert delete.constraints[0].value == operands.parse_duration("P90D")
    with pytest.raises(AttributeError):
        policy.uid = "urn:other"  # type: ignore[misc]


def test_logical_constraints_keep_their_operand_and_order():
    policy = parse_policy(read(EXAMPLES / "valid" / "logical-constraints.json"))
    window, either, exactly_one, sequence = policy.permissions[0].constraints
    assert isinstance(window, LogicalConstraint) and window.operand is LogicalOperand.AND
    assert window.uid == "urn:connector:c:window"
    assert (either.operand, exactly_one.operand) == (LogicalOperand.OR, LogicalOperand.XONE)
    assert [member.left_operand for member in sequence.constraints] == ["count", "elapsedTime"]


def test_a_policy_without_type_is_a_set_and_without_conflict_is_treated_as_invalid():
    policy = parse_policy({"@id": "urn:x:p", "permission": [{"action": "use"}]})
    assert policy.type is PolicyType.SET
    assert policy.conflict is None and policy.conflict_strategy is Conflict.INVALID


def test_every_problem_is_reported_with_its_json_path_not_only_the_first():
    found = problems({"@id": "urn:x:p", "permission": [
        {"action": "fly", "constraint": [
            {"leftOperand": "foo", "operator": "eq", "rightOperand": "x"},
            {"leftOperand": "purpose", "operator": "between", "rightOperand": "x"}]},
        {"action": "use", "surprise": 1}]})
    assert {(error["path"], error["message"].split(" (")[0]) for error in found} == {
        ("$.permission[0].action", "unknown action 'fly'"),
        ("$.permission[0].constraint[0].leftOperand", "unknown left operand 'foo'"),
        ("$.permission[0].constraint[1].operator", "unknown operator 'between'"),
        ("$.permission[1].surprise", "unknown field 'surprise' in a permission"),
    }


def test_policy_invalid_is_a_422_whose_problem_document_lists_the_errors():
    with pytest.raises(PolicyInvalid) as raised:
        parse_policy({"@id": "urn:x:p", "permission": [{"action": "fly"}]})
    assert isinstance(raised.value, ValidationFailed)
    problem = raised.value.to_problem()
    SCHEMAS.validate("problem", problem)
    assert problem["status"] == 422 and problem["type"].endswith("/policy-invalid")
    assert problem["errors"] == [{"path": "$.permission[0].action",
                                  "message": "unknown action 'fly'"}]


@pytest.mark.parametrize("doc", [None, [], "policy", 42], ids=repr)
def test_a_document_that_is_not_an_object_is_refused_not_crashed_on(doc):
    assert problems(doc)[0]["path"] == "$"


def test_site_terms_are_accepted_once_the_site_profile_is_declared():
    constraint = {"leftOperand": "securityClearance", "operator": "gteq",
                  "rightOperand": "secret"}
    assert problems(offer(constraint))[0]["message"].startswith(
        "'securityClearance' belongs to the site profile")
    policy = parse_policy(offer(constraint, profile=operands.SITE_PROFILE))
    assert policy.permissions[0].constraints[0].value == operands.CLEARANCE_SCALE.index("SECRET")


def test_a_date_without_time_is_accepted_as_a_whole_day_and_a_naive_datetime_is_not():
    policy = parse_policy(offer({"leftOperand": "dateTime", "operator": "lteq",
                                 "rightOperand": "2025-12-31"}))
    span = policy.permissions[0].constraints[0].value
    assert (span.start.isoformat(), span.end.isoformat()) == (
        "2025-12-31T00:00:00+00:00", "2026-01-01T00:00:00+00:00")
    assert "no time zone" in problems(offer({"leftOperand": "dateTime", "operator": "lteq",
                                             "rightOperand": "2025-12-31T12:00:00"}))[0]["message"]


def test_deprecated_actions_with_a_replacement_are_read_and_kept_as_written():
    policy = parse_policy({"@id": "urn:x:p", "permission": [{"action": "write"}]})
    assert policy.permissions[0].action == "write"
    assert operands.canonical_action("write") == "modify"


def test_an_agreement_gets_its_parties_and_target_from_the_policy_or_every_rule():
    parse_policy(read(EXAMPLES / "valid" / "dsp-agreement.json"))
    per_rule = {"@id": "urn:x:a", "@type": "Agreement", "permission": [
        {"action": "use", "assigner": "urn:x:p", "assignee": "urn:x:c", "target": "urn:x:t"}]}
    assert parse_policy(per_rule).permissions[0].assignee == "urn:x:c"
    per_rule["permission"].append({"action": "read", "assigner": "urn:x:p", "target": "urn:x:t"})
    assert [error["message"] for error in problems(per_rule)] == [
        "an Agreement needs an assignee, on the policy or on every rule"]


def test_collections_are_identified_by_id_or_source():
    policy = parse_policy(read(EXAMPLES / "valid" / "party-and-asset-collections.json"))
    rule, = policy.permissions
    assert (rule.assignee, rule.target) == ("urn:connector:group:radiology",
                                           "urn:connector:catalog:imaging")


# --- the dataclasses guard themselves ---------------------------------------------------

def test_dataclasses_refuse_terms_outside_the_vocabulary():
    with pytest.raises(ValueError, match="unknown left operand 'foo'"):
        Constraint("foo", "eq", "x")
    with pytest.raises(ValueError, match="does not apply to purpose"):
        Constraint("purpose", "gt", "research")
    with pytest.raises(ValueError, match="unknown action 'fly'"):
        Rule(RuleKind.PERMISSION, "fly")
    with pytest.raises(ValueError, match="at least one permission"):
        Policy("urn:x:p")


def test_constraints_built_in_code_equal_those_read_from_json():
    built = Policy("urn:x:p", PolicyType.OFFER, permissions=(Rule(
        RuleKind.PERMISSION, "use", constraints=(Constraint("count", "lteq", 3),)),))
    assert parse_policy(to_jsonld(built)) == built
    assert to_jsonld(built) == {"@id": "urn:x:p", "@type": "Offer", "permission": [
        {"action": "use", "constraint": [
            {"leftOperand": "count", "operator": "lteq", "rightOperand": 3}]}]}


# --- templates --------------------------------------------------------------------------

TEMPLATE_ARGUMENTS = {
    "open-data": {"license": "https://creativecommons.org/licenses/by/4.0/"},
    "research-eu": {"max_days": 90},
    "health-secondary-use": {"permit_ids": ["HDAB-1"], "projects": ["cardio-ai"],
                             "processing_location": "ai-factory",
                             "identifying_columns": ["patient_id"], "retention_days": 30},
    "defence-restricted": {"clearance": "SECRET", "projects": ["sensor-fusion"]},
}


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_each_template_gives_a_schema_valid_offer_that_parses(name):
    doc = templates.TEMPLATES[name](f"urn:x:{name}", **TEMPLATE_ARGUMENTS[name])
    assert list(SCHEMAS.iter_errors("odrl-policy", doc)) == []
    policy = parse_policy(doc)
    assert policy.type is PolicyType.OFFER and policy.uid == f"urn:x:{name}"
    assert policy.permissions[0].target is None  # the dataset it is attached to is the target


def test_the_health_template_turns_its_parameters_into_constraints_and_duties():
    doc = templates.health_secondary_use("urn:x:h", **TEMPLATE_ARGUMENTS["health-secondary-use"])
    rule = parse_policy(doc).permissions[0]
    assert {(c.left_operand, c.operator) for c in rule.constraints} == {
        ("dataPermit", "isAnyOf"), ("recipient", "isAnyOf"), ("processingLocation", "eq"),
        ("purpose", "isAnyOf"), ("elapsedTime", "lteq")}
    assert [(duty.action, duty.target) for duty in rule.duties] == [
        ("pseudonymize", "column:patient_id"), ("delete", None)]


def test_a_template_with_a_bad_parameter_is_refused():
    with pytest.raises(PolicyInvalid, match="'COSMIC' is not a clearance level"):
        templates.defence_restricted("urn:x:d", clearance="COSMIC", projects=["p"])


# --- the documentation tracks the registry ----------------------------------------------

def test_the_docs_list_every_left_operand_with_exactly_its_operators():
    docs = (REPO / "docs" / "odrl.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)`[^|]*\|(?:[^|]*\|){2} ([a-zA-Z ]+) \|$", docs, re.M))
    assert set(rows) == set(operands.LEFT_OPERANDS)
    for name, operand in operands.LEFT_OPERANDS.items():
        assert set(rows[name].split()) == set(operand.type.operators), name


@pytest.mark.parametrize("left,right", [("elapsedTime", "P999999999999D"),
                                        ("dateTime", "9999-12-31")])
def test_a_right_operand_beyond_the_calendar_is_refused(left, right):
    found = problems(offer({"leftOperand": left, "operator": "lteq", "rightOperand": right}))
    assert found == [{"path": "$.permission[0].constraint[0].rightOperand",
                      "message": f"{right} is out of range"}]


# --- conflicts (IM §2.10) ----------------------------------------------------------------

@pytest.mark.parametrize("permitted,prohibited,text", [
    ("use", "use", "both are about use"),
    ("use", "distribute", "distribute is included in use"),
    ("distribute", "use", "distribute is included in use"),
    ("use", "extract", "extract is included in use"),  # extract includedIn reproduce includedIn use
    ("copy", "reproduce", "both are about reproduce"),  # copy: deprecated, exactMatch reproduce
    ("transfer", "sell", "sell is included in transfer"),
    ("read", "distribute", None), ("use", "sell", None), ("extract", "read", None),
])
def test_a_permission_and_a_prohibition_conflict_when_one_action_includes_the_other(
        permitted, prohibited, text):
    policy = parse_policy({"@id": "urn:x:p", "permission": [{"action": permitted}],
                           "prohibition": [{"action": prohibited}]})
    found = [clash.text for clash in conflicts(policy)]
    assert found == ([f"permission 1 ({permitted}) and prohibition 1 ({prohibited}) conflict: "
                      f"{text}"] if text else [])


@pytest.mark.parametrize("permission,prohibition,clash", [
    ({"assignee": "alice"}, {"assignee": "bob"}, False),
    ({"assignee": "alice"}, {}, True),
    ({"target": "urn:x:a"}, {"target": "urn:x:b"}, False),
    ({"target": "urn:x:a"}, {"target": "urn:x:a", "assignee": "bob"}, True),
])
def test_rules_conflict_only_when_they_can_bind_the_same_assignee_and_target(
        permission, prohibition, clash):
    policy = parse_policy({"@id": "urn:x:p", "permission": [{"action": "use", **permission}],
                           "prohibition": [{"action": "print", **prohibition}]})
    assert bool(conflicts(policy)) is clash


def test_policy_level_assignee_and_target_count_for_every_rule():
    policy = parse_policy({"@id": "urn:x:p", "assignee": "alice", "target": "urn:x:a",
                           "permission": [{"action": "use"}],
                           "prohibition": [{"action": "print", "assignee": "bob"},
                                           {"action": "print", "target": "urn:x:a"}]})
    assert [(c.permission, c.prohibition) for c in conflicts(policy)] == [(0, 1)]
