"""Every wallet payment writes an Interaction row, so every index of the table is paid on the money path: the table
keeps the indexes its queries use and no more (migration 0005 dropped two)."""

import pytest
from django.db import connection

from recommender.models import Interaction


@pytest.mark.django_db
def test_the_interaction_table_has_only_the_indexes_its_queries_use():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Interaction._meta.db_table)
    indexed = sorted((tuple(info["columns"]), bool(info["unique"] or info["primary_key"]))
                     for info in constraints.values() if info["index"] or info["primary_key"])
    assert indexed == sorted([
        (("id",), True),                              # primary key
        (("kind", "source"), True),                   # one interaction per event source (idempotent events)
        (("merchant_id",), False),                    # the merchant's cascade, a city's popularity by merchant
        (("occurred_at",), False),                    # popularity and training windows
        (("user_id", "client_event_id"), True),       # client events once (partial: NOT NULL ids only)
        (("user_id", "occurred_at"), False),          # a user's latest interactions; serves every lookup by user
    ])
    if connection.vendor == "postgresql":  # partial indexes: rows without a client id stay out of this one
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'interaction_client_event_unique'")
            assert "WHERE (client_event_id IS NOT NULL)" in cursor.fetchone()[0]
