"""Uploads past the file size limit are dropped as they arrive, never written to disk.

Django would otherwise spool the whole upload to a temporary file before any form
could look at its size. Installed first in FILE_UPLOAD_HANDLERS: middleware reads
every POST before the view runs (a NUL check), so a view could not add it in time.
The only upload the site takes is a contact file, so its limit is the site's.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

from .limits import FileLimits

REFUSED = "upload_too_large"


class SizeLimitedUpload(FileUploadHandler):
    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > FileLimits.from_settings().file_bytes:
            # The handlers after this one close (and so delete) what they kept; the rest
            # of this file is read and dropped, the form's other fields still arrive.
            setattr(self.request, REFUSED, True)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def upload_refused(request: HttpRequest) -> bool:
    """Whether a file of this request was dropped for its size."""
    return getattr(request, REFUSED, False)
