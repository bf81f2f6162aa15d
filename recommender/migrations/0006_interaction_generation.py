"""PostgreSQL: a generation counter that every UPDATE, DELETE or TRUNCATE of the Interaction table bumps (one
statement-level trigger; INSERT does not fire it, so the payment path's inserts pay nothing). The retrain's
extract snapshot (`recommender.extract_snapshot`) is valid only while the generation it saw is unchanged. The
`token` tells this database's counter from another's (a snapshot file copied between databases). Other
databases: nothing (the retrain always extracts everything there).
"""

from django.db import migrations

FORWARD = """
CREATE TABLE recommender_interaction_generation (
    id smallint PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL,
    token uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO recommender_interaction_generation (id, generation) VALUES (1, 0);
CREATE FUNCTION recommender_interaction_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE recommender_interaction_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER recommender_interaction_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON recommender_interaction
    FOR EACH STATEMENT EXECUTE FUNCTION recommender_interaction_generation_bump();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS recommender_interaction_changed ON recommender_interaction;
DROP FUNCTION IF EXISTS recommender_interaction_generation_bump();
DROP TABLE IF EXISTS recommender_interaction_generation;
"""


def _forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def _backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('recommender', '0005_interaction_fewer_indexes'),
    ]

    operations = [migrations.RunPython(_forward, _backward)]
