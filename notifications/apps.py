from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from notifications.tasks import register_schedules  # the delivery sweeper, see notifications/tasks.py

        post_migrate.connect(register_schedules, sender=self, dispatch_uid="notifications.tasks")
