from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from runs.tasks import register_schedules  # every periodic service, see runs/tasks.py

        post_migrate.connect(register_schedules, sender=self, dispatch_uid="runs.tasks")
