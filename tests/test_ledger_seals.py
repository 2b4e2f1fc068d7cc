"""Daily seals: a Merkle root over every chain head, so a deleted or truncated chain shows."""

import hashlib
import json
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from consent import seals, sql
from consent.models import LedgerIsAppendOnly, LedgerSeal
from consent.rules import Action
from consent.tasks import seal_ledger as seal_ledger_task
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.ledger_tampering import delete_chain, tamper_seal, truncate_chain

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 30)


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """The definition, recursively: what the streamed root must equal."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


@pytest.fixture
def ledger():
    """Three contacts with chains of 1, 2 and 3 events."""
    contacts = [ContactFactory() for _ in range(3)]
    for length, contact in enumerate(contacts, start=1):
        for i in range(length):
            record(contact, Action.GRANT if i % 2 == 0 else Action.WITHDRAW)
    return contacts


def verify_with_seals() -> str:
    call_command("verify_ledger", "--seals", stdout=(out := _Buffer()), stderr=out)
    return out.text


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


class TestTheTree:
    @pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 13, 33])
    def test_streamed_root_is_the_rfc_6962_root(self, size):
        leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(size)]

        root, count = seals.merkle_root(iter(leaves))

        assert (root, count) == (rfc6962_root(leaves).hex(), size)

    @pytest.mark.parametrize("size", [1, 2, 3, 6, 7, 11])
    def test_every_leaf_has_a_path_to_the_root_and_no_other_leaf_does(self, size):
        leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(size)]
        root = rfc6962_root(leaves).hex()
        for index, leaf in enumerate(leaves):
            path = seals.inclusion_path(leaves, index)
            assert seals.root_from_path(leaf, index, size, path) == root
            stranger = hashlib.sha256(b"stranger").digest()
            assert seals.root_from_path(stranger, index, size, path) != root


class TestSealing:
    def test_a_seal_covers_every_chain_head(self, ledger):
        seal = seals.seal_ledger(on=DAY)

        assert (seal.seq, seal.chains, seal.events, seal.prev_hash) == (1, 3, 6, None)
        heads = sorted((str(c.pk), c.consent_events.order_by("-seq")[0]) for c in ledger)
        leaves = [seals.leaf_hash(pk, e.seq, e.hash) for pk, e in heads]
        assert seal.root == rfc6962_root(leaves).hex()
        assert seal.hash == seals.seal_hash(seals.seal_fields(seal))

    def test_sealing_twice_a_day_gives_that_days_seal(self, ledger):
        first = seals.seal_ledger(on=DAY)
        record(ledger[0], Action.WITHDRAW)

        assert seals.seal_ledger(on=DAY) == first
        assert LedgerSeal.objects.count() == 1

    def test_each_seal_chains_to_the_previous_one(self, ledger):
        first = seals.seal_ledger(on=DAY)
        record(ledger[0], Action.WITHDRAW)

        second = seals.seal_ledger(on=DAY + timedelta(days=1))

        assert (second.seq, second.prev_hash, second.events) == (2, first.hash, 7)
        assert second.root != first.root

    def test_an_empty_ledger_seals_to_the_empty_root(self):
        seal = seals.seal_ledger(on=DAY)

        assert (seal.chains, seal.events, seal.root) == (0, 0, hashlib.sha256(b"").hexdigest())

    def test_the_beat_runs_the_seal_daily(self, ledger):
        entry = settings.CELERY_BEAT_SCHEDULE["seal-ledger"]
        assert entry["task"] == "consent.tasks.seal_ledger"
        assert entry["schedule"].hour == {0}

        assert seal_ledger_task() == LedgerSeal.objects.get().hash

    def test_the_command_seals_and_prints_the_root(self, ledger):
        call_command("seal_ledger", stdout=(out := _Buffer()))

        assert LedgerSeal.objects.get().root in out.text


class TestBlocks:
    """Form 2: the roots of blocks of leaves are stored, a path reads one block."""

    @pytest.fixture
    def more_chains(self, ledger):
        return ledger + [ContactFactory() for _ in range(8)]

    @pytest.mark.parametrize("block", [1, 2, 4, 1024])
    def test_a_block_path_is_the_whole_trees_path(self, more_chains, monkeypatch, block):
        for contact in more_chains[3:]:
            record(contact, Action.GRANT)
        monkeypatch.setattr(seals, "BLOCK_LEAVES", block)

        seal = seals.seal_ledger(on=DAY)

        heads = sorted((str(c.pk), c.consent_events.order_by("-seq")[0]) for c in more_chains)
        leaves = [seals.leaf_hash(pk, e.seq, e.hash) for pk, e in heads]
        assert (seal.form, seal.chains, seal.root) == (2, 11, rfc6962_root(leaves).hex())
        for index, (pk, _) in enumerate(heads):
            found = seals.inclusion(seal, pk)
            assert (found["leaf_index"], found["tree_size"]) == (index, 11)
            assert found["path"] == seals.inclusion_path(leaves, index)

    def test_a_later_seal_proves_with_the_heads_it_saw(self, ledger, monkeypatch):
        monkeypatch.setattr(seals, "BLOCK_LEAVES", 2)
        first = seals.seal_ledger(on=DAY)
        record(ledger[0], Action.WITHDRAW)
        second = seals.seal_ledger(on=DAY + timedelta(days=1))

        for seal in (first, second):
            found = seals.inclusion(seal, ledger[0].pk)
            leaf = seals.leaf_hash(*found["leaf"].values())
            reached = seals.root_from_path(leaf, found["leaf_index"], 3, found["path"])
            assert reached == seal.root
        assert seals.inclusion(first, ledger[0].pk)["leaf"]["seq"] == 1
        assert seals.inclusion(second, ledger[0].pk)["leaf"]["seq"] == 2

    def test_a_seal_keeps_its_block_size_when_the_setting_changes(self, more_chains, monkeypatch):
        monkeypatch.setattr(seals, "BLOCK_LEAVES", 2)
        seal = seals.seal_ledger(on=DAY)
        monkeypatch.setattr(seals, "BLOCK_LEAVES", 4)

        found = seals.inclusion(seal, more_chains[2].pk)
        leaf = seals.leaf_hash(*found["leaf"].values())
        reached = seals.root_from_path(leaf, found["leaf_index"], 3, found["path"])
        assert reached == seal.root
        assert seals.verify_seals().valid

    def test_a_contact_the_seal_never_saw_has_no_path(self, ledger):
        seal = seals.seal_ledger(on=DAY)

        assert seals.inclusion(seal, ContactFactory().pk) is None

    def test_a_form_1_seal_still_proves_and_verifies(self, ledger):
        seal = form_1_seal(DAY)

        found = seals.inclusion(seal, ledger[1].pk)
        leaf = seals.leaf_hash(*found["leaf"].values())
        assert seals.root_from_path(leaf, found["leaf_index"], 3, found["path"]) == seal.root
        assert seals.verify_seals().valid


def form_1_seal(day) -> LedgerSeal:
    """A seal as made before form 2: no blocks, no notices, the form-1 hash."""
    root, chains, events = seals.root_of(sql.ledger_heads())
    seal = LedgerSeal(seq=1, sealed_on=day, chains=chains, events=events, root=root, form=1)
    seal.hash = seals.seal_hash(seals.seal_fields(seal))
    seal.save()
    sql.store_changed_heads(seal.pk, first=True)
    return seal


class TestSealedNotices:
    def test_the_seal_covers_every_notice(self, ledger, marketing_notice, service_notice):
        seal = seals.seal_ledger(on=DAY)

        leaves = [
            seals.notice_leaf(n.pk, n.ref, n.text) for n in (marketing_notice, service_notice)
        ]
        assert (seal.notices, seal.notices_root) == (2, rfc6962_root(leaves).hex())

    def test_a_notice_text_changed_after_the_seal_fails_verification(
        self, ledger, marketing_notice
    ):
        seals.seal_ledger(on=DAY)
        type(marketing_notice).objects.filter(pk=marketing_notice.pk).update(text="Other words")

        problems = [str(problem) for problem in seals.verify_seals().problems]
        assert problems == [f"seal #1: notice {marketing_notice.pk} changed since it was sealed"]


class TestExport:
    def test_export_seal_prints_the_seal_to_publish(self, ledger):
        seal = seals.seal_ledger(on=DAY)

        call_command("export_seal", DAY.isoformat(), stdout=(out := _Buffer()))

        published = json.loads(out.text)
        assert published["root"] == seal.root
        assert published["hash"] == seal.hash == seals.seal_hash(published)

    def test_export_of_a_day_never_sealed_fails(self):
        with pytest.raises(CommandError, match="no seal"):
            call_command("export_seal", "2020-01-01")
        with pytest.raises(CommandError, match="not a date"):
            call_command("export_seal", "yesterday")


class TestVerifyingWithSeals:
    def test_an_untouched_ledger_verifies_with_its_seals(self, ledger):
        seals.seal_ledger(on=DAY)
        record(ledger[0], Action.WITHDRAW)
        seals.seal_ledger(on=DAY + timedelta(days=1))
        record(ledger[1], Action.GRANT)

        assert "ledger valid" in verify_with_seals()

    def test_a_whole_chain_deleted_with_raw_sql_fails_naming_the_contact(self, ledger):
        seals.seal_ledger(on=DAY)
        victim = ledger[1]

        delete_chain(victim.pk)

        with pytest.raises(CommandError) as failure:
            verify_with_seals()
        assert "seal problems" in str(failure.value)
        assert seals.verify_seals().problems[0].contact_id == victim.pk
        assert "chain deleted" in str(seals.verify_seals().problems[0])

    def test_a_truncated_chain_fails_naming_the_contact(self, ledger):
        seals.seal_ledger(on=DAY)
        victim = ledger[2]

        truncate_chain(victim.pk, keep=1)

        problems = seals.verify_seals().problems
        assert [p.contact_id for p in problems] == [victim.pk]
        assert "truncated" in problems[0].problem and "#3" in problems[0].problem

    def test_a_truncated_chain_grown_again_fails_naming_the_contact(self, ledger):
        seals.seal_ledger(on=DAY)
        victim = ledger[2]
        truncate_chain(victim.pk, keep=2)

        record(victim, Action.GRANT)

        problems = seals.verify_seals().problems
        assert [p.contact_id for p in problems] == [victim.pk]
        assert "differs" in problems[0].problem

    def test_a_modified_seal_is_detected(self, ledger):
        seal = seals.seal_ledger(on=DAY)

        tamper_seal(seal.pk, "chains", 2)

        problems = seals.verify_seals().problems
        assert [str(p) for p in problems][0].startswith("seal #1: stored fields do not match")

    def test_a_seal_rewritten_with_its_hash_breaks_the_next_link(self, ledger):
        first = seals.seal_ledger(on=DAY)
        seals.seal_ledger(on=DAY + timedelta(days=1))
        forged = seals.seal_fields(first) | {"root": "0" * 64}

        tamper_seal(first.pk, "root", forged["root"])
        tamper_seal(first.pk, "hash", seals.seal_hash(forged))

        problems = [str(p) for p in seals.verify_seals().problems]
        assert "seal #2: prev_hash does not match the previous seal" in problems


class TestAppendOnly:
    def test_the_orm_refuses_to_change_or_delete_a_seal(self, ledger):
        seal = seals.seal_ledger(on=DAY)
        with pytest.raises(LedgerIsAppendOnly):
            seal.save()
        with pytest.raises(LedgerIsAppendOnly):
            seal.delete()

    def test_raw_update_is_rejected_by_the_trigger(self, ledger):
        seal = seals.seal_ledger(on=DAY)
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE consent_ledgerseal SET chains = 0 WHERE id = %s", [seal.pk])
        assert LedgerSeal.objects.get().chains == 3

    @pytest.mark.postgres
    def test_raw_delete_is_rejected_by_the_trigger_on_postgresql(self, ledger):
        if connection.vendor != "postgresql":
            pytest.skip("the DELETE trigger is PostgreSQL's (CI runs this on PostgreSQL)")
        seals.seal_ledger(on=DAY)
        for table in ("consent_sealedhead", "consent_ledgerseal"):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        assert LedgerSeal.objects.count() == 1


class TestInTheAdmin:
    def test_seals_are_listed_read_only(self, admin_client, ledger):
        seal = seals.seal_ledger(on=DAY)

        listing = admin_client.get(reverse("admin:consent_ledgerseal_changelist"))
        page = admin_client.get(reverse("admin:consent_ledgerseal_change", args=[seal.pk]))

        assert listing.status_code == page.status_code == 200
        assert seal.root.encode() in listing.content
        assert b'name="_save"' not in page.content
        assert admin_client.get(reverse("admin:consent_ledgerseal_add")).status_code == 403
