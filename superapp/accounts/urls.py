from django.urls import path

from superapp.accounts import apis

urlpatterns = [
    path("auth/signup", apis.SignUpApi.as_view(), name="auth-signup"),
    path("auth/login", apis.LogInApi.as_view(), name="auth-login"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", apis.LogOutApi.as_view(), name="auth-logout"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/password", apis.PasswordChangeApi.as_view(), name="me-password"),
]
