"""Indexes that let a prompt search skip the rows that cannot match (see playground/gallery.py).

SQLite: an FTS5 table with the trigram tokenizer over the prompts ("external content": it keeps
only the index and reads prompts from playground_generation), kept in step by triggers, so any
change to a prompt, however it is made, updates the index in the same transaction. Trigrams
match any substring of three characters or more, case-insensitively, which is what the
gallery's word search promised before it had an index.

PostgreSQL: a GIN trigram index (pg_trgm) on UPPER(prompt), the expression Django's icontains
compares, so the same LIKE '%word%' filters use it. pg_trgm is a trusted extension: the
database's owner may create it without being a superuser (PostgreSQL 13 or later).
"""

from django.db import migrations

SQLITE_UP = [
    "CREATE VIRTUAL TABLE playground_generation_fts USING fts5("
    "prompt, content='playground_generation', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER playground_generation_fts_insert AFTER INSERT ON playground_generation BEGIN "
    "INSERT INTO playground_generation_fts(rowid, prompt) VALUES (new.id, new.prompt); END",
    "CREATE TRIGGER playground_generation_fts_delete AFTER DELETE ON playground_generation BEGIN "
    "INSERT INTO playground_generation_fts(playground_generation_fts, rowid, prompt) "
    "VALUES ('delete', old.id, old.prompt); END",
    "CREATE TRIGGER playground_generation_fts_update AFTER UPDATE OF prompt ON playground_generation BEGIN "
    "INSERT INTO playground_generation_fts(playground_generation_fts, rowid, prompt) "
    "VALUES ('delete', old.id, old.prompt); "
    "INSERT INTO playground_generation_fts(rowid, prompt) VALUES (new.id, new.prompt); END",
    "INSERT INTO playground_generation_fts(playground_generation_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS playground_generation_fts_update",
    "DROP TRIGGER IF EXISTS playground_generation_fts_delete",
    "DROP TRIGGER IF EXISTS playground_generation_fts_insert",
    "DROP TABLE IF EXISTS playground_generation_fts",
]
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS gen_prompt_trgm_idx ON playground_generation "
    "USING gin (UPPER(prompt) gin_trgm_ops)",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS gen_prompt_trgm_idx"]


def run(statements: dict[str, list[str]]):
    def apply(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("playground", "0002_gallery_stars_allowances")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
