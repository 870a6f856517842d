"""Schedule arithmetic: interval with anchor, cron and rrule, with timezones and DST changes."""

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from runs.domain.errors import InvalidInput
from runs.domain.schedules import dates_to_schedule, normalize_schedule, schedule_dates


def first(schedule: dict, start: datetime, count: int = 3) -> list[str]:
    dates = islice(schedule_dates(normalize_schedule(schedule), start=start), count)
    return [moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in dates]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class TestNormalizeSchedule:
    def test_interval_is_stored_in_seconds_with_its_anchor_in_utc(self):
        schedule = normalize_schedule({"interval": "PT10M", "anchor_date": "2026-01-01T10:00:00+02:00"})
        assert schedule == {"interval": 600.0, "anchor_date": "2026-01-01T08:00:00Z", "timezone": "UTC"}

    def test_interval_without_an_anchor_is_anchored_once_so_its_slots_never_move(self):
        schedule = normalize_schedule({"interval": 60})
        assert schedule["anchor_date"].endswith("Z")

    def test_cron_defaults_to_utc_and_day_or(self):
        assert normalize_schedule({"cron": "0 9 * * *"}) == {"cron": "0 9 * * *", "timezone": "UTC", "day_or": True}

    @pytest.mark.parametrize("bad", [
        {"interval": 0},
        {"interval": -5},
        {"interval": "soon"},
        {"cron": "61 * * * *"},
        {"cron": "every day"},
        {"rrule": "FREQ=SOMETIMES"},
        {"cron": "0 9 * * *", "timezone": "Mars/Olympus"},
        {"interval": 60, "cron": "* * * * *"},
        {},
        "hourly",
    ])
    def test_invalid_schedules_are_refused(self, bad):
        with pytest.raises(InvalidInput):
            normalize_schedule(bad)


class TestIntervalDates:
    def test_slots_are_anchor_plus_multiples_of_the_interval(self):
        schedule = {"interval": 600, "anchor_date": "2026-01-01T00:00:00Z"}
        assert first(schedule, utc(2026, 1, 1, 0, 25)) == [
            "2026-01-01T00:30:00Z", "2026-01-01T00:40:00Z", "2026-01-01T00:50:00Z",
        ]

    def test_a_slot_exactly_at_the_start_is_included(self):
        schedule = {"interval": 3600, "anchor_date": "2026-01-01T00:00:00Z"}
        assert first(schedule, utc(2026, 1, 1, 5), 1) == ["2026-01-01T05:00:00Z"]

    def test_an_anchor_in_the_future_starts_there(self):
        schedule = {"interval": 60, "anchor_date": "2026-06-01T12:00:00Z"}
        assert first(schedule, utc(2026, 1, 1), 1) == ["2026-06-01T12:00:00Z"]

    def test_daily_interval_keeps_local_wall_clock_time_across_spring_forward(self):
        # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC after 8 March 2026.
        schedule = {"interval": 86400, "anchor_date": "2026-01-01T14:00:00Z", "timezone": "America/New_York"}
        assert first(schedule, utc(2026, 3, 7, 12)) == [
            "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z",
        ]

    def test_daily_interval_keeps_local_wall_clock_time_across_fall_back(self):
        schedule = {"interval": 86400, "anchor_date": "2026-07-01T13:00:00Z", "timezone": "America/New_York"}
        assert first(schedule, utc(2026, 10, 31, 12)) == [
            "2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z", "2026-11-02T14:00:00Z",
        ]

    def test_sub_day_interval_is_elapsed_time_through_dst(self):
        schedule = {"interval": 3600, "anchor_date": "2026-03-08T05:00:00Z", "timezone": "America/New_York"}
        assert first(schedule, utc(2026, 3, 8, 6), 3) == [
            "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z",
        ]


