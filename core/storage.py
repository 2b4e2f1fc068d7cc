"""Where files wait: directories named by settings, read when a file is opened or saved.

Here rather than in the app that uses them: a migration of any app may name these
callables (consent's first contact-import migration does), and every app may import core.
"""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class _DirectoryFromSettings(FileSystemStorage):
    """Files under the directory a setting names, read when a file is opened or saved
    (not once at start-up): a test, or a worker, that sets it elsewhere is obeyed."""

    def __init__(self, setting: str) -> None:
        super().__init__()
        self.setting = setting

    @property
    def base_location(self) -> str:
        return str(getattr(settings, self.setting))

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def import_storage() -> FileSystemStorage:
    """Where uploaded contact files wait for their import (kept until the job ends), and
    where the rejected rows of a file are kept for download."""
    return _DirectoryFromSettings("IMPORT_UPLOAD_DIR")


def export_storage() -> FileSystemStorage:
    """Where finished exports wait for the person who asked for them."""
    return _DirectoryFromSettings("EXPORT_FILE_DIR")
