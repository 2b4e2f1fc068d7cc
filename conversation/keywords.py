"""Reading a WhatsApp text as an opt-out, an opt-in request or neither.

Exact keywords come from the `ConsentKeyword` lists (admin-editable). Beyond
them, a message that clearly asks to stop is an opt-out of marketing; one that
only might ("stop" inside an unrelated sentence) goes to a person to decide.
Missing a real opt-out is worse than honouring a doubtful one.
"""

import re
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Replace
from django.utils import timezone

from consent.rules import Action, Purpose, Source
from consent.services import Evidence, record_consent
from staff.audit import record_audit

from .models import ConsentKeyword, OptOutReview
from .phrases import normalize_text

Meaning = ConsentKeyword.Meaning

# Order of precedence when one phrase means different things in two languages.
_PRECEDENCE = [Meaning.STOP_ALL, Meaning.STOP, Meaning.START, Meaning.PREFERENCES]


def match_keyword(text: str) -> str | None:
    """The meaning of `text` if the whole message is an active keyword, else None."""
    phrase = normalize_text(text)
    if not phrase or len(phrase) > 100:
        return None
    active = ConsentKeyword.objects.filter(active=True)
    meanings = set(active.filter(phrase=phrase).values_list("meaning", flat=True))
    if not meanings:
        # Spaces are ignored too: "S T O P" spells STOP, "stoppromotions" STOP PROMOTIONS.
        # Asked only when the exact phrase is no keyword (the lists are short).
        spelled = active.annotate(spelled=Replace("phrase", Value(" "), Value("")))
        meanings = set(
            spelled.filter(spelled=phrase.replace(" ", "")).values_list("meaning", flat=True)
        )
    return next((m.value for m in _PRECEDENCE if m in meanings), None)


# A verb of stopping (any of our languages) next to what is to stop: clear.
_CLEAR_OPT_OUT = [
    re.compile(p)
    for p in (
        r"\b(stop|quit|cease|no more|don ?t|do not|never)\b.{0,20}\b(send|sending|text|texting"
        r"|messag\w*|offers?|promo\w*|marketing|spam|contact\w*)\b",
        r"\b(unsubscribe|opt ?out|remove me|take me off|leave me alone)\b",
        r"\bno (mas|quiero (mas )?(recibir|mensajes))\b",
        r"\b(dejen?|deja) de (enviar|mandar|escribir)\w*\b",
        r"\b(darme|dame|dar) de baja\b",
        r"\b(parem|pare|parar) de (enviar|mandar)\b",
        r"\bnao (quero|envie|mande)\w* (mais|receber)\b",
        r"\b(arretez|arrete|cessez) de\b",
        r"\bne (plus|pas) (recevoir|m envoyer)\b",
        r"\bkeine (nachrichten|werbung|angebote|mails?) mehr\b",
        r"\b(nicht mehr|hort auf)\b.{0,20}\b(schreiben|senden|schicken|kontaktieren)\b",
        r"\b(smettete|smetti|smettila) di\b",
        r"\bnon (voglio|mandate|inviate)\b.{0,20}\b(piu|messaggi|ricevere)\b",
        r"\b(jangan|berhenti) (kirim|mengirim)\w*\b",
        r"\b(message|msg|sms) (mat|na) (bhejo|bhejiye|bhejna)\b",
        r"\b(band karo|band kar do|band kijiye)\b",
    )
]

# Words that might ask to stop but, in a longer sentence, might not.
_MAYBE_OPT_OUT = re.compile(
    r"\b(stop\w*|unsubscrib\w*|cancel\w*|baja|parar?|pare|alto|basta|arret\w*|stopp"
    r"|abmelden|berhenti|band|ruko|roko|sair|desist\w*)\b"
)


@dataclass(frozen=True)
class Reading:
    kind: str  # "opt_out" (clear), "review" (maybe), "none"
    matched: str = ""


def read_free_text(text: str) -> Reading:
    words = normalize_text(text)
    for pattern in _CLEAR_OPT_OUT:
        found = pattern.search(words)
        if found:
            return Reading("opt_out", found.group(0))
    found = _MAYBE_OPT_OUT.search(words)
    if found:
        return Reading("review", found.group(0))
    return Reading("none")


# --- The review queue ----------------------------------------------------------------


def queue_for_review(
    *, contact, wamid: str, text: str, matched: str, received_at, prompted_by_wamid: str = ""
) -> OptOutReview:
    review, _ = OptOutReview.objects.get_or_create(
        wamid=wamid,
        defaults={
            "contact": contact,
            "text": text,
            "matched": matched,
            "received_at": received_at,
            "prompted_by_wamid": prompted_by_wamid,
        },
    )
    return review


def decide_review(*, review: OptOutReview, opt_out: bool, actor: User | None) -> OptOutReview:
    """A person's decision on a doubtful message; an opt-out dates from the message itself."""
    with transaction.atomic():
        review = OptOutReview.objects.select_for_update().get(pk=review.pk)
        if review.decision != OptOutReview.Decision.PENDING:
            return review
        if opt_out:
            review.event = record_consent(
                contact=review.contact,
                purpose=Purpose.MARKETING,
                action=Action.WITHDRAW,
                source=Source.WHATSAPP_KEYWORD,
                occurred_at=review.received_at,
                evidence=Evidence(
                    wamid=review.wamid,
                    prompted_by_wamid=review.prompted_by_wamid,
                    note=f"free-text opt-out confirmed by staff: {review.text[:500]}",
                ),
                actor=actor,
                idempotency_key=f"wa:{review.wamid}:marketing:withdraw",
                keep_if_inapplicable=True,
            )
        review.decision = (
            OptOutReview.Decision.OPTED_OUT if opt_out else OptOutReview.Decision.DISMISSED
        )
        review.decided_by = actor
        review.decided_at = timezone.now()
        review.save()
        record_audit(
            actor=actor,
            action="decide_opt_out_review",
            obj=review,
            before={"decision": OptOutReview.Decision.PENDING.value},
            after={"decision": review.decision},
        )
    return review
