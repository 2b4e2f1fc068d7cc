import pytest
from django.core.management import call_command

from preferences.links import contact_for_token

pytestmark = pytest.mark.django_db


def test_demo_links_prints_working_preference_links(capsys):
    call_command("load_demo")
    capsys.readouterr()
    call_command("demo_links")
    out = capsys.readouterr().out
    links = [line.split(": ", 1)[1] for line in out.splitlines() if "/preferences/" in line]
    assert len(links) == 4
    token = links[0].rstrip("/").rsplit("/", 1)[1]
    assert contact_for_token(token).name == "Ada Lovelace"
    assert "/opt-in/" in out
