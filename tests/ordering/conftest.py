# The seeded keyword lists (STOP, BAJA, …), also after a transactional test flushed them.
from tests.whatsapp.conftest import _keyword_lists  # noqa: F401
