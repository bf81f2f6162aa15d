import pytest

from merchants.models import Merchant
from recommender.models import Interaction
from superapp.social import services
from superapp.social.models import CheckIn, Post, Review
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory
from tests.superapp.test_api_conventions import assert_error_shape


def summary(merchant):
    merchant = Merchant.objects.get(pk=merchant.pk)
    return merchant.rating_count, merchant.rating_sum


@pytest.mark.django_db
def test_review_updates_summary_and_emits_event(auth_client, user, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post("/api/v1/reviews", {"merchant_id": merchant.pk, "rating": 4, "text": "Tasty"},
                                    format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rating"] == 4 and body["post"]["kind"] == "review" and body["post"]["rating"] == 4
    assert summary(merchant) == (1, 4)
    event = Interaction.objects.get(kind="review")
    assert (event.user_id, event.merchant_id, event.value, event.source) == (user.pk, merchant.pk, 4.0,
                                                                             f"review:{body['id']}")


@pytest.mark.django_db
def test_nearby_shows_a_new_rating_at_once(auth_client, merchant, settings, django_capture_on_commit_callbacks):
    """A review changes the merchant's rating through the merchants' service, which tells the nearby index to
    rebuild: the next nearby page shows the new rating, not the index's copy (kept up to 300 s before)."""
    settings.SERVICES_GEO_INDEX_CHECK_S = 0.0  # look at the index's version on every request
    near = {"lat": merchant.latitude, "lon": merchant.longitude, "radius_m": 100}

    def card():
        [found] = [m for m in auth_client.get("/api/v1/merchants/nearby", near).json()["results"]
                   if m["id"] == merchant.pk]
        return found["rating_count"], found["rating_average"]

    before = card()  # builds this process's index and caches the card
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post("/api/v1/reviews", {"merchant_id": merchant.pk, "rating": 2}, format="json")
    assert response.status_code == 201, response.content
    count, total = summary(merchant)
    assert card() == (count, round(total / count, 2)) and count == before[0] + 1


@pytest.mark.django_db
@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"rating": 0}, 400, "rating_out_of_range"),
    ({"rating": 6}, 400, "rating_out_of_range"),
    ({"rating": "five"}, 400, "validation_error"),
    ({"rating": 3, "text": "x" * 5001}, 400, "text_too_long"),
])
def test_bad_reviews_write_nothing(auth_client, merchant, payload, status, code):
    assert_error_shape(auth_client.post("/api/v1/reviews", {"merchant_id": merchant.pk, **payload}, format="json"),
                       status, code)
    assert not Review.objects.exists() and not Post.objects.exists()
    assert summary(merchant) == (0, 0)


@pytest.mark.django_db
def test_service_rejects_out_of_range_ratings_too(user, merchant):
    from superapp.social.exceptions import RatingOutOfRange

    with pytest.raises(RatingOutOfRange):
        services.review_create(author=user, merchant_id=merchant.pk, rating=7)


@pytest.mark.django_db
def test_duplicate_review_is_409_and_writes_nothing(auth_client, user, merchant):
    services.review_create(author=user, merchant_id=merchant.pk, rating=5)
    error = assert_error_shape(auth_client.post("/api/v1/reviews", {"merchant_id": merchant.pk, "rating": 1},
                                                format="json"), 409, "duplicate_review")
    assert error["details"]["review_id"] == Review.objects.get().pk
    assert Review.objects.count() == 1 and summary(merchant) == (1, 5)


