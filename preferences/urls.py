from django.urls import path

from . import views

# The namespace the pages had inside `consent`, kept so every `reverse("consent:…")` and
# every template `{% url %}` still resolves.
app_name = "consent"

urlpatterns = [
    path("preferences/<str:token>/", views.preference_centre, name="preferences"),
    path("preferences/<str:token>/change/", views.change_preference, name="change"),
    path("preferences/<str:token>/topics/", views.change_topic, name="change_topic"),
    path("preferences/<str:token>/undo/", views.undo_opt_out, name="undo"),
    path("preferences/<str:token>/done/", views.confirmation, name="confirmation"),
    path("preferences/<str:token>/record.json", views.consent_record_json, name="record_json"),
    path("preferences/<str:token>/record/", views.consent_record_html, name="record_html"),
    path("preferences/<str:token>/my-data/", views.request_my_data, name="request_my_data"),
    path("preferences/<str:token>/invitations/", views.answer_invitation, name="invitation"),
    path("opt-in/", views.opt_in, name="opt_in"),
    path("opt-in/embed/", views.opt_in_embed, name="opt_in_embed"),
]