class TestCronDates:
    def test_cron_fires_at_its_local_time_in_its_timezone(self):
        assert first({"cron": "0 9 * * *", "timezone": "Europe/Berlin"}, utc(2026, 1, 10)) == [
            "2026-01-10T08:00:00Z", "2026-01-11T08:00:00Z", "2026-01-12T08:00:00Z",
        ]

    def test_daily_cron_follows_spring_forward(self):
        assert first({"cron": "0 9 * * *", "timezone": "America/New_York"}, utc(2026, 3, 7, 12)) == [
            "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z",
        ]

    def test_daily_cron_in_the_repeated_hour_runs_once_when_clocks_go_back(self):
        # 01:30 happens twice in New York on 1 November 2026 (EDT, then EST).
        assert first({"cron": "30 1 * * *", "timezone": "America/New_York"}, utc(2026, 10, 31, 12)) == [
            "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z",
        ]

    def test_daily_cron_in_the_skipped_hour_still_runs_that_day(self):
        dates = first({"cron": "30 2 * * *", "timezone": "America/New_York"}, utc(2026, 3, 7, 12))
        assert dates[0] == "2026-03-08T07:00:00Z"  # 03:00 EDT, the first valid local time
        assert dates[1] == "2026-03-09T06:30:00Z"

    def test_hourly_cron_keeps_every_real_hour_when_clocks_go_back(self):
        dates = first({"cron": "0 * * * *", "timezone": "America/New_York"}, utc(2026, 11, 1, 4, 30), 3)
        assert dates == ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]

    def test_day_or_false_requires_both_day_fields(self):
        # The 13th when it is also a Friday: February and March 2026.
        dates = first({"cron": "0 0 13 * 5", "day_or": False}, utc(2026, 1, 1), 2)
        assert dates == ["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"]
        either = first({"cron": "0 0 13 * 5", "day_or": True}, utc(2026, 1, 1), 1)
        assert either == ["2026-01-02T00:00:00Z"]  # the first Friday


class TestRRuleDates:
    def test_rrule_runs_on_local_time_in_its_timezone_across_dst(self):
        schedule = {"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", "timezone": "America/New_York"}
        assert first(schedule, utc(2026, 3, 7, 12)) == [
            "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z",
        ]

    def test_rrule_with_a_zoned_dtstart(self):
        schedule = {"rrule": "DTSTART;TZID=Europe/Berlin:20260101T080000\nRRULE:FREQ=WEEKLY;BYDAY=MO"}
        assert first(schedule, utc(2026, 3, 20), 2) == ["2026-03-23T07:00:00Z", "2026-03-30T06:00:00Z"]

    def test_finite_rrule_ends(self):
        schedule = {"rrule": "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=3"}
        assert first(schedule, utc(2026, 1, 2), 10) == ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]


class TestDatesToSchedule:
    def window(self, schedule, **overrides):
        options = dict(now=utc(2026, 1, 1), min_runs=3, max_runs=100,
                       min_time=timedelta(hours=1), max_time=timedelta(days=100))
        options.update(overrides)
        return dates_to_schedule(normalize_schedule(schedule), **options)

    def test_frequent_schedules_fill_the_minimum_time(self):
        dates = self.window({"interval": 600, "anchor_date": "2026-01-01T00:00:00Z"})
        assert len(dates) == 7  # 00:00 through 01:00
        assert dates[-1] == utc(2026, 1, 1, 1)

    def test_rare_schedules_get_the_minimum_number_of_runs(self):
        assert len(self.window({"cron": "0 0 1 * *"})) == 3

    def test_never_more_than_the_maximum_number_of_runs(self):
        assert len(self.window({"interval": 1, "anchor_date": "2026-01-01T00:00:00Z"}, max_runs=50)) == 50

    def test_never_past_the_maximum_time(self):
        dates = self.window({"cron": "0 0 1 1 *"}, max_time=timedelta(days=400))
        assert dates == [utc(2026, 1, 1), utc(2027, 1, 1)]
