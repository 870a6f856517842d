from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from runs.services.foreman import register_schedules  # foreman + crashed-run detection

        post_migrate.connect(register_schedules, sender=self, dispatch_uid="runs.services.foreman")

        from runs.tasks import register_schedules as register_deployment_services  # scheduler + late runs

        post_migrate.connect(register_deployment_services, sender=self, dispatch_uid="runs.tasks")
