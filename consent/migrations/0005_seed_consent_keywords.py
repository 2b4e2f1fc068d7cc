"""Seed the default WhatsApp keyword lists (editable afterwards in the admin)."""

import re
import unicodedata

from django.db import migrations

# language -> meaning -> phrases. STOP withdraws marketing only; STOP_ALL every purpose.
DEFAULTS = {
    "en": {
        "stop": ["STOP", "UNSUBSCRIBE", "STOP PROMOTIONS", "OPT OUT", "OPTOUT", "CANCEL", "END",
                 "QUIT", "STOP MARKETING", "STOP OFFERS"],
        "stop_all": ["STOP ALL", "UNSUBSCRIBE ALL", "STOP EVERYTHING"],
        "start": ["START", "SUBSCRIBE", "UNSTOP", "OPT IN"],
        "preferences": ["PREFERENCES", "SETTINGS"],
    },
    "es": {
        "stop": ["BAJA", "PARAR", "ALTO", "CANCELAR", "DETENER", "NO MÁS", "DARSE DE BAJA",
                 "BAJA PROMOCIONES", "STOP"],
        "stop_all": ["BAJA TODO", "PARAR TODO", "BAJA TOTAL"],
        "start": ["ALTA", "SUSCRIBIR", "SUSCRIBIRME", "EMPEZAR", "COMENZAR"],
        "preferences": ["PREFERENCIAS"],
    },
    "pt": {
        "stop": ["PARAR", "PARE", "SAIR", "CANCELAR", "DESCADASTRAR", "DESCADASTRE",
                 "PARAR PROMOÇÕES", "STOP"],
        "stop_all": ["PARAR TUDO", "SAIR DE TUDO", "CANCELAR TUDO"],
        "start": ["INICIAR", "ASSINAR", "VOLTAR", "COMEÇAR"],
        "preferences": ["PREFERÊNCIAS"],
    },
    "fr": {
        "stop": ["STOP", "ARRÊT", "ARRET", "ARRÊTER", "DÉSABONNER", "DÉSINSCRIRE",
                 "STOP PROMOTIONS", "STOP PUB"],
        "stop_all": ["STOP TOUT", "ARRÊT TOTAL", "ARRÊTER TOUT"],
        "start": ["START", "DÉMARRER", "ABONNER", "REPRENDRE"],
        "preferences": ["PRÉFÉRENCES"],
    },
    "de": {
        "stop": ["STOPP", "STOP", "ABMELDEN", "ABBESTELLEN", "KÜNDIGEN", "STOPP WERBUNG",
                 "STOP WERBUNG"],
        "stop_all": ["STOPP ALLES", "STOP ALLES", "ALLES ABMELDEN"],
        "start": ["START", "ANMELDEN", "ABONNIEREN"],
        "preferences": ["EINSTELLUNGEN"],
    },
    "it": {
        "stop": ["STOP", "BASTA", "ANNULLA", "DISISCRIVI", "DISISCRIVIMI", "CANCELLAMI",
                 "STOP PROMOZIONI"],
        "stop_all": ["STOP TUTTO", "BASTA TUTTO"],
        "start": ["INIZIA", "ISCRIVI", "ISCRIVIMI", "START"],
        "preferences": ["PREFERENZE"],
    },
    "hi-Latn": {
        "stop": ["BAND", "BAND KARO", "BAND KAREIN", "ROKO", "RUKO", "STOP KARO",
                 "MESSAGE BAND KARO"],
        "stop_all": ["SAB BAND", "SAB BAND KARO", "SAB ROKO"],
        "start": ["SHURU", "SHURU KARO", "CHALU KARO"],
        "preferences": ["PASAND", "SETTING"],
    },
    "id": {
        "stop": ["BERHENTI", "STOP", "BERHENTI LANGGANAN", "HENTIKAN", "BATAL",
                 "STOP PROMO", "BERHENTI PROMO"],
        "stop_all": ["BERHENTI SEMUA", "STOP SEMUA", "HENTIKAN SEMUA"],
        "start": ["MULAI", "LANGGANAN", "BERLANGGANAN"],
        "preferences": ["PREFERENSI", "PENGATURAN"],
    },
}


def _normalize(text):
    # A frozen copy of conversation.keywords.normalize_text (migrations must not import app code).
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def seed(apps, schema_editor):
    ConsentKeyword = apps.get_model("consent", "ConsentKeyword")
    for language, meanings in DEFAULTS.items():
        for meaning, phrases in meanings.items():
            for phrase in phrases:
                ConsentKeyword.objects.get_or_create(
                    language=language, phrase=_normalize(phrase), defaults={"meaning": meaning}
                )


def unseed(apps, schema_editor):
    ConsentKeyword = apps.get_model("consent", "ConsentKeyword")
    for language, meanings in DEFAULTS.items():
        for phrases in meanings.values():
            ConsentKeyword.objects.filter(
                language=language, phrase__in=[_normalize(p) for p in phrases]
            ).delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0004_optout_keywords_and_reviews")]

    operations = [migrations.RunPython(seed, unseed)]
