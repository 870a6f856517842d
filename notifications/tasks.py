"""django-q2 entry points of the notifications app: send one delivery, sweep the due ones."""

# (task function, minutes between runs): the sweeper picks up deliveries whose job was lost.
SWEEP_SCHEDULE = ("notifications.deliveries.send_due_deliveries", 1)


def register_schedules(sender=None, using="default", **kwargs) -> None:
    from django.db import connections
    from django_q.models import Schedule

    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return
    func, minutes = SWEEP_SCHEDULE
    Schedule.objects.using(using).update_or_create(
        name=func, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
    )
