"""The vocabulary the connector understands: actions, left operands and operators.

One registry each. A left operand declares its value type (how a right operand is parsed,
compared and shown) and how its value is read from the request context; an operator is a
test over two typed values. Site terms (``site=True``) belong to :data:`SITE_PROFILE` and a
policy using them must declare that profile (ODRL 2.2 Information Model, section 3.2).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from connector.datetimes import parse_datetime

ODRL_CORE_PROFILE = "http://www.w3.org/ns/odrl/2/core"
SITE_PROFILE = "urn:connector:odrl-profile:v1"
KNOWN_PROFILES = frozenset({ODRL_CORE_PROFILE, SITE_PROFILE})

# --- actions ----------------------------------------------------------------------------

# ODRL 2.2 Common Vocabulary: action -> the action it is includedIn (None for the roots).
ACTIONS: dict[str, str | None] = {
    "use": None, "transfer": None, "sell": "transfer", "give": "transfer",
    "extract": "reproduce", "pseudonymize": "use",  # pseudonymize: site profile
    **dict.fromkeys((
        "acceptTracking", "aggregate", "annotate", "anonymize", "archive", "attribute",
        "compensate", "concurrentUse", "delete", "derive", "digitize", "display",
        "distribute", "ensureExclusivity", "execute", "grantUse", "include", "index",
        "inform", "install", "modify", "move", "nextPolicy", "obtainConsent", "play",
        "present", "print", "read", "reproduce", "reviewPolicy", "stream", "synchronize",
        "textToSpeech", "transform", "translate", "uninstall", "watermark"), "use"),
}
SITE_ACTIONS = frozenset({"pseudonymize"})
# Deprecated ODRL actions and their skos:exactMatch; None: deprecated without a replacement.
DEPRECATED_ACTIONS: dict[str, str | None] = {
    "write": "modify", "writeTo": "modify", "append": "modify", "appendTo": "modify",
    "copy": "reproduce", "export": "transform", "pay": "compensate", "license": "grantUse",
    "lease": None, "lend": None, "preview": None, "secondaryUse": None,
}
# Duties the connector performs itself while staging or serving the data.
SERVICE_DUTIES = frozenset({"delete", "anonymize", "pseudonymize", "inform", "acceptTracking"})


def canonical_action(name: str) -> str | None:
    """The vocabulary action ``name`` stands for (deprecated aliases resolved), or None."""
    name = DEPRECATED_ACTIONS.get(name, name) or ""
    return name if name in ACTIONS else None


def _lineage(name: str) -> frozenset[str]:
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        chain.append(current)
        current = ACTIONS[current]
    return frozenset(chain)


_LINEAGE = {name: _lineage(name) for name in ACTIONS}


def action_covers(rule_action: str, requested: str) -> bool:
    """True when ``requested`` is ``rule_action`` or included in it (transitively)."""
    rule, asked = canonical_action(rule_action), canonical_action(requested)
    return rule is not None and asked is not None and rule in _LINEAGE[asked]


# --- value types ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Span:
    """A right-operand time: an instant (one microsecond wide) or a whole calendar day."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class Duration:
    """An xsd:duration; months are calendar months, so it is anchored at a start time."""

    months: int
    delta: dt.timedelta

    def after(self, start: dt.datetime) -> dt.datetime:
        year, month = divmod(start.month - 1 + self.months, 12)
        year += start.year
        day = min(start.day, calendar.monthrange(year, month + 1)[1])
        return start.replace(year=year, month=month + 1, day=day) + self.delta


