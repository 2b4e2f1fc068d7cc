from django.urls import path

from . import views

app_name = "group_pages"

urlpatterns = [
    path("<str:token>/", views.answer_invitation, name="answer"),
]
