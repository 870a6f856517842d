# Concurrency limits (global v2 limits; tag limits are v2 limits named "tag:<tag>") and their leases.
import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("runs", "0002_event_resource_labels")]
    operations = [
        migrations.CreateModel(
            name="ConcurrencyLease",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("created", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField(db_index=True)),
                ("slots", models.IntegerField()),
                (
                    "holder_type",
                    models.CharField(
                        blank=True,
                        choices=[("flow_run", "Flow Run"), ("task_run", "Task Run"), ("deployment", "Deployment")],
                        max_length=16,
                        null=True,
                    ),
                ),
                ("holder_id", models.UUIDField(blank=True, db_index=True, null=True)),
            ],
            options={"ordering": ["created"]},
        ),
        migrations.CreateModel(
            name="ConcurrencyLimit",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=255, unique=True)),
                ("limit", models.IntegerField()),
                ("active", models.BooleanField(default=True)),
                ("active_slots", models.IntegerField(default=0)),
                ("denied_slots", models.IntegerField(default=0)),
                ("slot_decay_per_second", models.FloatField(default=0.0)),
                ("avg_slot_occupancy_seconds", models.FloatField(default=2.0)),
                ("decay_counted_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="ConcurrencyLeaseLimit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "lease",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="limit_links", to="runs.concurrencylease"
                    ),
                ),
                (
                    "limit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="lease_links", to="runs.concurrencylimit"
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="concurrencylease",
            name="limits",
            field=models.ManyToManyField(
                related_name="leases", through="runs.ConcurrencyLeaseLimit", to="runs.concurrencylimit"
            ),
        ),
        migrations.AddConstraint(
            model_name="concurrencyleaselimit",
            constraint=models.UniqueConstraint(fields=("lease", "limit"), name="concurrency_lease_limit_once"),
        ),
    ]
