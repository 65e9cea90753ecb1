"""Offers, dry runs, access requests, approvals and agreements over the HTTP API."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from connector.db import utcnow
from connector.errors import Conflict
from connector.identity import service as identity
from connector.policies import service
from connector.policies.models import Agreement, Offer
from tests.conftest import SCHEMAS, dataset_body
from tests.factories import HEALTH_OFFER as HEALTH
from tests.factories import PERMIT, register_over_http


@pytest.fixture
def dataset(client, actors):
    return register_over_http(client, actors, accessRights="RESTRICTED").get_json()


@pytest.fixture
def offer(client, actors, dataset):
    response = client.post(f"/api/v1/datasets/{dataset['id']}/offers", json=HEALTH,
                           headers=actors.headers("steward"))
    assert response.status_code == 201, response.get_json()
    SCHEMAS.validate("offer", response.get_json())
    return response.get_json()


@pytest.fixture
def onco(uow, actors):
    """A member of another project of the same organisation."""
    identity.create_project(uow, "onco", "health")
    _, token = identity.create_user(uow, "onco-member", "member", projects=("onco",))
    return {"Authorization": f"Bearer {token}"}


def ask(client, headers, dataset, offer, **extra):
    body = {"dataset": dataset["id"], "offer": offer["id"], "project": "cardio",
            "purpose": "scientificResearch", **extra}
    if "end" not in body:
        body.setdefault("duration", "P60D")
    response = client.post("/api/v1/access-requests", json=body, headers=headers)
    return response


def test_health_template_attached_and_listed(client, actors, dataset, offer):
    listed = client.get(f"/api/v1/datasets/{dataset['id']}/offers",
                        headers=actors.headers("member")).get_json()["items"]
    assert [o["id"] for o in listed] == [offer["id"]]
    duties = offer["policy"]["permission"][0]["duty"]
    assert {d["action"] for d in duties} == {"pseudonymize", "delete"}
    assert all(d["@id"] for d in duties)


def test_dry_run_says_what_is_missing_then_permits_with_the_permit(client, actors, offer):
    request = {"project": "cardio", "organisation": "health", "purpose": "scientificResearch",
               "start": "2026-12-01T00:00:00Z", "end": "2027-01-15T00:00:00Z"}
    answer = client.post("/api/v1/policies/evaluate", json={"policy": offer["id"],
                         "request": request}, headers=actors.headers("member")).get_json()
    SCHEMAS.validate("decision", answer)
    assert answer["decision"] == "needs_approval"
    assert any("permit" in reason for reason in answer["reasons"])
    request["attributes"] = {"dataPermit": PERMIT}
    answer = client.post("/api/v1/policies/evaluate", json={"policy": offer["id"],
                         "request": request}, headers=actors.headers("member")).get_json()
    assert answer["decision"] == "permit", answer["reasons"]


def test_request_with_the_permit_is_agreed_at_once_with_obligations(client, actors, dataset, offer):
    response = ask(client, actors.headers("member"), dataset, offer,
                   attributes={"dataPermit": PERMIT})
    assert response.status_code == 201
    body = response.get_json()
    SCHEMAS.validate("access-request-response", body)
    assert body["state"] == "agreed" and body["agreement"]
    agreement = client.get(f"/api/v1/agreements/{body['agreement']}",
                           headers=actors.headers("member")).get_json()
    SCHEMAS.validate("agreement", agreement)
    assert agreement["version"] == 1 and agreement["project"] == "cardio"
    assert agreement["policy"]["@type"] == "Agreement"
    assert agreement["policy"]["assignee"] == "cardio"
    assert agreement["policy"]["target"] == dataset["identifier"]
    assert {o["action"] for o in agreement["obligations"]} == {"pseudonymize", "delete"}


def test_request_without_the_permit_waits_for_a_steward_who_approves(client, actors, dataset, offer):
    body = ask(client, actors.headers("member"), dataset, offer).get_json()
    assert body["state"] == "pending_approval" and body["agreement"] is None
    pending = client.get("/api/v1/access-requests?state=pending_approval",
                         headers=actors.headers("steward")).get_json()["items"]
    assert [r["id"] for r in pending] == [body["id"]]
    approved = client.post(f"/api/v1/access-requests/{body['id']}/approve",
                           json={"comment": "permit checked by phone"},
                           headers=actors.headers("steward"))
    assert approved.status_code == 200
    assert approved.get_json()["state"] == "agreed"
    assert approved.get_json()["comment"] == "permit checked by phone"


def test_member_of_another_project_is_denied_naming_the_recipient_constraint(
        client, actors, dataset, offer, onco):
    body = ask(client, onco, dataset, offer, project="onco",
               attributes={"dataPermit": PERMIT}).get_json()
    assert body["state"] == "rejected" and body["agreement"] is None
    assert body["decision"]["decision"] == "deny"
    assert any("recipient" in r or "receiving project" in r for r in body["decision"]["reasons"])
    assert any("onco" in r for r in body["decision"]["reasons"])


def test_revoked_agreement_shows_as_revoked_everywhere(client, actors, dataset, offer):
    request = ask(client, actors.headers("member"), dataset, offer,
                  attributes={"dataPermit": PERMIT}).get_json()
    url = f"/api/v1/agreements/{request['agreement']}"
    assert client.post(url + "/revoke", json={"comment": "permit withdrawn"},
                       headers=actors.headers("member")).status_code == 403
    revoked = client.post(url + "/revoke", json={"comment": "permit withdrawn"},
                          headers=actors.headers("steward"))
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    for who in ("member", "steward", "admin"):
        assert client.get(url, headers=actors.headers(who)).get_json()["state"] == "revoked"
        listed = client.get("/api/v1/agreements", headers=actors.headers(who)).get_json()["items"]
        assert [a["state"] for a in listed] == ["revoked"]
    assert client.post(url + "/revoke", headers=actors.headers("steward")).status_code == 409
    log = client.get("/api/v1/audit?objectType=agreement", headers=actors.headers("admin"))
    assert log.mimetype == "application/jsonl"
    assert '"agreement.revoke"' in log.get_data(as_text=True)


def test_existing_agreement_keeps_its_snapshot_when_the_offer_is_withdrawn(
        client, actors, dataset, offer):
    request = ask(client, actors.headers("member"), dataset, offer,
                  attributes={"dataPermit": PERMIT}).get_json()
    client.delete(f"/api/v1/datasets/{dataset['id']}/offers/{offer['id']}",
                  headers=actors.headers("steward"))
    agreement = client.get(f"/api/v1/agreements/{request['agreement']}",
                           headers=actors.headers("member")).get_json()
    assert agreement["state"] == "active" and agreement["policy"]["permission"]
    again = ask(client, actors.headers("member"), dataset, offer,
                attributes={"dataPermit": PERMIT})
    assert again.status_code == 404


def test_agreement_binds_the_requested_version_after_a_new_version(client, actors, dataset, offer):
    client.put(f"/api/v1/datasets/{dataset['id']}",
               json=dataset_body(identifier=dataset["identifier"], accessRights="RESTRICTED",
                                 title="Version two"), headers=actors.headers("steward"))
    old = ask(client, actors.headers("member"), dataset, offer, version=1,
              attributes={"dataPermit": PERMIT}).get_json()
    new = ask(client, actors.headers("member"), dataset, offer,
              attributes={"dataPermit": PERMIT}).get_json()
    assert (old["version"], new["version"]) == (1, 2)


def test_agreement_expires_by_itself(client, actors, dataset, offer, uow):
    body = ask(client, actors.headers("member"), dataset, offer, duration="P1D",
               attributes={"dataPermit": PERMIT}).get_json()
    assert body["state"] == "agreed", body["decision"]["reasons"]
    url = f"/api/v1/agreements/{body['agreement']}"
    assert client.get(url, headers=actors.headers("member")).get_json()["state"] == "active"
    expired = service.expire_due(uow, utcnow() + dt.timedelta(days=2))
    assert [a.id for a in expired] == [body["agreement"]]
    agreement = client.get(url, headers=actors.headers("member")).get_json()
    assert agreement["state"] == "expired" and agreement["endedBy"] == "expiry"
    assert service.expire_due(uow, utcnow() + dt.timedelta(days=3)) == []


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy,fragment", [
    ({"@id": "urn:p", "@type": "Offer"}, "permission"),
    ({"@id": "urn:p", "permission": [{"action": "teleport"}]}, "teleport"),
    ({"@id": "urn:p", "permission": [{"action": "use", "constraint": [
        {"leftOperand": "shoeSize", "operator": "eq", "rightOperand": 42}]}]}, "shoeSize"),
    ({"@id": "urn:p", "permission": [{"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "resembles", "rightOperand": "x"}]}]}, "resembles"),
    ({"@id": "urn:p", "permission": [{"action": "use", "constraint": [
        {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2027-01-01T00:00:00"}]}]},
     "time zone"),
    ("not an object", "object"),
])
def test_invalid_policies_are_422_naming_the_problem_and_store_nothing(
        client, actors, dataset, policy, fragment, uow):
    response = client.post(f"/api/v1/datasets/{dataset['id']}/offers", json={"policy": policy},
                           headers=actors.headers("steward"))
    assert response.status_code == 422, response.get_json()
    text = " ".join(e["message"] for e in response.get_json()["errors"])
    assert fragment in text, text
    assert client.get(f"/api/v1/datasets/{dataset['id']}/offers",
                      headers=actors.headers("steward")).get_json()["items"] == []


def test_member_cannot_attach_offers(client, actors, dataset):
    assert client.post(f"/api/v1/datasets/{dataset['id']}/offers", json=HEALTH,
                       headers=actors.headers("member")).status_code == 403


def test_request_for_a_version_that_does_not_exist_is_404(client, actors, dataset, offer):
    assert ask(client, actors.headers("member"), dataset, offer, version=9).status_code == 404


def test_requesting_for_a_project_one_is_not_in_is_404(client, actors, dataset, offer):
    response = ask(client, actors.headers("member"), dataset, offer, project="radar")
    assert response.status_code == 404


def test_clearance_cannot_be_claimed_in_the_request(client, actors, dataset, offer):
    response = ask(client, actors.headers("member"), dataset, offer,
                   attributes={"securityClearance": "TOP_SECRET"})
    assert response.status_code == 422


def test_requester_cannot_approve_their_own_request(client, actors, dataset, offer, uow):
    identity.add_member(uow, "cardio", "steward")
    steward_self = ask(client, actors.headers("steward"), dataset, offer).get_json()
    assert steward_self["state"] == "pending_approval"
    response = client.post(f"/api/v1/access-requests/{steward_self['id']}/approve",
                           headers=actors.headers("steward"))
    assert response.status_code == 403


def test_member_cannot_approve(client, actors, dataset, offer):
    pending = ask(client, actors.headers("member"), dataset, offer).get_json()
    response = client.post(f"/api/v1/access-requests/{pending['id']}/approve",
                           headers=actors.headers("member"))
    assert response.status_code == 403


def test_approving_a_rejected_request_is_409(client, actors, dataset, offer):
    pending = ask(client, actors.headers("member"), dataset, offer).get_json()
    url = f"/api/v1/access-requests/{pending['id']}"
    rejected = client.post(url + "/reject", json={"comment": "no permit"},
                           headers=actors.headers("steward"))
    assert rejected.get_json()["state"] == "rejected"
    assert client.post(url + "/approve", headers=actors.headers("steward")).status_code == 409
    assert client.post(url + "/reject", headers=actors.headers("steward")).status_code == 409


def test_approving_after_the_period_has_passed_is_409(client, actors, dataset, offer, uow):
    pending = ask(client, actors.headers("member"), dataset, offer, duration="P1D").get_json()
    assert pending["state"] == "pending_approval"
    steward = identity.authenticate(uow, actors.tokens["steward"])
    with pytest.raises(Conflict, match="expired"):
        service.approve_request(uow, steward, pending["id"], None, site=service.Site(),
                                now=utcnow() + dt.timedelta(days=2))


def test_request_for_a_period_already_over_is_422(client, actors, dataset, offer):
    response = ask(client, actors.headers("member"), dataset, offer,
                   start="2020-01-01T00:00:00Z", end="2020-03-01T00:00:00Z")
    assert response.status_code == 422


def test_two_concurrent_approvals_make_exactly_one_agreement(app, actors, dataset, offer, uow):
    client = app.test_client()
    pending = ask(client, actors.headers("member"), dataset, offer).get_json()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def approve() -> None:
        local = app.test_client()
        barrier.wait()
        statuses.append(local.post(f"/api/v1/access-requests/{pending['id']}/approve",
                                   headers=actors.headers("steward")).status_code)

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409, 409]
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(Agreement)) == 1


def test_period_ending_before_it_starts_is_422(client, actors, dataset, offer):
    response = ask(client, actors.headers("member"), dataset, offer,
                   start="2027-01-01T00:00:00Z", end="2026-01-01T00:00:00Z")
    assert response.status_code == 422


def test_audit_export_is_for_administrators(client, actors):
    assert client.get("/api/v1/audit", headers=actors.headers("steward")).status_code == 403


# --- conflicting rules (ODRL 2.2 IM §2.10) -----------------------------------------------

USE_NOT_DISTRIBUTE = {"@id": "urn:p:split", "permission": [{"action": "use"}],
                      "prohibition": [{"action": "distribute"}]}


@pytest.mark.parametrize("conflict", [None, "invalid"])
def test_a_policy_void_by_its_own_conflict_is_422_naming_both_rules_and_the_way_out(
        client, actors, dataset, conflict):
    policy = {**USE_NOT_DISTRIBUTE, **({"conflict": conflict} if conflict else {})}
    response = client.post(f"/api/v1/datasets/{dataset['id']}/offers", json={"policy": policy},
                           headers=actors.headers("steward"))
    assert response.status_code == 422, response.get_json()
    (error,) = response.get_json()["errors"]
    assert error["path"] == "$.prohibition[0]"
    assert error["message"].startswith("permission 1 (use) and prohibition 1 (distribute) "
                                       "conflict: distribute is included in use;")
    assert '"conflict": "perm"' in error["message"] and '"conflict": "prohibit"' in error["message"]
    assert client.get(f"/api/v1/datasets/{dataset['id']}/offers",
                      headers=actors.headers("steward")).get_json()["items"] == []


@pytest.mark.parametrize("conflict", ["perm", "prohibit"])
def test_a_policy_that_says_which_side_wins_is_accepted(client, actors, dataset, conflict):
    response = client.post(f"/api/v1/datasets/{dataset['id']}/offers",
                           json={"policy": {**USE_NOT_DISTRIBUTE, "conflict": conflict}},
                           headers=actors.headers("steward"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["policy"]["conflict"] == conflict


def test_the_dry_run_of_a_conflicting_policy_denies_it_as_void(client, actors):
    answer = client.post("/api/v1/policies/evaluate", json={
        "policy": USE_NOT_DISTRIBUTE, "request": {"action": "read", "project": "cardio"}},
        headers=actors.headers("member"))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    SCHEMAS.validate("decision", body)
    assert body["decision"] == "deny"
    assert body["reasons"] == ["the policy is void: permission 1 (use) and prohibition 1 "
                               "(distribute) conflict: distribute is included in use, and its "
                               "conflict strategy is invalid (the default when a policy states none)"]


def test_a_stored_offer_that_conflicts_denies_every_request_with_the_reason(
        client, actors, dataset, uow):
    """An offer stored before writes were checked (or changed behind the API) still reaches
    the evaluator: it is void, not a grant."""
    attached = client.post(f"/api/v1/datasets/{dataset['id']}/offers",
                           json={"policy": {**USE_NOT_DISTRIBUTE, "conflict": "perm"}},
                           headers=actors.headers("steward")).get_json()
    with uow:
        offer = uow.session.get(Offer, _offer_pk(uow, attached["id"]))
        offer.document = {key: value for key, value in offer.document.items() if key != "conflict"}
        uow.commit()
    body = ask(client, actors.headers("member"), dataset, attached, end="2099-01-01T00:00:00Z",
               start="2098-12-01T00:00:00Z").get_json()
    assert body["state"] == "rejected" and body["agreement"] is None
    assert body["decision"]["reasons"][0].startswith("the policy is void: permission 1 (use) and "
                                                     "prohibition 1 (distribute) conflict")


def _offer_pk(uow, offer_id):
    return uow.session.scalar(select(Offer.pk).where(Offer.id == offer_id))
