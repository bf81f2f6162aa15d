"""Batch recommendations to CSV, the admin (chart, activate, roll back) and the demo seeder."""

import csv
import io
import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from merchants.models import Category, Vertical
from recommender.charts import metrics_chart_figure
from recommender.exceptions import ModelVersionNotActivatable
from recommender.models import Interaction, ModelStatus, ModelVersion
from recommender.seed import seed as recommender_seed
from recommender.services import model_train, model_version_activate
from tests.factories import MerchantFactory, UserFactory
from tests.recommender.factories import crowd, taste_world

pytestmark = pytest.mark.django_db


def read_csv(path):
    return list(csv.DictReader(path.open()))


def test_recommend_writes_top_k_per_user_excluding_known_merchants(small_als, tmp_path):
    users, merchants = taste_world()
    model_train(config=small_als)
    users[0].external_id = "crm-1"
    users[0].save()
    users_file = tmp_path / "users.txt"
    users_file.write_text(f"crm-1\n{users[1].username}\nnobody\n")
    output = tmp_path / "recs.csv"
    err = StringIO()
    call_command("recommend", "--users", users_file, "--k", "5", "--output", output, stderr=err)
    rows = read_csv(output)
    assert [r["user"] for r in rows] == ["crm-1"] * 5 + [users[1].username] * 5
    assert [int(r["rank"]) for r in rows[:5]] == [1, 2, 3, 4, 5]
    scores = [float(r["score"]) for r in rows[:5]]
    assert scores == sorted(scores, reverse=True)
    for user, chunk in ((users[0], rows[:5]), (users[1], rows[5:])):
        known = set(Interaction.objects.filter(user=user).values_list("merchant_id", flat=True))
        assert not known & {int(r["merchant_id"]) for r in chunk}
    assert "1 unknown users" in err.getvalue()


def test_recommend_filters_by_vertical_inside_scoring(small_als, tmp_path):
    users, merchants = taste_world()
    shops = merchants[::3]
    for shop in shops:
        shop.vertical = Vertical.SHOPPING
        shop.save()
    model_train(config=small_als)
    users_file = tmp_path / "users.txt"
    users_file.write_text("\n".join(u.username for u in users[:10]))
    output = tmp_path / "recs.csv"
    call_command("recommend", "--users", users_file, "--k", "3", "--vertical", "shopping", "--output", output,
                 stderr=StringIO())
    rows = read_csv(output)
    assert len(rows) == 30  # every user still gets k results
    assert {int(r["merchant_id"]) for r in rows} <= {m.pk for m in shops}


