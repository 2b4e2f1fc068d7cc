from django.urls import path

from . import views

app_name = "whatsapp"
urlpatterns = [path("whatsapp/", views.webhook, name="webhook")]
