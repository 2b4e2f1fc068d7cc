"""What every admin page shares (UNFOLD["GLOBAL_CALLBACK"])."""

from django.http import HttpRequest


def global_context(request: HttpRequest) -> dict:
    # The theme would print its colours in an inline <style>, which our CSP refuses;
    # console/theme.css holds the same variables.
    return {"colors": None}
