"""`superapp.db.rows_by_pk` / `rows_insert` (the hot money path's prepared-once statements) give the rows the
ORM gives: same values, same types, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from merchants.models import Merchant
from payments.models import Account, Payment
from recommender.models import Interaction
from superapp.db import rows_by_pk, rows_by_pk_locked_with, rows_insert
from superapp.money import Money
from tests.payments.factories import funded_user, merchant, rates


def _values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_rows_by_pk_reads_what_the_orm_reads():
    # Given payments with every kind of column filled (decimals, datetimes, nulls) and their merchants
    from payments import services

    rates(("CHF", "CNY", "8"))
    payer, shop = funded_user("500"), merchant(currency="CHF")
    paid = services.payment_create(payer=payer, merchant=shop, amount=Money(1250, "CHF"), pay_currency="CNY")
    plain = services.payment_create(payer=payer, merchant=merchant(), amount=Money(100, "CNY"))
    assert paid.fx_rate is not None and plain.fx_rate is None
    for model, pks in ((Payment, [plain.pk, paid.pk]), (Merchant, [shop.pk]),
                       (Account, list(Account.objects.values_list("pk", flat=True)))):
        # when read both ways, then every row, value and type is the same, in pk order
        fast = rows_by_pk(model, reversed(pks))
        orm = list(model.objects.filter(pk__in=pks).order_by("pk"))
        assert [_values(row) for row in fast] == [_values(row) for row in orm]
        assert [type(value) for row in fast for value in _values(row).values()] == \
               [type(value) for row in orm for value in _values(row).values()]
        assert all(not row._state.adding for row in fast)
    assert rows_by_pk(Payment, [10**12]) == [] and rows_by_pk(Payment, []) == []
    assert isinstance(rows_by_pk(Payment, [paid.pk])[0].fx_rate, Decimal)


@pytest.mark.django_db
def test_rows_by_pk_locked_with_reads_both_rows_as_the_orm_does():
    funded_user("500")  # a wallet and the funding shard: accounts to read
    shop = merchant(currency="CHF", name="Café «Zürich»")
    pks = list(Account.objects.values_list("pk", flat=True))
    # When the accounts are read with a merchant row joined, then both read as the ORM reads them
    accounts, joined = rows_by_pk_locked_with(Account, reversed(pks), other=Merchant, other_pk=shop.pk)
    assert [_values(row) for row in accounts] == [_values(row) for row in Account.objects.order_by("pk")]
    assert _values(joined) == _values(Merchant.objects.get(pk=shop.pk))
    assert [type(v) for v in _values(joined).values()] == \
        [type(v) for v in _values(Merchant.objects.get(pk=shop.pk)).values()]
    assert not joined._state.adding and all(not row._state.adding for row in accounts)
    # and a missing row of either side is absent
    assert rows_by_pk_locked_with(Account, pks[:1], other=Merchant, other_pk=10**12)[1] is None
    assert rows_by_pk_locked_with(Account, [10**12], other=Merchant, other_pk=shop.pk) == ([], None)
    assert rows_by_pk_locked_with(Account, [], other=Merchant, other_pk=shop.pk) == ([], None)


@pytest.mark.django_db
def test_rows_insert_writes_what_the_orm_writes():
    payer, shop = funded_user("100"), merchant()
    now = timezone.now()
    # When a payment row is inserted, then it reads back as the ORM stored it, with its pk set
    [payment] = rows_insert([Payment(payer=payer, merchant=shop, status="succeeded", currency="CNY", amount=500,
                                     payer_currency="CNY", payer_amount=500, fx_rate=Decimal("1.2345678901"),
                                     created_at=now)])
    stored = Payment.objects.get(pk=payment.pk)
    assert _values(stored) == _values(payment) | {"fx_rate": Decimal("1.2345678901")}
    assert stored.tip == 0 and stored.refunded == 0 and stored.created_at == now  # model defaults applied
    # and with ignore_conflicts a duplicate (same kind and source) is skipped, not an error
    event = {"user_id": payer.pk, "merchant_id": shop.pk, "kind": "payment", "occurred_at": now,
             "source": f"payment:{payment.pk}"}
    rows_insert([Interaction(**event, value=5.0)], ignore_conflicts=True)
    rows_insert([Interaction(**event, value=7.0), Interaction(**event | {"source": "x:1"})], ignore_conflicts=True)
    assert sorted(Interaction.objects.filter(user=payer).values_list("source", "value")) == [
        ("payment:" + str(payment.pk), 5.0), ("x:1", 1.0)]


@pytest.mark.django_db
def test_create_once_inserts_then_returns_the_row_already_there(django_assert_num_queries):
    from django.db import transaction

    from superapp.db import create_once
    from superapp.social.models import Follow
    from tests.factories import UserFactory

    a, b = UserFactory(), UserFactory()
    with transaction.atomic():
        with django_assert_num_queries(3):  # savepoint, INSERT, release: no SELECT first
            first, created = create_once(Follow, follower_id=a.pk, followee_id=b.pk)
        assert created
        again, created_again = create_once(Follow, follower_id=a.pk, followee_id=b.pk)
        assert (again.pk, created_again) == (first.pk, False)
        assert Follow.objects.count() == 1  # the outer transaction is still usable
