"""Device API keys: cameras, signal controllers and gateways authenticate with `Authorization: Device <key>`.

Keys look like `tdk_<10 hex prefix>_<32 url-safe secret>`. The prefix finds the row; only the SHA-256
of the whole key is stored and compared in constant time. User tokens are never accepted on device
endpoints (those views list only this class), and device keys are never accepted on user endpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from traffic.models import Device

KEYWORD = "Device"
KEY_PREFIX = "tdk_"
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_generate() -> tuple[str, str, str]:
    """(full key, prefix, digest). The full key is shown once and never stored."""
    prefix = secrets.token_hex(5)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    return key, prefix, key_digest(key)


def _parse(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = key[len(KEY_PREFIX):].partition("_")
    return prefix if len(prefix) == 10 and secret else None


@dataclass(frozen=True)
class DevicePrincipal:
    """`request.user` on device endpoints: authenticated, but not a user (no pk, no permissions)."""

    device: Device
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    pk: None = None
    id: None = None


def _fail(code: str, message: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed({"detail": message, "code": code})


class DeviceKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme != KEYWORD:
            return None  # not ours: the view answers 401 not_authenticated
        key = key.strip()
        prefix = _parse(key)
        if prefix is None:
            raise _fail("invalid_device_key", "Malformed device key.")
        device = Device.objects.filter(key_prefix=prefix).first()
        if device is None or not hmac.compare_digest(device.key_hash, key_digest(key)):
            raise _fail("invalid_device_key", "Unknown device key.")
        if device.revoked_at is not None:
            raise _fail("device_key_revoked", "This device key was revoked.")
        now = timezone.now()
        if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_RESOLUTION:
            # At most one write a minute per device: the hot ingestion path stays read-only here.
            Device.objects.filter(pk=device.pk).update(last_seen_at=now)
        return DevicePrincipal(device=device), device

    def authenticate_header(self, request) -> str:
        return KEYWORD


class IsDevice(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Device)


class DeviceKeyScheme(OpenApiAuthenticationExtension):
    target_class = "traffic.authentication.DeviceKeyAuthentication"
    name = "deviceKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Device <key>`: the API key issued to a camera, gateway or signal controller."}
