"""The simulated provider backend moved from `services.providers` to `cityservices.providers` when the
`services/` package was split into area packages: point the stored class paths at the new module."""

from django.db import migrations, models

OLD, NEW = "services.providers.", "cityservices.providers."


def _rename(apps, old: str, new: str) -> None:
    ServiceProvider = apps.get_model("services", "ServiceProvider")
    for provider in ServiceProvider.objects.filter(backend__startswith=old).only("pk", "backend"):
        provider.backend = new + provider.backend[len(old):]
        provider.save(update_fields=["backend"])


def forwards(apps, schema_editor):
    _rename(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _rename(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("services", "0008_appointments")]

    operations = [
        migrations.AlterField(
            model_name="serviceprovider",
            name="backend",
            field=models.CharField(default="cityservices.providers.SimulatedProvider", max_length=200),
        ),
        migrations.RunPython(forwards, backwards),
    ]
