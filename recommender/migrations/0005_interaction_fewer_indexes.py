"""Every wallet payment writes one Interaction row, so each index of the table costs every payment: drop the two that
no query needs.

- The foreign key's own index on `user_id`: `interaction_user_time (user_id, occurred_at)` and the client-event unique
  index lead with `user_id` and serve every lookup by user (and the cascade from a deleted user). Only the index is
  dropped (a quick catalogue change); Django's AlterField would also drop and re-add the foreign key, re-checking
  every row of the table under an exclusive lock.
- `interaction_client_event_unique` becomes partial (`client_event_id IS NOT NULL`): same rule (NULLs never
  conflict), but rows without a client id (payments, bookings, reviews...) stay out of it. Rebuilding it reads the
  whole table once while writes to it wait (one transaction, so uniqueness never lapses).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _user_index_drop(apps, schema_editor):
    model = apps.get_model("recommender", "Interaction")
    column = model._meta.get_field("user").column
    # Exactly the one-column index (not the composites that start with it, not the foreign key constraint).
    for name in schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False):
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def _user_index_create(apps, schema_editor):
    model = apps.get_model("recommender", "Interaction")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[model._meta.get_field("user")]))


class Migration(migrations.Migration):

    dependencies = [
        ('recommender', '0004_algorithm_rp3beta'),
        ('services', '0009_provider_backend_path'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='interaction',
            name='interaction_client_event_unique',
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='interaction',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='interactions', to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[migrations.RunPython(_user_index_drop, _user_index_create)],
        ),
        migrations.AddConstraint(
            model_name='interaction',
            constraint=models.UniqueConstraint(condition=models.Q(('client_event_id__isnull', False)), fields=('user', 'client_event_id'), name='interaction_client_event_unique'),
        ),
    ]
