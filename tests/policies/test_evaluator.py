"""The evaluator: decisions as values, with every rule and constraint explained."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from connector.policies import templates
from connector.policies.evaluator import (
    Decision,
    DutyState,
    Node,
    Outcome,
    RequestContext,
    State,
    evaluate,
)
from connector.policies.odrl_jsonld import parse_policy
from connector.policies.operands import SITE_PROFILE

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
T, F, U = State.SATISFIED, State.NOT_SATISFIED, State.UNKNOWN


def context(**facts) -> RequestContext:
    return RequestContext(**{"now": NOW, "assignee": "alice", "project": "cardio-ai",
                             "organisation": "uni-x", **facts})


def policy(*constraints: dict, duties: tuple = (), **extra):
    permission = {"action": "use", "constraint": list(constraints)} if constraints else {
        "action": "use"}
    if duties:
        permission["duty"] = list(duties)
    return parse_policy({"@id": "urn:x:p", "@type": "Offer", "profile": SITE_PROFILE, **extra,
                         "permission": [permission]})


def walk(node: Node) -> list[Node]:
    return [node, *(item for child in node.children for item in walk(child))]


def constraint_state(constraint: dict, **facts) -> State:
    decision = evaluate(policy(constraint), context(**facts))
    node, = [item for item in walk(decision.explanation) if item.kind == "constraint"]
    return node.state


# --- operators over value types ---------------------------------------------------------

JUNE = {"now": NOW}
CASES = [
    # dateTime: the clock; an instant or a whole day
    ("dateTime", "lt", "2025-06-01T12:00:00Z", JUNE, F),
    ("dateTime", "lteq", "2025-06-01T12:00:00Z", JUNE, T),
    ("dateTime", "eq", "2025-06-01T14:00:00+02:00", JUNE, T),
    ("dateTime", "gt", "2025-06-01T11:59:59Z", JUNE, T),
    ("dateTime", "neq", "2025-06-01T12:00:00Z", JUNE, F),
    ("dateTime", "lteq", "2025-06-01", JUNE, T),
    ("dateTime", "lt", "2025-06-01", JUNE, F),
    ("dateTime", "gteq", "2025-06-01", JUNE, T),
    ("dateTime", "gt", "2025-06-01", JUNE, F),
    ("dateTime", "eq", "2025-06-01", JUNE, T),
    # elapsedTime: the requested period, with calendar months
    ("elapsedTime", "lteq", "P30D", {"start": NOW, "end": NOW + dt.timedelta(days=30)}, T),
    ("elapsedTime", "lt", "P30D", {"start": NOW, "end": NOW + dt.timedelta(days=30)}, F),
    ("elapsedTime", "lteq", "P1M", {"start": dt.datetime(2025, 1, 31, tzinfo=dt.UTC),
                                    "end": dt.datetime(2025, 2, 28, tzinfo=dt.UTC)}, T),
    ("elapsedTime", "lteq", "P1M", {"start": dt.datetime(2025, 1, 31, tzinfo=dt.UTC),
                                    "end": dt.datetime(2025, 3, 1, tzinfo=dt.UTC)}, F),
    ("elapsedTime", "gt", "PT12H", {"start": NOW, "end": NOW + dt.timedelta(hours=13)}, T),
    # count
    ("count", "lteq", 3, {"count": 3}, T),
    ("count", "lteq", "3", {"count": 4}, F),
    ("count", "isNoneOf", [0], {"count": 1}, T),
    # purpose, with its taxonomy
    ("purpose", "eq", "research", {"purpose": "research"}, T),
    ("purpose", "isA", "research", {"purpose": "healthResearch"}, T),
    ("purpose", "isA", "scientificResearch", {"purpose": "commercialResearch"}, F),
    ("purpose", "isAnyOf", ["education", "statistics"], {"purpose": "statistics"}, T),
    ("purpose", "isNoneOf", ["marketing"], {"purpose": "marketing"}, F),
    # recipient is the project
    ("recipient", "isAnyOf", ["cardio-ai", "onco"], {}, T),
    ("recipient", "eq", "onco", {}, F),
    ("recipient", "neq", "onco", {}, T),
    ("recipient", "isAllOf", ["cardio-ai"], {}, T),
    ("recipient", "isAllOf", ["cardio-ai", "onco"], {}, F),
    # spatial, with EU and EEA membership
    ("spatial", "isPartOf", "EU", {"region": "FI"}, T),
    ("spatial", "isPartOf", "EU", {"region": "NO"}, F),
    ("spatial", "isPartOf", ["EEA"], {"region": "NO"}, T),
    ("spatial", "isPartOf", "EEA", {"region": "EU"}, T),
    ("spatial", "eq", "EU", {"region": "FI"}, F),
    # site operands
    ("organisation", "eq", "uni-x", {}, T),
    ("processingLocation", "eq", "ai-factory", {"processing_location": "laptop"}, F),
    ("securityClearance", "gteq", "SECRET", {"attributes": {"securityClearance": "top secret"}}, T),
    ("securityClearance", "gteq", "SECRET",
     {"attributes": {"securityClearance": "CONFIDENTIAL"}}, F),
    ("securityClearance", "lt", "RESTRICTED",
     {"attributes": {"securityClearance": "UNCLASSIFIED"}}, T),
    ("dataPermit", "isAnyOf", ["HDAB-1"], {"attributes": {"dataPermit": "HDAB-1"}}, T),
    ("ethicsApproval", "eq", True, {"attributes": {"ethicsApproval": "true"}}, T),
    ("ethicsApproval", "eq", "true", {"attributes": {"ethicsApproval": False}}, F),
]


@pytest.mark.parametrize("left,operator,right,facts,state", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[4]}-{i}" for i, c in enumerate(CASES)])
def test_operator_compares_the_request_value_with_the_right_operand(
        left, operator, right, facts, state):
    constraint = {"leftOperand": left, "operator": operator, "rightOperand": right}
    assert constraint_state(constraint, **facts) is state


@pytest.mark.parametrize("left,operator,right,facts", [
    ("purpose", "eq", "research", {}),
    ("purpose", "neq", "research", {}),
    ("elapsedTime", "lteq", "P30D", {"start": NOW}),
    ("elapsedTime", "lteq", "P30D", {"start": NOW, "end": NOW - dt.timedelta(days=1)}),
    ("spatial", "isPartOf", "EU", {}),
    ("count", "lteq", 3, {}),
    ("dataPermit", "isNoneOf", ["REVOKED-1"], {}),
    ("securityClearance", "gteq", "SECRET", {"attributes": {"securityClearance": "COSMIC"}}),
])
def test_a_value_the_request_lacks_or_garbles_is_unknown_and_never_permits(
        left, operator, right, facts):
    constraint = {"leftOperand": left, "operator": operator, "rightOperand": right}
    decision = evaluate(policy(constraint), context(**facts))
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    leaf, = [node for node in walk(decision.explanation) if node.kind == "constraint"]
    assert leaf.state is U and leaf.text in decision.reasons[0]


# --- rules: action, party, target -------------------------------------------------------

def test_actions_follow_the_odrl_hierarchy():
    read_only = parse_policy({"@id": "urn:x:p", "permission": [{"action": "read"}]})
    use = parse_policy({"@id": "urn:x:p", "permission": [{"action": "use"}]})
    assert evaluate(use, context(action="read")).outcome is Outcome.PERMIT
    assert evaluate(use, context(action="write")).outcome is Outcome.PERMIT  # write = modify
    assert evaluate(use, context(action="sell")).outcome is Outcome.DENY  # sell is a transfer
    assert evaluate(read_only, context(action="odrl:read")).outcome is Outcome.PERMIT
    denied = evaluate(read_only, context(action="use"))
    assert denied.outcome is Outcome.DENY
    assert "narrower action than the requested use" in denied.reasons[0]


def test_an_action_outside_the_vocabulary_is_denied_not_crashed_on():
    use = parse_policy({"@id": "urn:x:p", "permission": [{"action": "use"}]})
    decision = evaluate(use, context(action="teleport"))
    assert decision.outcome is Outcome.DENY
    assert "'teleport' is not an ODRL action" in decision.reasons[0]


@pytest.mark.parametrize("assignee,outcome", [
    ("alice", Outcome.PERMIT), ("cardio-ai", Outcome.PERMIT), ("uni-x", Outcome.PERMIT),
    ("radiology", Outcome.PERMIT), ("bob", Outcome.DENY)])
def test_a_rule_assigned_to_a_party_covers_the_requester_its_project_org_and_groups(
        assignee, outcome):
    rule = parse_policy({"@id": "urn:x:p", "assignee": assignee,
                         "permission": [{"action": "use"}]})
    assert evaluate(rule, context(memberships={"radiology"})).outcome is outcome


def test_a_rule_for_a_named_party_needs_approval_when_the_request_names_nobody():
    rule = parse_policy({"@id": "urn:x:p", "permission": [{"action": "use", "assignee": "bob"}]})
    anonymous = RequestContext(now=NOW)
    assert evaluate(rule, anonymous).outcome is Outcome.NEEDS_APPROVAL


def test_a_rule_with_a_target_covers_that_asset_and_its_collections_members():
    rule = parse_policy({"@id": "urn:x:p", "target": "urn:x:catalog",
                         "permission": [{"action": "use"}]})
    assert evaluate(rule, context(target="urn:x:catalog")).outcome is Outcome.PERMIT
    member = context(target="urn:x:ds@3", target_part_of={"urn:x:catalog"})
    assert evaluate(rule, member).outcome is Outcome.PERMIT
    assert evaluate(rule, context(target="urn:x:elsewhere")).outcome is Outcome.DENY
    assert evaluate(rule, context()).outcome is Outcome.NEEDS_APPROVAL


# --- logical constraints ----------------------------------------------------------------

PURPOSE_IS = {"leftOperand": "purpose", "operator": "eq"}


@pytest.mark.parametrize("operand,purposes,state", [
    ("and", ["a", "a"], T), ("and", ["a", "b"], F),
    ("or", ["b", "a"], T), ("or", ["b", "c"], F),
    ("xone", ["a", "b"], T), ("xone", ["a", "a"], F), ("xone", ["b", "c"], F),
    ("andSequence", ["a", "a"], T),
])
def test_logical_operands_combine_their_members(operand, purposes, state):
    members = [{**PURPOSE_IS, "rightOperand": purpose} for purpose in purposes]
    decision = evaluate(policy({operand: members}), context(purpose="a"))
    logical, = [node for node in decision.explanation.children[0].children
                if node.kind == "constraint"]
    assert logical.state is state
    assert len(logical.children) == len(purposes)  # no short circuit: each is explained


@pytest.mark.parametrize("operand,state", [("and", F), ("or", T), ("xone", U)])
def test_logical_operands_use_three_valued_logic_when_a_value_is_missing(operand, state):
    known = {"leftOperand": "recipient", "operator": "eq", "rightOperand": "cardio-ai"}
    unknown = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
    members = [known, unknown] if operand != "and" else [
        {**known, "rightOperand": "onco"}, unknown]
    decision = evaluate(policy({operand: members}), context())
    logical, = [node for node in decision.explanation.children[0].children
                if node.kind == "constraint"]
    assert logical.state is state


# --- conflicts --------------------------------------------------------------------------

def both(conflict: str | None, prohibited: dict | None = None) -> object:
    doc = {"@id": "urn:x:p", "permission": [{"action": "use"}],
           "prohibition": [prohibited or {"action": "distribute"}]}
    if conflict:
        doc["conflict"] = conflict
    return parse_policy(doc)


@pytest.mark.parametrize("conflict,outcome,reason", [
    ("perm", Outcome.PERMIT, "overridden: the policy lets permissions win"),
    ("prohibit", Outcome.DENY, "prohibition 1 (distribute) applies"),
    ("invalid", Outcome.DENY, "the policy is void: permission 1 (use) and prohibition 1 "
                              "(distribute) conflict: distribute is included in use"),
    (None, Outcome.DENY, "the policy is void"),
])
def test_conflict_strategy_decides_when_a_permission_and_a_prohibition_both_apply(
        conflict, outcome, reason):
    decision = evaluate(both(conflict), context(action="distribute"))
    assert decision.outcome is outcome
    assert any(reason in text for text in decision.reasons), decision.reasons


@pytest.mark.parametrize("conflict", ["perm", "prohibit"])
def test_a_prohibition_of_a_narrower_action_does_not_stop_use(conflict):
    decision = evaluate(both(conflict), context(action="use"))
    assert decision.outcome is Outcome.PERMIT
    prohibition = decision.explanation.children[1]
    assert prohibition.state is F and "stays in force for distribute" in (
        prohibition.children[0].text)


@pytest.mark.parametrize("conflict", ["invalid", None])
@pytest.mark.parametrize("action", ["read", "use", "distribute", "print"])
def test_conflicting_rules_void_the_policy_for_every_request_under_invalid(conflict, action):
    # IM §2.10: distribute is includedIn use, so "permission use, prohibition distribute"
    # conflicts, and under invalid the whole policy is void, also for a request to read.
    decision = evaluate(both(conflict), context(action=action))
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == (
        "the policy is void: permission 1 (use) and prohibition 1 (distribute) conflict: "
        "distribute is included in use, and its conflict strategy is invalid (the default "
        "when a policy states none)",)
    assert decision.obligations == ()


def test_a_constraint_on_a_conflicting_rule_does_not_save_the_policy():
    commercial = {"action": "distribute", "constraint": [
        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "commercial"}]}
    decision = evaluate(both(None, commercial), context(action="read", purpose="research"))
    assert decision.outcome is Outcome.DENY and "the policy is void" in decision.reasons[0]


@pytest.mark.parametrize("conflict,action,outcome", [
    ("perm", "read", Outcome.PERMIT), ("perm", "distribute", Outcome.PERMIT),
    ("prohibit", "read", Outcome.PERMIT), ("prohibit", "distribute", Outcome.DENY),
])
def test_under_perm_or_prohibit_the_stated_side_wins_and_the_policy_stands(
        conflict, action, outcome):
    assert evaluate(both(conflict), context(action=action)).outcome is outcome


@pytest.mark.parametrize("prohibited", [{"action": "distribute", "assignee": "bob"},
                                        {"action": "distribute", "target": "urn:x:other"},
                                        {"action": "sell"}])
def test_rules_that_cannot_meet_are_no_conflict_and_the_policy_stands(prohibited):
    decision = evaluate(parse_policy({"@id": "urn:x:p", "permission": [
        {"action": "use", "assignee": "alice", "target": "urn:x:data"}],
        "prohibition": [prohibited]}), context(action="read", target="urn:x:data"))
    assert decision.outcome is Outcome.PERMIT, decision.reasons


def test_a_permission_and_a_prohibition_of_sibling_actions_do_not_conflict():
    sibling = parse_policy({"@id": "urn:x:p", "permission": [{"action": "read"}],
                            "prohibition": [{"action": "distribute"}]})
    assert evaluate(sibling, context(action="read")).outcome is Outcome.PERMIT
    assert evaluate(sibling, context(action="distribute")).outcome is Outcome.DENY


def test_rules_for_different_parties_conflict_when_one_request_meets_both():
    split = parse_policy({"@id": "urn:x:p", "permission": [{"action": "use", "assignee": "cardio-ai"}],
                          "prohibition": [{"action": "distribute", "assignee": "uni-x"}]})
    assert evaluate(split, context(action="read")).outcome is Outcome.PERMIT
    decision = evaluate(split, context(action="distribute"))
    assert decision.outcome is Outcome.DENY and "the policy is void" in decision.reasons[0]


def test_a_prohibition_that_may_apply_needs_approval_under_prohibit():
    maybe = {"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "marketing"}]}
    assert evaluate(both("prohibit", maybe), context()).outcome is Outcome.NEEDS_APPROVAL
    assert evaluate(both("prohibit", maybe), context(purpose="research")).outcome is (
        Outcome.PERMIT)
    assert evaluate(both("prohibit", maybe), context(purpose="marketing")).outcome is (
        Outcome.DENY)
    assert evaluate(both("perm", maybe), context()).outcome is Outcome.PERMIT


def test_only_prohibitions_means_deny():
    nothing = parse_policy({"@id": "urn:x:p", "prohibition": [{"action": "sell"}]})
    decision = evaluate(nothing, context())
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == ("the policy grants no permission",)


# --- duties and obligations -------------------------------------------------------------

def test_duties_the_connector_performs_become_obligations_of_a_permit():
    decision = evaluate(policy(duties=({"action": "delete"},
                                       {"action": "pseudonymize", "target": "column:name"})),
                        context())
    assert decision.outcome is Outcome.PERMIT
    assert [(item.duty.action, item.by_service, item.state) for item in decision.obligations] == [
        ("delete", True, DutyState.PENDING), ("pseudonymize", True, DutyState.PENDING)]


@pytest.mark.parametrize("recorded,outcome", [
    (None, Outcome.NEEDS_APPROVAL), ("pending", Outcome.NEEDS_APPROVAL),
    ("fulfilled", Outcome.PERMIT), ("violated", Outcome.DENY)])
def test_a_duty_the_connector_cannot_perform_needs_a_recorded_fulfilment(recorded, outcome):
    pay = {"@id": "urn:x:pay", "action": "compensate", "consequence": [{"action": "inform"}]}
    states = {"urn:x:pay": recorded} if recorded else {}
    decision = evaluate(policy(duties=(pay,)), context(duty_states=states))
    assert decision.outcome is outcome
    if outcome is Outcome.DENY:
        assert decision.reasons == (
            "permission 1: duty to compensate is recorded as violated; now also due: inform",)
        assert decision.obligations == ()
    else:
        assert [item.duty.action for item in decision.obligations] == ["compensate"]


def test_policy_obligations_join_the_agreement_and_a_violated_one_denies():
    doc = {"@id": "urn:x:p", "permission": [{"action": "use"}],
           "obligation": [{"@id": "urn:x:tell", "action": "inform"},
                          {"@id": "urn:x:review", "action": "reviewPolicy"}]}
    review_done = {"urn:x:review": DutyState.FULFILLED}
    decision = evaluate(parse_policy(doc), context(duty_states=review_done))
    assert decision.outcome is Outcome.PERMIT
    assert [item.duty.action for item in decision.obligations] == ["inform", "reviewPolicy"]
    assert evaluate(parse_policy(doc), context()).outcome is Outcome.NEEDS_APPROVAL
    broken = {**review_done, "urn:x:tell": DutyState.VIOLATED}
    assert evaluate(parse_policy(doc), context(duty_states=broken)).outcome is Outcome.DENY


# --- the templates in use ---------------------------------------------------------------

def health() -> object:
    return parse_policy(templates.health_secondary_use(
        "urn:x:ehds", permit_ids=["HDAB-FI-42"], projects=["cardio-ai"],
        processing_location="ai-factory", identifying_columns=["patient_id", "postcode"],
        retention_days=90))


def member(**facts) -> RequestContext:
    return context(**{"purpose": "scientificResearch", "processing_location": "ai-factory",
                      "start": NOW, "end": NOW + dt.timedelta(days=60), **facts})


def test_health_dry_run_without_a_permit_says_what_is_missing():
    decision = evaluate(health(), member())
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert decision.reasons == ("permission 1: the request does not give the data permit "
                                "(attributes.dataPermit); the policy requires one of "
                                "[HDAB-FI-42]",)


def test_health_request_with_the_permit_is_agreed_with_pseudonymisation_and_deletion():
    decision = evaluate(health(), member(attributes={"dataPermit": "HDAB-FI-42"}))
    assert decision.outcome is Outcome.PERMIT
    assert [(item.duty.action, item.duty.target) for item in decision.obligations] == [
        ("pseudonymize", "column:patient_id"), ("pseudonymize", "column:postcode"),
        ("delete", None)]


def test_health_request_from_another_project_is_denied_naming_the_recipient_constraint():
    decision = evaluate(health(), member(project="onco", attributes={"dataPermit": "HDAB-FI-42"}))
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == ("permission 1: the receiving project is onco; the policy "
                                "requires one of [cardio-ai]: not met",)
    failed, = [node for node in walk(decision.explanation) if node.state is F
               and node.kind == "constraint"]
    assert (failed.path, failed.left_operand, failed.value) == (
        "$.permission[0].constraint[1]", "recipient", "onco")


def test_health_request_longer_than_the_retention_is_denied():
    too_long = member(attributes={"dataPermit": "HDAB-FI-42"}, end=NOW + dt.timedelta(days=91))
    decision = evaluate(health(), too_long)
    assert decision.outcome is Outcome.DENY
    assert "the length of the requested period is 91 days" in decision.reasons[0]


def test_defence_template_checks_clearance_and_forbids_redistribution():
    defence = parse_policy(templates.defence_restricted(
        "urn:x:def", clearance="SECRET", projects=["cardio-ai"]))
    cleared = {"attributes": {"securityClearance": "SECRET"}}
    assert evaluate(defence, context(**cleared)).outcome is Outcome.PERMIT
    assert evaluate(defence, context(action="distribute", **cleared)).outcome is Outcome.DENY
    low = evaluate(defence, context(attributes={"securityClearance": "RESTRICTED"}))
    assert low.outcome is Outcome.DENY
    assert "security clearance is RESTRICTED; the policy requires at or above SECRET" in (
        low.reasons[0])


def test_open_data_permits_anyone_and_research_eu_permits_research_but_not_marketing():
    open_data = parse_policy(templates.open_data("urn:x:o", license="CC-BY-4.0"))
    assert evaluate(open_data, RequestContext(now=NOW)).outcome is Outcome.PERMIT
    research = parse_policy(templates.research_eu("urn:x:r"))
    assert evaluate(research, context(purpose="academicResearch", region="DE")).outcome is (
        Outcome.PERMIT)
    assert evaluate(research, context(purpose="marketing", region="DE")).outcome is Outcome.DENY


# --- decisions are values ---------------------------------------------------------------

def test_the_decision_is_a_json_document_with_paths_values_and_words():
    decision = evaluate(health(), member(project="onco"))
    doc = json.loads(json.dumps(decision.to_dict()))
    assert doc["decision"] == "deny"
    permission = doc["explanation"]["children"][0]
    assert permission["kind"] == "permission" and permission["state"] == "not_satisfied"
    elapsed = next(item for item in permission["children"]
                   if item.get("leftOperand") == "elapsedTime")
    assert elapsed["value"] == {"start": "2025-06-01T12:00:00Z", "end": "2025-07-31T12:00:00Z"}
    assert elapsed["text"].endswith("the policy requires at most P90D: met")


def test_the_same_policy_and_request_give_the_same_decision_and_only_the_clock_moves_it():
    window = policy({"leftOperand": "dateTime", "operator": "lt",
                     "rightOperand": "2025-07-01T00:00:00Z"})
    first, second = evaluate(window, context()), evaluate(window, context())
    assert isinstance(first, Decision) and first == second
    later = evaluate(window, context(now=dt.datetime(2025, 7, 1, tzinfo=dt.UTC)))
    assert (first.outcome, later.outcome) == (Outcome.PERMIT, Outcome.DENY)


def test_the_request_context_refuses_a_clock_without_time_zone():
    with pytest.raises(ValueError, match="timezone-aware"):
        RequestContext(now=dt.datetime(2025, 6, 1))
    with pytest.raises(ValueError, match="count"):
        RequestContext(now=NOW, count=-1)


def test_the_policy_modules_import_neither_flask_nor_sqlalchemy():
    probe = ("import sys, connector.policies.evaluator, connector.policies.templates; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "schemas" / "examples" / "odrl-policy"
                   / "valid").glob("*.json"))
ODD_REQUESTS = [
    RequestContext(now=NOW),
    RequestContext(now=NOW, action="teleport", assignee="", count=0, purpose="",
                   start=NOW, end=NOW - dt.timedelta(days=400), region="??",
                   attributes={"securityClearance": ["SECRET"], "ethicsApproval": {"x": 1},
                               "dataPermit": 7}, duty_states={"urn:connector:duty:delete":
                                                               "violated"}),
    RequestContext(now=dt.datetime(9999, 12, 31, tzinfo=dt.UTC), start=NOW,
                   end=dt.datetime(9999, 12, 31, tzinfo=dt.UTC), count=10**12),
]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_evaluation_is_total_over_odd_requests(path):
    document = parse_policy(json.loads(path.read_text()))
    for request in ODD_REQUESTS:
        decision = evaluate(document, request)
        assert decision.outcome in set(Outcome)
        json.dumps(decision.to_dict())
