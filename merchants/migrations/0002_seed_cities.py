from django.db import migrations

from merchants.reference import load_reference_cities


def load(apps, schema_editor):
    load_reference_cities(apps.get_model("services", "City"))


class Migration(migrations.Migration):
    dependencies = [("services", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
