"""The periodic services as django-q2 schedules: one list, registered in one place.

`register_schedules` creates (or corrects) one django-q2 Schedule row per service. It is meant to be
connected to Django's post_migrate signal in RunsConfig.ready(), so every `migrate` (which `serve`
runs first) leaves the schedules in place; it is idempotent and safe to call any time. A
`qcluster` on each server instance then runs them; the services themselves tolerate running
concurrently (see runs/services/scheduler.py and late_runs.py).
"""

# (task function, minutes between runs): django-q2's finest schedule is one minute.
SERVICE_SCHEDULES = (
    ("runs.services.scheduler.schedule_upcoming_runs", 1),
    ("runs.services.late_runs.mark_late_runs", 1),
    ("runs.services.foreman.run_foreman", 1),
    ("runs.services.crashed_runs.run_crashed_run_detection", 1),
    ("runs.domain.concurrency.reclaim_expired_leases", 1),
    ("runs.automations.jobs.evaluate_proactive_triggers", 1),
)


def register_schedules(sender=None, using="default", **kwargs) -> None:
    from django.db import connections
    from django_q.models import Schedule

    connection = connections[using]
    if Schedule._meta.db_table not in connection.introspection.table_names():
        return  # a partial migrate (e.g. `database upgrade -r -1`) before django_q's tables exist

    for func, minutes in SERVICE_SCHEDULES:
        Schedule.objects.using(using).update_or_create(
            name=func,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
