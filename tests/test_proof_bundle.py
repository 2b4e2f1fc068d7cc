"""The proof bundle: self-contained JSON that scripts/verify_proof.py checks offline."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse

from api.scopes import SCOPES
from consent import seals
from consent.proof import verify_record
from consent.rules import Action
from contacts.services import erase_person
from tests.api.conftest import assert_error, client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.ledger_tampering import truncate_chain
from tests.test_staff_roles import staff

pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_proof.py"
DAY = date(2026, 11, 30)


@pytest.fixture
def api_client():
    return client_with_key(*SCOPES)


@pytest.fixture
def compliance_client():
    return staff("Compliance")


@pytest.fixture
def marketing_client():
    return staff("Marketing")


@pytest.fixture
def contact(marketing_notice):
    """A grant, a withdraw and another grant, among other contacts' chains, then sealed."""
    for _ in range(4):
        record(ContactFactory(), Action.WITHDRAW)
    person = ContactFactory()
    record(person, Action.GRANT, notice=marketing_notice)
    record(person, Action.WITHDRAW)
    record(person, Action.GRANT, notice=marketing_notice)
    seals.seal_ledger(on=DAY)
    return person


def bundle_of(api_client, contact) -> dict:
    response = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/?format=bundle")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def verify_offline(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "bundle.json"
    path.write_text(text, encoding="utf-8")
    # -I: isolated from the project (no site-packages, no cwd on the path): stdlib only.
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path), *args],
        capture_output=True,
        text=True,
        check=False,
    )


class TestTheBundle:
    def test_bundle_holds_events_notice_texts_chain_and_seal_inclusion(
        self, api_client, contact, marketing_notice
    ):
        bundle = bundle_of(api_client, contact)

        assert bundle["format"] == "consent-proof-bundle/1"
        assert [e["fields"]["action"] for e in bundle["events"]] == ["grant", "withdraw", "grant"]
        assert bundle["notices"][str(marketing_notice.pk)]["text"] == marketing_notice.text
        assert bundle["events"][0]["fields"]["evidence_digest"]
        assert bundle["events"][0]["evidence"]["ip"] == "203.0.113.9"
        assert bundle["chain"]["head"]["seq"] == 3
        assert bundle["seal"]["chains"] == 5
        assert bundle["inclusion"]["leaf"] == {
            "contact": str(contact.pk),
            **bundle["chain"]["head"],
        }

    def test_the_proof_without_format_stays_as_it_was(self, api_client, contact):
        body = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/").json()

        assert body["chain"]["chain_valid"] is True
        assert "format" not in body

    def test_an_unknown_format_is_a_404_not_a_500(self, api_client, contact):
        response = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/?format=zip")

        assert_error(response, 404, "not_found")

    def test_the_bundle_needs_consent_read(self, contact):
        client = client_with_key("contacts:read")
        response = client.get(f"/api/v1/contacts/{contact.pk}/proof/?format=bundle")

        assert_error(response, 403, "permission_denied")

    def test_the_schema_describes_the_bundle_format(self, api_client):
        schema = api_client.get("/api/schema/?format=json").json()
        parameters = schema["paths"]["/api/v1/contacts/{id}/proof/"]["get"]["parameters"]

        assert {"name": "format", "in": "query"}.items() <= next(
            p for p in parameters if p["name"] == "format"
        ).items()

    def test_the_admin_button_downloads_the_bundle(self, compliance_client, contact):
        change = compliance_client.get(reverse("admin:contacts_contact_change", args=[contact.pk]))
        url = reverse("admin:contacts_contact_proof_bundle", args=[contact.pk])
        assert url.encode() in change.content

        response = compliance_client.get(url)

        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        assert json.loads(response.content)["contact"]["id"] == str(contact.pk)

    def test_the_admin_bundle_needs_the_proof_export_permission(self, marketing_client, contact):
        url = reverse("admin:contacts_contact_proof_bundle", args=[contact.pk])

        assert marketing_client.get(url).status_code == 403


