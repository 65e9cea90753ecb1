"""Conformance with the ODRL Test Suite (SolidLabResearch/ODRL-Test-Suite, 68 cases).

Each case is a policy, a request and a state of the world in Turtle, with the expected
compliance report (https://w3id.org/force/compliance-report). The policy is turned into
JSON-LD and read by ``parse_policy``; the request and state of the world become a
``RequestContext``; the evaluator's explanation is compared with the report: the rule's
activation, every premise (action, party, target) and every constraint report (its
satisfaction and the left operand value, operator and right operand compared).

Cases outside the supported profile are listed in ``EXCLUDED`` with their reason, and a test
checks that the reason holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS

from connector.policies.evaluator import (
    DutyState,
    Node,
    Outcome,
    RequestContext,
    State,
    evaluate,
)
from connector.policies.odrl_jsonld import PolicyInvalid, parse_policy

SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "odrl-test-suite"
DATA = SUITE / "data"
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
REPORT = Namespace("https://w3id.org/force/compliance-report#")
EX = Namespace("http://example.org/")
CURRENT_TIME = URIRef("http://example.com/request/currentTime")

CASES = sorted(path.stem for path in (DATA / "test_cases").glob("testcase-*.ttl"))

_NO_ACTION = ("the policy's rule has no action; ODRL 2.2 Information Model section 2.6 says a "
              "Rule MUST have one action, so validation rejects the policy on write")
EXCLUDED: dict[str, str] = {
    "testcase-001-alice": _NO_ACTION,
    "testcase-002-bob": _NO_ACTION,
    "testcase-003-bob-write-y": _NO_ACTION,
    "testcase-004-alice": _NO_ACTION,
    "testcase-005-bob": _NO_ACTION,
    "testcase-006-bob-write-y": _NO_ACTION,
}
RUN = [case for case in CASES if case not in EXCLUDED]


# --- reading a case ---------------------------------------------------------------------

def _local(path: str) -> Path:
    """The local copy of a file the index names by its GitHub URL (…/data/<folder>/<file>)."""
    folder, name = path.split("/")[-2:]
    return DATA / folder / name


@cache
def _index() -> Graph:
    return Graph().parse(DATA / "index.ttl")


@cache
def _graph(path: Path) -> Graph:
    return Graph().parse(path)


@dataclass(frozen=True)
class Case:
    policy: Graph
    policy_iri: URIRef
    request: Graph
    sotw: Graph
    report: Graph


def load(case: str) -> Case:
    report = _graph(DATA / "test_cases" / f"{case}.ttl")
    node = next(report.subjects(RDF.type, EX.TestCase))
    index = _index()
    source = {name: _local(str(index.value(node, EX[name])))
              for name in ("policySource", "requestSource", "sotwSource")}
    return Case(_graph(source["policySource"]), report.value(node, EX.policy),
                _graph(source["requestSource"]), _graph(source["sotwSource"]), report)


# --- policy: RDF to JSON-LD -------------------------------------------------------------

_IGNORED = {RDF.type, ODRL.uid, DCTERMS.source}  # type is read; uid equals the IRI; provenance
_LOGICAL = (ODRL["and"], ODRL["or"], ODRL.xone, ODRL.andSequence)


def _only(graph: Graph, node: Any, known: set[URIRef]) -> None:
    """Fail loudly on any property the mapping would drop."""
    unknown = {p for p in graph.predicates(node) if p not in known | _IGNORED}
    assert not unknown, f"unmapped properties on {node}: {unknown}"


def _id(node: Any) -> dict[str, str]:
    return {} if isinstance(node, BNode) else {"@id": str(node)}


def _value(node: Any) -> Any:
    if isinstance(node, Literal):
        return {"@value": str(node), "@type": str(node.datatype)} if node.datatype else str(node)
    return str(node)


def _party_or_asset(graph: Graph, node: Any) -> Any:
    for kind in (ODRL.PartyCollection, ODRL.AssetCollection):
        if (node, RDF.type, kind) in graph:  # its odrl:source is an alternative name
            return {"@id": str(node), "@type": kind.removeprefix(str(ODRL))}
    return str(node)


def _constraint(graph: Graph, node: Any) -> dict[str, Any]:
    operands = [op for op in _LOGICAL if (node, op, None) in graph]
    if operands:
        _only(graph, node, set(_LOGICAL))
        members = sorted(graph.objects(node, operands[0]))  # RDF sets are unordered
        name = operands[0].removeprefix(str(ODRL))
        return {**_id(node), name: [_constraint(graph, member) for member in members]}
    _only(graph, node, {ODRL.leftOperand, ODRL.operator, ODRL.rightOperand})
    return {**_id(node), **{name: _value(graph.value(node, ODRL[name]))
                            for name in ("leftOperand", "operator", "rightOperand")}}


def _rule(graph: Graph, node: Any) -> dict[str, Any]:
    _only(graph, node, {ODRL.action, ODRL.target, ODRL.assignee, ODRL.assigner,
                        ODRL.constraint, ODRL.duty})
    doc: dict[str, Any] = _id(node)
    for name in ("action", "target", "assignee", "assigner"):
        value = graph.value(node, ODRL[name])
        if value is not None:
            doc[name] = str(value) if name == "action" else _party_or_asset(graph, value)
    for name, build in (("constraint", _constraint), ("duty", _rule)):
        items = sorted(graph.objects(node, ODRL[name]))
        if items:
            doc[name] = [build(graph, item) for item in items]
    return doc


def policy_document(graph: Graph, iri: URIRef) -> dict[str, Any]:
    _only(graph, iri, {ODRL.permission, ODRL.prohibition, ODRL.obligation,
                       DCTERMS.description})
    doc: dict[str, Any] = {"@id": str(iri), "@type": str(graph.value(iri, RDF.type))}
    description = graph.value(iri, DCTERMS.description)
    if description is not None:
        doc["dct:description"] = str(description)
    for name in ("permission", "prohibition", "obligation"):
        rules = sorted(graph.objects(iri, ODRL[name]))
        if rules:
            doc[name] = [_rule(graph, rule) for rule in rules]
    return doc


# --- request and state of the world -----------------------------------------------------

_DEONTIC = {REPORT.Fulfilled: DutyState.FULFILLED, REPORT.Violated: DutyState.VIOLATED,
            REPORT.NonSet: DutyState.PENDING}


def request_context(request: Graph, sotw: Graph) -> RequestContext:
    node = next(request.subjects(RDF.type, ODRL.Request))
    rule = request.value(node, ODRL.permission)
    assignee, target = request.value(rule, ODRL.assignee), request.value(rule, ODRL.target)
    duties = {str(sotw.value(report, REPORT.rule)): _DEONTIC[sotw.value(report,
                                                                         REPORT.deonticState)]
              for report in sotw.subjects(RDF.type, REPORT.DutyReport)}
    return RequestContext(
        now=sotw.value(CURRENT_TIME, DCTERMS.issued).toPython(),
        action=str(request.value(rule, ODRL.action)),
        assignee=str(assignee),
        memberships=frozenset(map(str, sotw.objects(assignee, ODRL.partOf))),
        target=str(target),
        target_part_of=frozenset(map(str, sotw.objects(target, ODRL.partOf))),
        duty_states=duties,
    )


# --- expected report --------------------------------------------------------------------

_STATE = {REPORT.Satisfied: State.SATISFIED, REPORT.Unsatisfied: State.NOT_SATISFIED}
_PREMISES = {REPORT.ActionReport: "action", REPORT.PartyReport: "party",
             REPORT.TargetReport: "target"}
_RULE_KIND = {REPORT.PermissionReport: "permission", REPORT.ProhibitionReport: "prohibition"}


@dataclass(frozen=True)
class Expected:
    rule: str
    kind: str
    active: bool
    premises: dict[str, State]
    constraints: dict[str, tuple[State, Any, str | None, Any]]


def expected(report: Graph) -> Expected:
    """The report's findings, gathered by type rather than by link: in cases 065-068 the
    rule report's premiseReport links name nodes the file never defines."""
    (rule_report, kind), = [(node, kind) for kind in _RULE_KIND
                            for node in report.subjects(RDF.type, kind)]
    premises = {name: _STATE[report.value(node, REPORT.satisfactionState)]
                for kind_, name in _PREMISES.items() for node in report.subjects(RDF.type, kind_)}
    constraints = {}
    for node in report.subjects(RDF.type, REPORT.ConstraintReport):
        left, right = (report.value(node, REPORT[name]) for name in (
            "constraintLeftOperand", "constraintRightOperand"))
        operator = report.value(node, REPORT.constraintOperator)
        constraints[str(report.value(node, REPORT.constraint))] = (
            _STATE[report.value(node, REPORT.satisfactionState)],
            left and left.toPython(), operator and operator.removeprefix(str(ODRL)),
            right and right.toPython())
    return Expected(str(report.value(rule_report, REPORT.rule)), _RULE_KIND[kind],
                    report.value(rule_report, REPORT.activationState) == REPORT.Active,
                    premises, constraints)


