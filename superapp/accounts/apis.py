from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from superapp.accounts import serializers as s
from superapp.accounts import services
from superapp.accounts.exceptions import TooManyAttempts
from superapp.attempts import attempt_reserve, throttle_rate
from superapp.exceptions import ValidationFailed


class IpThrottle(BaseThrottle):
    """Per-client-IP limit for anonymous auth endpoints, at the `scope` rate of DEFAULT_THROTTLE_RATES, counted
    in the database by `superapp.attempts` (so it holds across processes and while Redis is down). The client
    IP is DRF's `get_ident`: REMOTE_ADDR, or with `NUM_PROXIES` (TRUSTED_PROXY_COUNT) = n > 0 the n-th address
    from the right of X-Forwarded-For, the one the outermost trusted proxy saw; the client's own entries are
    ignored."""

    scope = ""

    def allow_request(self, request, view) -> bool:
        limit, window_s = throttle_rate(self.scope)
        try:
            attempt_reserve(scope=self.scope, ident=self.get_ident(request), limit=limit, window_s=window_s)
        except TooManyAttempts as exc:
            self.retry_after_s = exc.retry_after_s
            return False
        return True

    def wait(self) -> int:
        return self.retry_after_s


class LoginIpThrottle(IpThrottle):
    scope = "auth_ip"


class SignUpIpThrottle(IpThrottle):
    scope = "signup_ip"


class SignUpApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SignUpIpThrottle]

    @extend_schema(request=s.SignUpSerializer, responses={201: s.AuthResponseSerializer}, tags=["auth"],
                   auth=[], summary="Create an account and get tokens")
    def post(self, request):
        serializer = s.SignUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        city = data.pop("home_city_id")
        try:
            user = services.user_sign_up(home_city_id=city.pk if city else None, **data)
        except DjangoValidationError as exc:
            raise ValidationFailed("The password is too weak.", details={"password": exc.messages})
        body = {"user": s.ProfileSerializer(user).data, "tokens": services.tokens_for_user(user)}
        return Response(body, status=status.HTTP_201_CREATED)


class LogInApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [LoginIpThrottle]

    @extend_schema(request=s.LogInSerializer, responses={200: s.AuthResponseSerializer}, tags=["auth"], auth=[],
                   summary="Log in with username and password",
                   description="Five attempts per account within a minute (THROTTLE_AUTH_ACCOUNT), from any "
                               "address, give a 429 with Retry-After until the minute ends; a successful "
                               "log-in resets the count. Each client IP is also limited overall "
                               "(THROTTLE_AUTH_IP); the IP is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says "
                               "how many proxies in front append to X-Forwarded-For.")
    def post(self, request):
        serializer = s.LogInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, tokens = services.user_log_in(**serializer.validated_data)
        return Response({"user": s.ProfileSerializer(user).data, "tokens": tokens})


class RefreshApi(TokenRefreshView):
    @extend_schema(request=s.RefreshSerializer, responses={200: s.RefreshResponseSerializer}, tags=["auth"], auth=[],
                   summary="Swap a refresh token for new tokens (the old refresh token is revoked)",
                   description="Answers `{\"tokens\": {\"access\", \"refresh\"}}` like log-in; the top-level "
                               "`access`/`refresh` are the old shape, sent until 0.3.0.")
    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == status.HTTP_200_OK:
            tokens = {"access": response.data["access"], "refresh": response.data["refresh"]}  # rotation is on
            response.data = {"tokens": tokens, **tokens}
        return response


class LogOutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.RefreshSerializer, responses={204: None}, tags=["auth"],
                   summary="Log out: revoke the refresh token")
    def post(self, request):
        serializer = s.RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = RefreshToken(serializer.validated_data["refresh"])
            if str(token.get("user_id")) != str(request.user.pk):
                raise ValidationFailed("This refresh token belongs to another user.", code="token_not_valid")
            token.blacklist()
        except TokenError as exc:
            raise ValidationFailed(str(exc), code="token_not_valid")
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.ProfileSerializer}, tags=["accounts"], summary="My profile")
    def get(self, request):
        return Response(s.ProfileSerializer(request.user).data)

    @extend_schema(request=s.ProfileUpdateSerializer, responses={200: s.ProfileSerializer}, tags=["accounts"],
                   summary="Update my profile (e.g. current city while travelling)")
    def patch(self, request):
        serializer = s.ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=request.user, data=serializer.validated_data)
        return Response(s.ProfileSerializer(user).data)


class PasswordChangeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.PasswordChangeSerializer, responses={204: None}, tags=["accounts"],
                   summary="Change my password",
                   description="Revokes every refresh token of the account and makes every access token "
                               "issued before the change fail on its next use: log in again afterwards.")
    def post(self, request):
        serializer = s.PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.user_change_password(user=request.user, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise ValidationFailed("The new password is too weak.", details={"new_password": exc.messages})
        return Response(status=status.HTTP_204_NO_CONTENT)
