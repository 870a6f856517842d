import pytest
from django_q.models import Schedule

from runs import tasks


@pytest.mark.django_db
class TestRegisterSchedules:
    def test_registering_twice_creates_each_schedule_once(self):
        tasks.register_schedules()
        tasks.register_schedules()
        for func, minutes in tasks.SERVICE_SCHEDULES:
            schedule = Schedule.objects.get(func=func)  # exactly one
            assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, minutes, -1)

    def test_every_scheduled_function_exists(self):
        from django.utils.module_loading import import_string

        for func, _ in tasks.SERVICE_SCHEDULES:
            assert callable(import_string(func))
