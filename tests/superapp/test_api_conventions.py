import pytest
from django.urls import reverse

from tests.factories import TEST_PASSWORD, UserFactory


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.django_db
def test_unauthenticated_request_to_private_endpoint_is_401_in_error_shape(api_client):
    assert_error_shape(api_client.get("/api/v1/me"), 401, "not_authenticated")


@pytest.mark.django_db
def test_invalid_bearer_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    error = assert_error_shape(api_client.get("/api/v1/me"), 401)
    assert error["code"] in {"token_not_valid", "authentication_failed"}


@pytest.mark.django_db
def test_validation_error_lists_fields(api_client):
    error = assert_error_shape(api_client.post("/api/v1/auth/signup", {"username": "x"}, format="json"), 400,
                               "validation_error")
    assert "password" in error["details"] and "username" in error["details"]


@pytest.mark.django_db
def test_malformed_json_is_400(api_client):
    response = api_client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(auth_client):
    assert_error_shape(auth_client.get("/api/v1/does-not-exist"), 404, "not_found")


@pytest.mark.django_db
def test_wrong_method_is_405(auth_client):
    assert_error_shape(auth_client.delete("/api/v1/me"), 405, "method_not_allowed")


@pytest.mark.django_db
def test_request_id_is_echoed_or_generated(api_client):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = api_client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    # A hostile header is replaced, not echoed.
    assert api_client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n<script>")["X-Request-ID"] != "bad id\n<script>"


@pytest.mark.django_db
def test_health_and_readiness(api_client):
    assert api_client.get("/healthz").json()["status"] == "ok"
    ready = api_client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_schema_is_served_and_documents_the_error_shape(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "Error" in schema["components"]["schemas"]
    me = schema["paths"]["/api/v1/me"]["get"]
    assert me["responses"]["401"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


@pytest.mark.django_db
def test_admin_lists_every_model():
    from django.apps import apps
    from django.contrib import admin

    ours = {"accounts", "social", "services", "traffic", "payments", "recommender", "superapp"}
    missing = [m._meta.label for m in apps.get_models() if m._meta.app_label in ours and m not in admin.site._registry]
    assert missing == []


@pytest.mark.django_db
def test_admin_changelists_render_for_superuser(client):
    from django.contrib import admin

    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_login_then_use_bearer_token(api_client):
    UserFactory(username="zoe")
    response = api_client.post("/api/v1/auth/login", {"username": "zoe", "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['tokens']['access']}")
    assert api_client.get("/api/v1/me").json()["username"] == "zoe"


@pytest.mark.redis
@pytest.mark.django_db
def test_readiness_checks_redis_when_configured(api_client):
    ready = api_client.get("/readyz").json()
    assert ready["checks"]["redis"] == "ok"


@pytest.mark.redis
def test_cache_is_redis_when_configured():
    import redis
    from django.conf import settings
    from django.core.cache import cache

    cache.set("probe", {"n": 1}, 10)
    assert cache.get("probe") == {"n": 1}
    # The value really lives in Redis, not in this process.
    keys = redis.Redis.from_url(settings.REDIS_URL).keys("*probe*")
    assert len(keys) == 1
