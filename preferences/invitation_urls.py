from django.urls import path

from . import invitations

# The namespace the page had inside `groups`, kept so `reverse("group_pages:answer")` resolves.
app_name = "group_pages"

urlpatterns = [
    path("<str:token>/", invitations.answer_invitation, name="answer"),
]