@pytest.mark.django_db
def test_review_edit_and_delete_keep_the_summary_right(user, other_user, merchant):
    mine = services.review_create(author=user, merchant_id=merchant.pk, rating=2)
    services.review_create(author=other_user, merchant_id=merchant.pk, rating=5)
    client = client_for(user)
    edited = client.patch(f"/api/v1/reviews/{mine.pk}", {"rating": 4, "text": "Better on a second visit"},
                          format="json")
    assert edited.status_code == 200 and edited.json()["rating"] == 4
    assert edited.json()["post"]["text"] == "Better on a second visit"
    assert summary(merchant) == (2, 9)
    assert_error_shape(client_for(other_user).patch(f"/api/v1/reviews/{mine.pk}", {"rating": 1}, format="json"),
                       404, "review_not_found")
    assert_error_shape(client.patch(f"/api/v1/reviews/{mine.pk}", {"rating": 9}, format="json"), 400,
                       "rating_out_of_range")
    assert client.delete(f"/api/v1/reviews/{mine.pk}").status_code == 204
    assert summary(merchant) == (1, 5)
    # Deleting frees the slot: a new review is allowed.
    assert client.post("/api/v1/reviews", {"merchant_id": merchant.pk, "rating": 3}, format="json").status_code == 201
    assert summary(merchant) == (2, 8)


@pytest.mark.django_db
def test_hiding_a_review_takes_it_out_of_the_summary(user, merchant):
    review = services.review_create(author=user, merchant_id=merchant.pk, rating=1)
    services.post_set_hidden(post_id=review.post_id, hidden=True)
    assert summary(merchant) == (0, 0)
    services.post_set_hidden(post_id=review.post_id, hidden=False)
    assert summary(merchant) == (1, 1)


@pytest.mark.django_db
def test_review_of_unknown_or_inactive_merchant_is_404(auth_client):
    closed = MerchantFactory(is_active=False)
    for merchant_id in (closed.pk, 999999):
        assert_error_shape(auth_client.post("/api/v1/reviews", {"merchant_id": merchant_id, "rating": 3},
                                            format="json"), 404, "merchant_not_found")
    assert_error_shape(auth_client.get("/api/v1/merchants/999999/reviews"), 404, "merchant_not_found")


@pytest.mark.django_db
def test_merchant_reviews_list_is_paginated_with_fixed_queries(merchant, user, django_assert_num_queries):
    authors = UserFactory.create_batch(4)
    for i, author in enumerate(authors):
        services.review_create(author=author, merchant_id=merchant.pk, rating=i + 2)
    client = client_for(user)
    with django_assert_num_queries(3):  # merchant, page, friends who were here
        page = client.get(f"/api/v1/merchants/{merchant.pk}/reviews?limit=3").json()
    assert [r["rating"] for r in page["results"]] == [5, 4, 3]
    assert page["rating_count"] == 4 and page["rating_average"] == 3.5
    assert [r["rating"] for r in client.get(page["next"]).json()["results"]] == [2]


@pytest.mark.django_db
def test_checkin_creates_a_post_and_an_event(auth_client, user, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post("/api/v1/checkins", {"merchant_id": merchant.pk, "text": "Here!"}, format="json")
    assert response.status_code == 201, response.content
    checkin = CheckIn.objects.get()
    assert response.json()["post"]["checkin_id"] == checkin.pk
    event = Interaction.objects.get(kind="checkin")
    assert (event.user_id, event.merchant_id, event.source) == (user.pk, merchant.pk, f"checkin:{checkin.pk}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_keep_the_rating_summary_exact(concurrently):
    merchant = MerchantFactory()
    reviewers = UserFactory.create_batch(16)

    def review(i):
        return services.review_create(author=reviewers[i], merchant_id=merchant.pk, rating=i % 5 + 1).pk

    results = concurrently(review, 16)
    assert all(isinstance(r, int) for r in results), results
    assert summary(merchant) == (16, sum(i % 5 + 1 for i in range(16)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_and_duplicate_creates_stay_consistent(concurrently):
    merchant = MerchantFactory()
    author = UserFactory()
    review = services.review_create(author=author, merchant_id=merchant.pk, rating=3)

    def edit_or_duplicate(i):
        if i % 2:
            return services.review_create(author=author, merchant_id=merchant.pk, rating=1)
        return services.review_update(user=author, review_id=review.pk, rating=i % 5 + 1).rating

    results = concurrently(edit_or_duplicate, 12)
    duplicates = [r for r in results if type(r).__name__ == "DuplicateReview"]
    assert len(duplicates) == 6, results
    final = Review.objects.get()
    assert summary(merchant) == (1, final.rating)
