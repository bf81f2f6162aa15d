"""import_interactions: column mapping, imported users and placeholder merchants, idempotency, bad rows."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from merchants.models import Merchant
from recommender.models import Interaction
from superapp.accounts.models import User
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_interactions", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_tsv_without_header_creates_imported_users_and_placeholders_and_is_idempotent(tmp_path, sql_branch):
    data = tmp_path / "counts.txt"
    data.write_text("u1\ti1\t3\nu1\ti2\t1\nu2\ti1\t5")  # no trailing newline, like the shared Foursquare file
    out, _ = run(data, "--weight-col", "2", "--create-missing-items", "--id-prefix", "t:")
    assert "3 rows: 3 imported, 0 already there, 0 bad; 2 users and 2 placeholder merchants created" in out
    user = User.objects.get(external_id="t:u1")
    assert user.is_imported and not user.has_usable_password()
    item = Merchant.objects.get(external_id="t:i1")
    assert item.is_placeholder and item.city is None and item.latitude is None
    assert sorted(Interaction.objects.values_list("value", flat=True)) == [1.0, 3.0, 5.0]
    assert set(Interaction.objects.values_list("kind", flat=True)) == {"import"}

    out, _ = run(data, "--weight-col", "2", "--create-missing-items", "--id-prefix", "t:")
    assert "3 rows: 0 imported, 3 already there" in out
    assert Interaction.objects.count() == 3 and User.objects.filter(is_imported=True).count() == 2


def test_a_csv_with_header_maps_columns_by_name_and_parses_times_and_kinds(tmp_path, sql_branch):
    merchant = MerchantFactory(external_id="shop-1")
    data = tmp_path / "events.csv"
    data.write_text("when,kind,customer,shop\n"
                    "1700000000,payment,c1,shop-1\n"
                    "2024-01-02T03:04:05Z,review,c1,shop-1\n")
    run(data, "--user-col", "customer", "--item-col", "shop", "--time-col", "when", "--kind-col", "kind")
    rows = list(Interaction.objects.order_by("occurred_at").values_list("kind", "merchant_id", "occurred_at"))
    assert [(k, m) for k, m, _ in rows] == [("payment", merchant.pk), ("review", merchant.pk)]
    assert rows[0][2].timestamp() == 1700000000
    assert rows[1][2].isoformat() == "2024-01-02T03:04:05+00:00"


def test_bad_rows_are_skipped_with_their_line_numbers_and_good_rows_imported(tmp_path):
    MerchantFactory(external_id="m1")
    data = tmp_path / "mixed.csv"
    data.write_text("\n".join([
        "u1,m1,2,1700000000",        # good
        "u2,m1",                     # too few columns
        "u3,m1,abc,1700000000",      # weight not a number
        "u4,m1,1,yesterday",         # bad timestamp
        ",m1,1,1700000000",          # empty user
        "u5,unknown-item,1,1700000000",  # unknown item without --create-missing-items
        "u6,m1,nan,1700000000",      # not finite
        "",                          # blank lines are ignored
        "u7,m1,1,1700000001",        # good
    ]))
    out, err = run(data, "--weight-col", "2", "--time-col", "3")
    assert "8 rows: 2 imported, 0 already there, 6 bad" in out
    for line in ("line 2:", "line 3:", "line 4:", "line 5:", "line 6:", "line 7:"):
        assert line in err
    assert "unknown item" in err and "--create-missing-items" in err
    assert Interaction.objects.count() == 2
    assert not Merchant.objects.filter(external_id="unknown-item").exists()


def test_unknown_kinds_and_wrong_column_names_are_clear_errors(tmp_path):
    data = tmp_path / "kinds.csv"
    data.write_text("user,item,kind\nu1,m1,purchase\n")
    with pytest.raises(CommandError, match="Every row was bad"):
        run(data, "--kind-col", "kind", "--create-missing-items")
    with pytest.raises(CommandError, match="not in the header"):
        run(data, "--user-col", "customer")
    with pytest.raises(CommandError, match="No such file"):
        run(tmp_path / "missing.csv")
    assert not Interaction.objects.exists()


def test_the_shared_movielens_file_imports_in_bulk(shared_data):
    path = shared_data("movielens-100k", "u.data")
    out, _ = run(path, "--time-col", "3", "--weight-col", "2", "--id-prefix", "ml:", "--dataset", "ml100k",
                 "--create-missing-items")
    assert "100000 rows: 100000 imported" in out
    assert User.objects.filter(external_id__startswith="ml:").count() == 943
    assert Merchant.objects.filter(external_id__startswith="ml:", is_placeholder=True).count() == 1682
