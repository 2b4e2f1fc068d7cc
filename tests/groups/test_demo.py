import pytest
from django.core.management import call_command

from groups.models import Group

pytestmark = pytest.mark.django_db


def test_load_demo_groups_is_idempotent():
    call_command("load_demo_groups")
    call_command("load_demo_groups")

    group = Group.objects.get()
    assert (group.name, group.purpose, group.active) == ("VIP early access", "marketing", True)
