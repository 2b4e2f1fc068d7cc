from django.http import HttpRequest


def dashboard_context(request: HttpRequest, context: dict) -> dict:
    return context
