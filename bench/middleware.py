"""Bench-only: tells the client how long Django spent on the request."""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

SERVER_TIME_HEADER = "X-Bench-Server-Us"


class ServerTimeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter_ns()
        response = self.get_response(request)
        response[SERVER_TIME_HEADER] = str((time.perf_counter_ns() - start) // 1000)
        return response
