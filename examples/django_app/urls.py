"""One route per way of calling async code from a Django view."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello),
    path("status/", views.status),
    path("async/blocking/", views.hello_blocking),
    path("async/future/", views.hello_future),
    path("async/awaited/", views.hello_awaited),
]
