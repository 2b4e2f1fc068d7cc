from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("my-data/<str:token>/", views.person_copy, name="person_copy"),
    path("my-data/<str:token>/data.json", views.person_copy_json, name="person_copy_json"),
]