# --- comparison -------------------------------------------------------------------------

def _walk(node: Node) -> list[Node]:
    return [node, *(item for child in node.children for item in _walk(child))]


def test_every_case_is_either_run_or_excluded_with_a_reason():
    assert len(CASES) == 68
    assert set(EXCLUDED) <= set(CASES)
    assert len(RUN) + len(EXCLUDED) == len(CASES) == 68
    assert all(reason.strip() for reason in EXCLUDED.values())


def test_the_conformance_count_is_recorded_in_the_docs():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "odrl.md").read_text()
    assert f"{len(RUN)} of {len(CASES)} cases agree" in docs
    for case in EXCLUDED:
        assert case in docs


@pytest.mark.parametrize("case", sorted(EXCLUDED))
def test_excluded_case_is_rejected_by_validation_as_its_reason_says(case):
    loaded = load(case)
    with pytest.raises(PolicyInvalid) as raised:
        parse_policy(policy_document(loaded.policy, loaded.policy_iri))
    assert any("needs an action" in error["message"] for error in raised.value.errors)


@pytest.mark.parametrize("case", RUN)
def test_case_agrees_with_the_expected_compliance_report(case):
    loaded = load(case)
    policy = parse_policy(policy_document(loaded.policy, loaded.policy_iri))
    decision = evaluate(policy, request_context(loaded.request, loaded.sotw))
    want = expected(loaded.report)

    rule, = [node for node in decision.explanation.children if node.uid == want.rule]
    assert rule.kind == want.kind
    duties = [child for child in rule.children if child.kind == "duty"]
    active = rule.state is State.SATISFIED and all(
        duty.state is not State.NOT_SATISFIED for duty in duties)
    assert active == want.active, rule.text

    premises = {child.kind: child.state for child in rule.children
                if child.kind in ("action", "party", "target")}
    assert premises == want.premises

    ours = {node.uid: node for node in _walk(rule) if node.kind == "constraint"}
    assert set(ours) == set(want.constraints)
    for uid, (state, left, operator, right) in want.constraints.items():
        node = ours[uid]
        assert node.state is state, node.text
        if operator is not None:  # an atomic constraint: what was compared with what
            assert (node.value, node.operator) == (left, operator)
            assert dt.datetime.fromisoformat(node.right_operand) == right

    granted = want.active and want.kind == "permission"
    assert (decision.outcome is not Outcome.DENY) == granted, decision.reasons
