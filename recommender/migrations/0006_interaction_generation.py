"""PostgreSQL: a generation counter that every UPDATE or DELETE of rows and every TRUNCATE of the Interaction
table bumps (statement-level triggers; INSERT fires none, so the payment path's inserts pay nothing). The retrain's
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
-- UPDATE and DELETE bump only when the statement changed a row: Django's cascade from a deleted user or merchant
-- runs a DELETE on this table whether or not it holds any of their rows.
CREATE FUNCTION recommender_interaction_generation_bump_if_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM changed_rows) THEN
        UPDATE recommender_interaction_generation SET generation = generation + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER recommender_interaction_updated AFTER UPDATE ON recommender_interaction
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION recommender_interaction_generation_bump_if_changed();
CREATE TRIGGER recommender_interaction_deleted AFTER DELETE ON recommender_interaction
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION recommender_interaction_generation_bump_if_changed();
CREATE TRIGGER recommender_interaction_truncated AFTER TRUNCATE ON recommender_interaction
    FOR EACH STATEMENT EXECUTE FUNCTION recommender_interaction_generation_bump();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS recommender_interaction_updated ON recommender_interaction;
DROP TRIGGER IF EXISTS recommender_interaction_deleted ON recommender_interaction;
DROP TRIGGER IF EXISTS recommender_interaction_truncated ON recommender_interaction;
DROP FUNCTION IF EXISTS recommender_interaction_generation_bump_if_changed();
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
