"""The catalogue's options on a generation: the last frame asked for, resolution, length, route.

SQLite cannot add a NOT NULL column in place, so Django rebuilds playground_generation here, and
a rebuilt table loses its triggers: the prompt search index (0003) would stop following new
rows. They are put back (the FTS table itself survives) and its contents rebuilt.
"""

import importlib

from django.db import migrations, models

# The same repair as 0004's, shared rather than copied.
_restore = importlib.import_module("playground.migrations.0004_money_tracing_recovery_budgets")
restore_search_triggers = _restore.restore_search_triggers


def record_old_routes(apps, schema_editor):
    # Jobs sent before routes were recorded went out on the only route each model had then, so a
    # later LIVE2D_ROUTE switch keeps polling them where they were made.
    generation = apps.get_model("playground", "Generation")
    sent = generation.objects.exclude(upstream_id="")
    sent.filter(model="video-01-live2d").update(upstream_route="legacy")
    sent.filter(model="video-01").update(upstream_route="universal")


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0008_staged_pictures_and_frame_type"),
    ]

    operations = [
        # Undoing this migration rebuilds the table again; this runs last then.
        migrations.RunPython(migrations.RunPython.noop, restore_search_triggers),
        migrations.AddField(
            model_name="generation",
            name="duration_seconds",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="generation",
            name="end_frame",
            field=models.FileField(blank=True, max_length=300, upload_to=""),
        ),
        migrations.AddField(
            model_name="generation",
            name="end_frame_height",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="generation",
            name="end_frame_link",
            field=models.URLField(
                blank=True, help_text="The last-frame image link the user gave.", max_length=2000
            ),
        ),
        migrations.AddField(
            model_name="generation",
            name="end_frame_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="generation",
            name="end_frame_width",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="generation",
            name="resolution",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="generation",
            name="upstream_route",
            field=models.CharField(
                blank=True,
                help_text="The catalogue's route the job was sent on (polled on it too).",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="generation",
            name="model",
            field=models.CharField(
                choices=[
                    ("video-01", "video-01"),
                    ("video-01-live2d", "video-01-live2d"),
                    ("minimax/hailuo-02", "minimax/hailuo-02"),
                    ("minimax/hailuo-2.3", "minimax/hailuo-2.3"),
                    ("minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="batch",
            name="model",
            field=models.CharField(
                choices=[
                    ("video-01", "video-01"),
                    ("video-01-live2d", "video-01-live2d"),
                    ("minimax/hailuo-02", "minimax/hailuo-02"),
                    ("minimax/hailuo-2.3", "minimax/hailuo-2.3"),
                    ("minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="preset",
            name="model",
            field=models.CharField(
                choices=[
                    ("video-01", "video-01"),
                    ("video-01-live2d", "video-01-live2d"),
                    ("minimax/hailuo-02", "minimax/hailuo-02"),
                    ("minimax/hailuo-2.3", "minimax/hailuo-2.3"),
                    ("minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(record_old_routes, migrations.RunPython.noop),
        migrations.RunPython(restore_search_triggers, migrations.RunPython.noop),
    ]