def test_recommend_without_an_active_model_is_a_clear_error(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("a\n")
    with pytest.raises(CommandError, match="No model version is active"):
        call_command("recommend", "--users", users_file, "--output", tmp_path / "o.csv", stderr=StringIO())


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(admin)
    return client


def test_admin_lists_versions_with_a_metrics_chart_and_activates_and_rolls_back(
        admin_client_logged_in, small_als, django_capture_on_commit_callbacks):
    taste_world()
    first = model_train(config=small_als)
    second = model_train(config=small_als, activate=False)
    page = admin_client_logged_in.get("/admin/recommender/modelversion/")
    assert page.status_code == 200 and b"chart.png" in page.content
    chart = admin_client_logged_in.get("/admin/recommender/modelversion/chart.png")
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png" and chart.content[:4] == b"\x89PNG"

    admin_client_logged_in.post("/admin/recommender/modelversion/", {
        "action": "activate", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(status=ModelStatus.ACTIVE) == second
    admin_client_logged_in.post("/admin/recommender/modelversion/", {
        "action": "rollback", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(status=ModelStatus.ACTIVE) == first


def test_admin_train_now_action_runs_the_retrain_job(admin_client_logged_in, small_als,
                                                    django_capture_on_commit_callbacks):
    taste_world(n_users=30)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_logged_in.post("/admin/recommender/trainingconfig/", {
            "action": "train_now", "_selected_action": [small_als.pk]})
    version = ModelVersion.objects.get()
    assert version.triggered_by == "admin:root" and version.config == small_als


def test_the_demo_seeder_adds_browsing_signals_and_trains_a_first_model():
    categories = [Category.objects.create(name=f"Cat {i}", slug=f"cat-{i}", vertical=Vertical.RESTAURANT)
                  for i in range(8)]
    for i in range(64):
        MerchantFactory().categories.add(categories[i % 8])
    crowd(120)
    out = io.StringIO()
    recommender_seed(rng=random.Random(42), stdout=out)
    assert Interaction.objects.filter(source__startswith="seed:").count() >= 120 * 8
    version = ModelVersion.objects.get()
    assert version.triggered_by == "seed" and version.metrics, out.getvalue()
    assert "first model" in out.getvalue()


def test_the_demo_seeder_without_merchants_does_nothing():
    UserFactory()
    out = io.StringIO()
    recommender_seed(rng=random.Random(1), stdout=out)
    assert "no merchants" in out.getvalue() and not ModelVersion.objects.exists()


def test_admin_asks_before_activating_a_rejected_version(admin_client_logged_in, small_als,
                                                         django_capture_on_commit_callbacks):
    taste_world()
    first = model_train(config=small_als)
    rejected = model_train(config=small_als, activate=False)
    rejected.status, rejected.reason = ModelStatus.REJECTED, "nDCG@10 0.0100 does not beat popularity (0.0200)."
    rejected.save()
    with pytest.raises(ModelVersionNotActivatable, match="needs a confirmation"):
        model_version_activate(version=rejected)

    asked = admin_client_logged_in.post("/admin/recommender/modelversion/", {
        "action": "activate", "_selected_action": [rejected.pk]})
    assert asked.status_code == 200 and b"rejected by the quality gate" in asked.content
    assert b"does not beat popularity" in asked.content and b'name="confirm_rejected" value="yes"' in asked.content
    assert ModelVersion.objects.get(status=ModelStatus.ACTIVE) == first  # nothing happened yet

    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_logged_in.post("/admin/recommender/modelversion/", {
            "action": "activate", "_selected_action": [rejected.pk], "confirm_rejected": "yes"}, follow=True)
    assert b"It had been rejected by the quality gate" in done.content
    rejected.refresh_from_db()
    assert rejected.status == ModelStatus.ACTIVE and "despite the quality gate" in rejected.reason


def _version(pk, status, **metrics):
    return ModelVersion(pk=pk, algorithm="als", status=status, metrics=metrics, baseline_metrics={"ndcg": 0.05})


def _drawn(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    figure.tight_layout()
    canvas.draw()
    return canvas.get_renderer()


@pytest.mark.parametrize("count", [1, 6])
def test_the_metrics_chart_legend_hides_no_line_and_one_version_shows_every_metric(count):
    metrics = {"ndcg": 0.2, "precision": 0.1, "recall": 0.3, "map": 0.08}
    versions = [_version(i + 1, ModelStatus.RETIRED, **metrics) for i in range(count - 1)]
    versions.append(_version(count, ModelStatus.ACTIVE, **metrics))
    figure = metrics_chart_figure(versions)
    renderer = _drawn(figure)
    axes = figure.axes[0]
    legend = axes.get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    assert {"ndcg@k", "precision@k", "recall@k", "map@k", "popularity nDCG", "active"} <= set(labels)
    # The legend is beside the plotting area, not over it, and inside the picture.
    assert not legend.get_window_extent(renderer).overlaps(axes.get_window_extent(renderer))
    assert legend.get_window_extent(renderer).x1 <= figure.bbox.x1 + 1
    # Every metric is drawn as visible markers, so a single version shows four points, not just its star.
    lines = {line.get_label(): line for line in axes.get_lines()}
    for name in ("ndcg@k", "precision@k", "recall@k", "map@k"):
        assert lines[name].get_marker() not in (None, "", "None") and len(lines[name].get_xdata()) == count
    low, high = axes.get_xlim()
    assert low < 0 and high > count - 1  # the points are not on the frame's edge
