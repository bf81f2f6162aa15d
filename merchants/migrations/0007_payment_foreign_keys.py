"""`payment_id` / `refund_id` were plain integers; they become foreign keys to the wallet's rows (same column
names, so the values stay where they are; the database now refuses a dangling id)."""

import django.db.models.deletion
from django.db import migrations, models


def _to_foreign_key(model_name: str, name: str, to: str, related_name: str, null: bool) -> list:
    return [
        migrations.RenameField(model_name=model_name, old_name=f"{name}_id", new_name=name),
        migrations.AlterField(
            model_name=model_name, name=name,
            field=models.ForeignKey(blank=null, null=null, on_delete=django.db.models.deletion.PROTECT,
                                    related_name=related_name, to=to)),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("services", "0006_city_services"),
    ]

    operations = [
        *_to_foreign_key("booking", "payment", "payments.payment", "bookings", True),
        *_to_foreign_key("booking", "refund", "payments.refund", "bookings", True),
        *_to_foreign_key("bill", "payment", "payments.payment", "city_bills", True),
        *_to_foreign_key("transittopup", "payment", "payments.payment", "transit_top_ups", False),
        *_to_foreign_key("parkingsession", "payment", "payments.payment", "parking_sessions", False),
    ]
