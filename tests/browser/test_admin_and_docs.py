"""The admin and the Swagger UI in a real browser (Chromium through Playwright), as an operator and a client
developer use them: log in to the admin, see a model version's chart drawn, run an admin action (activating a
rejected version asks first), open the API docs, authorize with a demo user's token and call an endpoint."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from recommender.models import Algorithm, ModelStatus, ModelVersion
from superapp.accounts.models import User
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN_PASSWORD = "admin-pass-2026"
DEMO_PASSWORD = "demo-pass-2026"


def _versions() -> tuple[ModelVersion, ModelVersion]:
    metrics = {"ndcg": 0.21, "precision": 0.08, "recall": 0.34, "map": 0.07}
    active = ModelVersion.objects.create(algorithm=Algorithm.ALS, status=ModelStatus.ACTIVE, metrics=metrics,
                                         baseline_metrics={"ndcg": 0.09}, reason="beats popularity")
    rejected = ModelVersion.objects.create(
        algorithm=Algorithm.ALS, status=ModelStatus.REJECTED, metrics={**metrics, "ndcg": 0.05},
        baseline_metrics={"ndcg": 0.09}, reason="nDCG@10 0.0500 does not beat popularity (0.0900).",
        artifact_path="")
    return active, rejected


def _image_drawn(page, selector: str) -> bool:
    """The <img> loaded a real picture (a broken or empty image has naturalWidth 0)."""
    page.wait_for_function("s => { const i = document.querySelector(s); return i && i.complete; }", arg=selector)
    return page.eval_on_selector(selector, "i => i.naturalWidth > 300 && i.naturalHeight > 100")


def _admin_login(page, live_server) -> None:
    User.objects.create_superuser("admin", "admin@example.com", ADMIN_PASSWORD)
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "Site administration" in page.content()


def test_admin_login_model_version_chart_and_the_activate_action(page, live_server):
    _admin_login(page, live_server)
    active, rejected = _versions()

    # The list of versions with the metrics chart drawn above it.
    page.goto(f"{live_server.url}/admin/recommender/modelversion/")
    assert _image_drawn(page, "img[src$='chart.png']")
    # One version's page shows the chart too, with that version marked.
    page.goto(f"{live_server.url}/admin/recommender/modelversion/{active.pk}/change/")
    assert _image_drawn(page, "#version-chart")

    # An admin action: activating the rejected version asks first, and says why it was rejected.
    page.goto(f"{live_server.url}/admin/recommender/modelversion/")
    page.check(f"input[name=_selected_action][value='{rejected.pk}']")
    page.select_option("select[name=action]", "activate")
    page.click("button[name=index]")
    page.wait_for_selector("#activate-rejected")
    assert "rejected by the quality gate" in page.inner_text("#activate-rejected")
    assert "does not beat popularity" in page.inner_text("#activate-rejected")
    page.click("a.cancel-link")  # "No, take me back": nothing changes
    page.wait_for_selector("#result_list")
    rejected.refresh_from_db()
    assert rejected.status == ModelStatus.REJECTED

    # Another action that goes through: roll back has nothing to roll back to, and says so.
    page.check(f"input[name=_selected_action][value='{active.pk}']")
    page.select_option("select[name=action]", "rollback")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    assert "no previously active version" in page.inner_text("ul.messagelist")


def _access_token(live_server, username: str) -> str:
    request = urllib.request.Request(  # noqa: S310 - the live server on loopback
        f"{live_server.url}/api/v1/auth/login", method="POST",
        data=json.dumps({"username": username, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)["tokens"]["access"]


def test_api_docs_authorize_with_a_demo_users_token_and_call_an_endpoint(page, live_server):
    UserFactory(username="alice", display_name="Alice Demo", password=DEMO_PASSWORD)
    token = _access_token(live_server, "alice")

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .information-container", timeout=30_000)
    assert "superapp API" in page.inner_text(".swagger-ui .information-container")

    # Authorize: the bearer token of a demo user.
    page.click(".swagger-ui .auth-wrapper .authorize")
    box = page.locator(".swagger-ui .modal-ux .auth-container").filter(has_text="jwtAuth")
    box.locator("input").fill(token)
    box.locator("button.authorize").click()
    page.click(".swagger-ui .modal-ux button.btn-done")

    # Call GET /api/v1/me from the page.
    # Swagger UI renders only what is on screen (a virtual list): narrow it to one tag with the filter box.
    page.fill(".swagger-ui input.operation-filter-input", "accounts")
    operation = page.locator("#operations-accounts-me_retrieve")
    operation.wait_for()
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200")
    body = operation.locator(".live-responses-table .response-col_description pre").first.inner_text()
    assert re.search(r'"username":\s*"alice"', body)
