"""Benchmark: ODRL policy evaluations per second and latency, for 1, 5 and 20 constraints.

    .venv/bin/python bench/policy_eval.py [--seconds 3] [--json bench/results/policy_eval.json]

Each policy is an Offer with one permission whose constraints all hold for the request (the
evaluator checks every one and builds the full explanation tree), evaluated in one process on
one core. Target (issue 3): at least 20,000 evaluations per second for 5 constraints, p99 under
1 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import time
from pathlib import Path

from _common import RESULTS_DIR

from connector.policies.evaluator import RequestContext, evaluate
from connector.policies.odrl_jsonld import parse_policy

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)

# Constraints that all hold for CONTEXT, cycled to build policies of any size.
CONSTRAINTS = [
    {"leftOperand": "purpose", "operator": "isA", "rightOperand": "research"},
    {"leftOperand": "recipient", "operator": "isAnyOf", "rightOperand": ["cardio-ai", "onco-ai"]},
    {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": ["EU"]},
    {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P180D"},
    {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2030-01-01T00:00:00Z"},
    {"leftOperand": "processingLocation", "operator": "eq", "rightOperand": "ai-factory"},
    {"leftOperand": "dataPermit", "operator": "isAnyOf", "rightOperand": ["HDAB-1", "HDAB-2"]},
    {"leftOperand": "securityClearance", "operator": "gteq", "rightOperand": "CONFIDENTIAL"},
    {"leftOperand": "count", "operator": "lteq", "rightOperand": 10},
    {"leftOperand": "organisation", "operator": "eq", "rightOperand": "health"},
]

CONTEXT = RequestContext(
    now=NOW, action="use", assignee="mia", project="cardio-ai", organisation="health",
    memberships=frozenset({"cardio-ai", "health"}), purpose="scientificResearch",
    start=NOW, end=NOW + dt.timedelta(days=90), processing_location="ai-factory", region="DE",
    count=1, attributes={"dataPermit": "HDAB-1", "securityClearance": "SECRET"})


def policy(size: int):
    constraints = [CONSTRAINTS[i % len(CONSTRAINTS)] for i in range(size)]
    return parse_policy({"@id": f"urn:bench:{size}", "@type": "Offer",
                         "profile": "urn:connector:odrl-profile:v1",
                         "permission": [{"action": "use", "constraint": constraints,
                                         "duty": [{"@id": "urn:bench:duty", "action": "delete"}]}]})


def measure(size: int, seconds: float) -> dict[str, float]:
    subject = policy(size)
    decision = evaluate(subject, CONTEXT)
    assert str(decision.outcome) == "permit", decision.reasons
    for _ in range(200):  # warm-up
        evaluate(subject, CONTEXT)
    samples: list[int] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(seconds * 1e9)
    started = clock()
    while clock() < deadline:
        t0 = clock()
        evaluate(subject, CONTEXT)
        samples.append(clock() - t0)
    elapsed = (clock() - started) / 1e9
    quantiles = statistics.quantiles(samples, n=100)
    return {"constraints": size, "evaluations": len(samples),
            "per_second": round(len(samples) / elapsed),
            "p50_us": round(statistics.median(samples) / 1e3, 1),
            "p95_us": round(quantiles[94] / 1e3, 1), "p99_us": round(quantiles[98] / 1e3, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per policy size")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "policy_eval.json")
    args = parser.parse_args()
    rows = [measure(size, args.seconds) for size in (1, 5, 20)]
    print(f"{'constraints':>11} {'eval/s':>9} {'p50 µs':>8} {'p95 µs':>8} {'p99 µs':>8}")
    for row in rows:
        print(f"{row['constraints']:>11} {row['per_second']:>9} {row['p50_us']:>8} "
              f"{row['p95_us']:>8} {row['p99_us']:>8}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"python": platform.python_version(),
                                     "machine": platform.machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