@dataclass(frozen=True, slots=True)
class Period:
    """The period a request asks for: its length is the elapsedTime left value."""

    start: dt.datetime
    end: dt.datetime


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601, with Z for UTC."""
    return value.isoformat().replace("+00:00", "Z")


_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?$")


def _parse_span(raw: Any) -> Span:
    match = _DATE.match(raw) if isinstance(raw, str) else None
    if match:  # a date is the whole calendar day, in its own zone or else in UTC
        zone = match.group(2) or "Z"
        start = dt.datetime.fromisoformat(f"{match.group(1)}T00:00:00{zone}")
        return Span(start, start + dt.timedelta(days=1))
    instant = parse_datetime(raw)
    return Span(instant, instant + dt.timedelta(microseconds=1))


def _compare_span(left: dt.datetime, right: Span) -> int:
    return -1 if left < right.start else (0 if left < right.end else 1)


_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(raw: Any) -> Duration:
    """An xsd:duration such as P30D, P1Y or PT12H; negative durations are refused."""
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if not match:
        raise ValueError(f"{raw!r} is not a duration such as P30D, P6M or PT12H")
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    delta = dt.timedelta(weeks=_number(weeks), days=_number(days), hours=_number(hours),
                         minutes=_number(minutes), seconds=float(seconds or 0))
    return Duration(12 * _number(years) + _number(months), delta)


def _number(text: str | None) -> int:
    return int(text) if text else 0


def _compare_period(left: Period, right: Duration) -> int:
    limit = right.after(left.start)
    return -1 if left.end < limit else (0 if left.end == limit else 1)


def _render_period(value: Period) -> str:
    days = (value.end - value.start).total_seconds() / 86400
    return f"{days:g} days ({format_datetime(value.start)} to {format_datetime(value.end)})"


def _parse_integer(raw: Any) -> int:
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise ValueError(f"{raw!r} is not a non-negative integer")
    return raw


def _parse_text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or raw != raw.strip():
        raise ValueError(f"{raw!r} is not a non-empty identifier")
    return raw


def _parse_boolean(raw: Any) -> bool:
    flags = {True: True, False: False, "true": True, "false": False}
    if isinstance(raw, bool | str) and raw in flags:
        return flags[raw]
    raise ValueError(f"{raw!r} is not true or false")


CLEARANCE_SCALE = ("UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP_SECRET")


def _parse_clearance(raw: Any) -> int:
    name = raw.strip().upper().replace("-", "_").replace(" ", "_") if isinstance(raw, str) else ""
    if name not in CLEARANCE_SCALE:
        raise ValueError(f"{raw!r} is not a clearance level ({', '.join(CLEARANCE_SCALE)})")
    return CLEARANCE_SCALE.index(name)


EU = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
               .split())
REGION_GROUPS: dict[str, frozenset[str]] = {"EU": EU, "EEA": EU | {"IS", "LI", "NO"}}
_REGION_PARENTS = {"EU": frozenset({"EEA"})}


def _parse_region(raw: Any) -> str:
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if code not in REGION_GROUPS and not re.fullmatch(r"[A-Z]{2}", code):
        raise ValueError(f"{raw!r} is not an ISO 3166 country code or one of EU, EEA")
    return code


def _region_broader(code: str) -> frozenset[str]:
    groups = frozenset(name for name, members in REGION_GROUPS.items() if code in members)
    return groups | _REGION_PARENTS.get(code, frozenset())


# Purposes: free identifiers; this small taxonomy is what isA follows.
PURPOSE_BROADER: dict[str, str] = {
    "scientificResearch": "research", "academicResearch": "research",
    "commercialResearch": "research", "healthResearch": "scientificResearch",
}


def _purpose_broader(term: str) -> frozenset[str]:
    chain: list[str] = []
    while term in PURPOSE_BROADER:
        term = PURPOSE_BROADER[term]
        chain.append(term)
    return frozenset(chain)


def _compare(left: Any, right: Any) -> int:
    return (left > right) - (left < right)


_SCALAR_ORDERED = frozenset({"eq", "neq", "lt", "lteq", "gt", "gteq"})
_SETS = frozenset({"eq", "neq", "isAnyOf", "isAllOf", "isNoneOf"})


@dataclass(frozen=True, slots=True)
class ValueType:
    """How values of one kind are parsed, compared, shown, and which operators apply."""

    name: str
    data_types: tuple[str, ...]
    parse: Callable[[Any], Any]
    operators: frozenset[str]
    render: Callable[[Any], str] = str
    compare: Callable[[Any, Any], int] | None = None
    broader: Callable[[Any], frozenset[Any]] = lambda value: frozenset()
    words: Mapping[str, str] = field(default_factory=dict)


_TIME_WORDS = {"eq": "exactly at", "neq": "other than", "lt": "before", "lteq": "at or before",
               "gt": "after", "gteq": "at or after"}
_LEVEL_WORDS = {"lt": "below", "lteq": "at or below", "gt": "above", "gteq": "at or above"}

DATETIME = ValueType("a date and time", ("xsd:dateTime", "xsd:date"), _parse_span,
                     _SCALAR_ORDERED, format_datetime, _compare_span, words=_TIME_WORDS)
DURATION = ValueType("a duration", ("xsd:duration",), parse_duration, _SCALAR_ORDERED,
                     _render_period, _compare_period)
INTEGER = ValueType("a number", ("xsd:integer", "xsd:nonNegativeInteger"), _parse_integer,
                    _SCALAR_ORDERED | _SETS, str, _compare)
TEXT = ValueType("an identifier", ("xsd:string", "xsd:anyURI"), _parse_text, _SETS)
PURPOSE = ValueType("a purpose", ("xsd:string", "xsd:anyURI"), _parse_text, _SETS | {"isA"},
                    broader=_purpose_broader)
REGION = ValueType("a country or region code", ("xsd:string", "xsd:anyURI"), _parse_region,
                   _SETS | {"isPartOf"}, broader=_region_broader)
CLEARANCE = ValueType("a clearance level", ("xsd:string",), _parse_clearance,
                      _SCALAR_ORDERED | _SETS, CLEARANCE_SCALE.__getitem__, _compare,
                      words=_LEVEL_WORDS)
BOOLEAN = ValueType("true or false", ("xsd:boolean",), _parse_boolean,
                    frozenset({"eq", "neq"}), lambda value: str(value).lower())


# --- left operands ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LeftOperand:
    """A left operand: its words, value type and where its value comes from."""

    name: str
    label: str
    type: ValueType
    read: Callable[[Any], Any]
    source: str
    site: bool = False


def _period(context: Any) -> Period | None:
    if context.start is None or context.end is None:
        return None
    if context.end < context.start:
        raise ValueError("the requested period ends before it starts")
    return Period(context.start, context.end)


def _attribute(name: str, kind: ValueType) -> Callable[[Any], Any]:
    def read(context: Any) -> Any:
        raw = context.attributes.get(name)
        return None if raw is None else kind.parse(raw)
    return read


def _register(*operands: LeftOperand) -> dict[str, LeftOperand]:
    return {operand.name: operand for operand in operands}


LEFT_OPERANDS: dict[str, LeftOperand] = _register(
    LeftOperand("dateTime", "the time of use", DATETIME, attrgetter("now"),
                "the evaluation clock (now)"),
    LeftOperand("elapsedTime", "the length of the requested period", DURATION, _period,
                "the requested start and end"),
    LeftOperand("count", "the number of uses", INTEGER, attrgetter("count"),
                "uses so far under this policy, including this one"),
    LeftOperand("purpose", "the purpose", PURPOSE, attrgetter("purpose"),
                "the purpose stated in the request"),
    LeftOperand("recipient", "the receiving project", TEXT, attrgetter("project"),
                "the project the data is delivered to"),
    LeftOperand("spatial", "the region of processing", REGION, attrgetter("region"),
                "the country or region where the data is processed"),
    LeftOperand("organisation", "the requester's organisation", TEXT,
                attrgetter("organisation"), "the requesting organisation", site=True),
    LeftOperand("processingLocation", "the processing location", TEXT,
                attrgetter("processing_location"), "the facility that processes the data",
                site=True),
    LeftOperand("securityClearance", "the requester's security clearance", CLEARANCE,
                _attribute("securityClearance", CLEARANCE),
                "attributes.securityClearance", site=True),
    LeftOperand("dataPermit", "the data permit", TEXT, _attribute("dataPermit", TEXT),
                "attributes.dataPermit",
                site=True),
    LeftOperand("ethicsApproval", "the ethics approval", BOOLEAN,
                _attribute("ethicsApproval", BOOLEAN), "attributes.ethicsApproval",
                site=True),
)

# ODRL 2.2 left operands this connector does not evaluate (named as such when used).
ODRL_LEFT_OPERANDS = frozenset((
    "absolutePosition absoluteSpatialPosition absoluteTemporalPosition absoluteSize "
    "delayPeriod deliveryChannel device event fileFormat industry language media meteredTime "
    "payAmount percentage product relativePosition relativeSpatialPosition "
    "relativeTemporalPosition relativeSize resolution spatialCoordinates system systemDevice "
    "timeInterval unitOfCount version virtualLocation").split())


# --- operators --------------------------------------------------------------------------

def _order(kind: ValueType, left: Any, right: Any) -> int:
    return kind.compare(left, right) if kind.compare else (0 if left == right else 1)


def _members(value: Any) -> frozenset[Any]:
    return frozenset(value) if isinstance(value, tuple | list | set | frozenset) else (
        frozenset((value,)))


def _within(kind: ValueType, left: Any, right: Any) -> bool:
    return left == right or right in kind.broader(left)


@dataclass(frozen=True, slots=True)
class Operator:
    """A relational operator: its requirement words and its test over typed values."""

    name: str
    phrase: str
    set_based: bool
    test: Callable[[ValueType, Any, Any], bool]


OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("eq", "equal to", False, lambda k, left, right: _order(k, left, right) == 0),
    Operator("neq", "other than", False, lambda k, left, right: _order(k, left, right) != 0),
    Operator("lt", "less than", False, lambda k, left, right: _order(k, left, right) < 0),
    Operator("lteq", "at most", False, lambda k, left, right: _order(k, left, right) <= 0),
    Operator("gt", "more than", False, lambda k, left, right: _order(k, left, right) > 0),
    Operator("gteq", "at least", False, lambda k, left, right: _order(k, left, right) >= 0),
    Operator("isA", "a kind of", False, _within),
    Operator("isPartOf", "within", True,
             lambda k, left, right: any(_within(k, left, item) for item in right)),
    Operator("isAnyOf", "one of", True, lambda k, left, right: bool(_members(left) & right)),
    Operator("isAllOf", "all of", True, lambda k, left, right: right <= _members(left)),
    Operator("isNoneOf", "none of", True, lambda k, left, right: not _members(left) & right),
)}
ODRL_OPERATORS = frozenset({"hasPart"})  # ODRL 2.2 operators this connector does not support


def phrase(operand: LeftOperand, operator: str) -> str:
    """The requirement words for ``operator`` applied to ``operand`` ("at or after")."""
    return operand.type.words.get(operator) or OPERATORS[operator].phrase


def requirement(left_operand: str, operator: str, right_operand: Any) -> str:
    """What a constraint asks for, in words: "at or after 2025-01-01"."""
    return f"{phrase(LEFT_OPERANDS[left_operand], operator)} {_shown(right_operand)}"


# --- checking a constraint --------------------------------------------------------------

XSD = "http://www.w3.org/2001/XMLSchema#"


def _shown(raw: Any) -> str:
    return "[" + ", ".join(map(str, raw)) + "]" if isinstance(raw, tuple) else str(raw)


def _listing(names: Any) -> str:
    return ", ".join(sorted(names))


def _term_problem(name: str, table: Mapping[str, Any], known: frozenset[str], what: str) -> str:
    if name in known:
        return f"{what} '{name}' is not supported here (supported: {_listing(table)})"
    return f"unknown {what} '{name}' (supported: {_listing(table)})"


def check_constraint(
    left_operand: str, operator: str, right_operand: Any,
    unit: str | None = None, data_type: str | None = None,
) -> tuple[Any, list[tuple[str, str]]]:
    """Parse the right operand of one atomic constraint.

    Returns ``(typed value, problems)``; each problem is ``(field, message)`` with field one of
    leftOperand, operator, rightOperand, unit, dataType. The typed value is None on problems.
    """
    operand, op = LEFT_OPERANDS.get(left_operand), OPERATORS.get(operator)
    problems: list[tuple[str, str]] = []
    if operand is None:
        problems.append(("leftOperand", _term_problem(
            left_operand, LEFT_OPERANDS, ODRL_LEFT_OPERANDS, "left operand")))
    if op is None:
        problems.append(("operator", _term_problem(
            operator, OPERATORS, ODRL_OPERATORS, "operator")))
    if operand is None or op is None:
        return None, problems
    kind = operand.type
    if operator not in kind.operators:
        problems.append(("operator", f"operator '{operator}' does not apply to {left_operand} "
                         f"({kind.name}); use one of: {_listing(kind.operators)}"))
    if unit is not None:
        problems.append(("unit", f"left operand '{left_operand}' takes no unit"))
    if data_type is not None and data_type.replace(XSD, "xsd:") not in kind.data_types:
        problems.append(("dataType", f"dataType '{data_type}' does not fit {left_operand}, "
                         f"which takes {' or '.join(kind.data_types)}"))
    values = right_operand if isinstance(right_operand, tuple) else (right_operand,)
    if not op.set_based and len(values) != 1:
        problems.append(("rightOperand", f"operator '{operator}' compares with one value, "
                         "not a list"))
    if problems:
        return None, problems
    try:
        parsed = [kind.parse(value) for value in values]
    except ValueError as error:
        return None, [("rightOperand", str(error))]
    except OverflowError:
        return None, [("rightOperand", f"{_shown(right_operand)} is out of range")]
    return (frozenset(parsed) if op.set_based else parsed[0]), []
