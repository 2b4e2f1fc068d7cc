"""How a message and a keyword phrase are compared: the one normal form both are stored in."""

import re
import unicodedata


def normalize_text(text: str) -> str:
    """'  Stop  Promociónes! ' → 'stop promociones' (case, accents, punctuation, spaces)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = re.sub(r"[^\w]+", " ", bare).split()
    return " ".join(words)