class TestVerifyingOffline:
    def test_an_untouched_bundle_verifies(self, api_client, contact, tmp_path):
        bundle = bundle_of(api_client, contact)

        done = verify_offline(tmp_path, json.dumps(bundle), "--seal", bundle["seal"]["root"])

        assert done.returncode == 0, done.stdout
        assert done.stdout.startswith("VALID")

    def test_a_bundle_verifies_after_erasure_saying_when_the_evidence_went(
        self, api_client, contact, tmp_path
    ):
        erase_person(contact=contact, erased_by="dpo", actor=None)
        bundle = bundle_of(api_client, contact)

        done = verify_offline(tmp_path, json.dumps(bundle))

        assert done.returncode == 0, done.stdout
        assert "evidence erased on" in done.stdout
        assert "203.0.113.9" not in json.dumps(bundle)

    def test_events_recorded_after_the_seal_still_verify(self, api_client, contact, tmp_path):
        record(contact, Action.WITHDRAW)

        done = verify_offline(tmp_path, json.dumps(bundle_of(api_client, contact)))

        assert done.returncode == 0, done.stdout

    def test_an_unsealed_chain_verifies_but_not_against_a_root(self, api_client, tmp_path):
        late = ContactFactory()
        record(late, Action.WITHDRAW)
        bundle = bundle_of(api_client, late)
        assert bundle["seal"] is None

        assert "not sealed yet" in verify_offline(tmp_path, json.dumps(bundle)).stdout
        assert verify_offline(tmp_path, json.dumps(bundle), "--seal", "ab" * 32).returncode == 1

    @pytest.mark.parametrize(
        "place",
        ["an event's action", "an event's time", "an event's hash", "the evidence", "a notice text",
         "the seal's root", "the inclusion path", "the sealed head"],
    )  # fmt: skip
    def test_one_byte_edited_anywhere_that_matters_fails(
        self, api_client, contact, tmp_path, place
    ):
        text = json.dumps(bundle_of(api_client, contact), indent=1)
        bundle = json.loads(text)
        target = {
            "an event's action": bundle["events"][1]["fields"]["action"],
            "an event's time": bundle["events"][0]["fields"]["occurred_at"],
            "an event's hash": bundle["events"][2]["hash"],
            "the evidence": bundle["events"][0]["evidence"]["user_agent"],
            "a notice text": next(iter(bundle["notices"].values()))["text"],
            "the seal's root": bundle["seal"]["root"],
            "the inclusion path": bundle["inclusion"]["path"][0],
            "the sealed head": bundle["inclusion"]["leaf"]["hash"],
        }[place]
        at = text.index(json.dumps(target)) + 2
        edited = text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]
        assert edited != text and len(edited) == len(text)

        done = verify_offline(tmp_path, edited)

        assert done.returncode == 1, done.stdout
        assert "INVALID" in done.stdout

    def test_a_root_published_elsewhere_must_match(self, api_client, contact, tmp_path):
        done = verify_offline(
            tmp_path, json.dumps(bundle_of(api_client, contact)), "--seal", "0" * 64
        )

        assert done.returncode == 1
        assert "not the root given" in done.stdout

    def test_something_that_is_not_a_bundle_is_refused_cleanly(self, tmp_path):
        assert verify_offline(tmp_path, "{not json").returncode == 2
        assert verify_offline(tmp_path, '{"format": "other"}').returncode == 1
        assert verify_offline(tmp_path, '{"format": "consent-proof-bundle/1"}').returncode == 1


class TestTheRecordCheck:
    def test_an_intact_sealed_chain_is_verified_against_its_seal(self, contact):
        result = verify_record(contact)

        assert (result.valid, result.chain_valid, result.sealed_intact) == (True, True, True)
        assert (result.sealed_seq, result.seal_valid) == (3, True)

    def test_a_chain_truncated_after_its_seal_fails(self, contact):
        truncate_chain(contact.pk, keep=2)

        result = verify_record(contact)

        assert result.chain_valid and not result.sealed_intact and not result.valid

    def test_an_unsealed_chain_is_checked_on_its_own(self, db):
        late = ContactFactory()
        record(late, Action.WITHDRAW)

        result = verify_record(late)

        assert result.valid and result.seal is None and result.sealed_seq is None
