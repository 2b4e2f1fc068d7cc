"""Helpers for the hand-written SQL of every app's `sql` module."""

from typing import cast

from django.db import models


def concrete_field(model: type[models.Model], name: str) -> models.Field:
    """`model`'s own column `name`, never a reverse relation: its column name and converters."""
    return cast(models.Field, model._meta.get_field(name))
