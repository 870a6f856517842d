"""Schedule arithmetic: which instants a deployment schedule fires at.

Three kinds, as on the wire: `{"interval": seconds, "anchor_date", "timezone"}`,
`{"cron": "0 9 * * *", "timezone", "day_or"}` and `{"rrule": "FREQ=...", "timezone"}`.
`normalize_schedule` validates one and fills its defaults (so the stored form fires at the same
slots forever); `schedule_dates` yields its instants (aware, UTC) from a start time on.

Daylight saving: schedules keep their wall-clock time in their timezone. An interval of whole days
fires at the anchor's local time every day; a cron or rrule fires at its local time, once per
local slot (a daily 01:30 job runs once on the night the clocks go back, and at the first valid
local time on the night they go forward). Sub-day intervals are plain elapsed time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from dateutil import rrule as dateutil_rrule
from pydantic import TypeAdapter, ValidationError

from .errors import InvalidInput

DAY_SECONDS = 86400
_DURATION = TypeAdapter(timedelta)
_INSTANT = TypeAdapter(datetime)
# rrules whose first occurrences lie far in the past would otherwise be walked one by one.
MAX_RRULE_STEPS = 100_000


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown timezone {name!r}.") from None


def normalize_schedule(raw) -> dict:
    """The schedule in its stored/wire form; InvalidInput says what is wrong with it."""
    if not isinstance(raw, dict):
        raise InvalidInput("A schedule must be an object with an interval, a cron or an rrule.")
    kinds = [kind for kind in ("interval", "cron", "rrule") if raw.get(kind) is not None]
    if len(kinds) != 1:
        raise InvalidInput("A schedule must have exactly one of interval, cron or rrule.")
    timezone_name = raw.get("timezone")
    if timezone_name is not None and not isinstance(timezone_name, str):
        raise InvalidInput("Schedule timezone must be a string.")
    if kinds[0] == "interval":
        return _normalize_interval(raw, timezone_name)
    if kinds[0] == "cron":
        return _normalize_cron(raw, timezone_name)
    return _normalize_rrule(raw, timezone_name)


def _normalize_interval(raw, timezone_name) -> dict:
    try:
        interval = _DURATION.validate_python(raw["interval"])
    except ValidationError:
        raise InvalidInput(f"Invalid interval {raw['interval']!r}: expected seconds or an ISO 8601 duration.") from None
    if interval <= timedelta(0):
        raise InvalidInput("The interval must be positive.")
    tz = zone(timezone_name)
    anchor = raw.get("anchor_date")
    if anchor is None:
        anchor_date = datetime.now(UTC).replace(microsecond=0)
    else:
        try:
            anchor_date = _INSTANT.validate_python(anchor)
        except ValidationError:
            raise InvalidInput(f"Invalid anchor_date {anchor!r}.") from None
        if anchor_date.tzinfo is None:
            anchor_date = anchor_date.replace(tzinfo=tz)
    return {
        "interval": interval.total_seconds(),
        "anchor_date": anchor_date.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "timezone": timezone_name or "UTC",
    }


def _normalize_cron(raw, timezone_name) -> dict:
    expression = raw["cron"]
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise InvalidInput(f"Invalid cron expression {expression!r}.")
    zone(timezone_name)
    day_or = raw.get("day_or")
    return {"cron": expression, "timezone": timezone_name or "UTC", "day_or": True if day_or is None else bool(day_or)}


def _normalize_rrule(raw, timezone_name) -> dict:
    text = raw["rrule"]
    if not isinstance(text, str):
        raise InvalidInput("rrule must be a string.")
    zone(timezone_name)
    try:
        dateutil_rrule.rrulestr(text, dtstart=datetime(2020, 1, 1), forceset=True)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"Invalid rrule {text!r}: {exc}") from None
    return {"rrule": text, "timezone": timezone_name or "UTC"}


def schedule_dates(schedule: dict, *, start: datetime) -> Iterator[datetime]:
    """The schedule's instants at or after `start`, ascending, as aware UTC datetimes."""
    if schedule.get("interval") is not None:
        return _interval_dates(schedule, start)
    if schedule.get("cron") is not None:
        return _cron_dates(schedule, start)
    return _rrule_dates(schedule, start)


def _interval_dates(schedule, start) -> Iterator[datetime]:
    interval = timedelta(seconds=float(schedule["interval"]))
    anchor = _INSTANT.validate_python(schedule["anchor_date"]).astimezone(UTC)
    tz = zone(schedule.get("timezone"))
    seconds = interval.total_seconds()
    if seconds % DAY_SECONDS == 0:
        # Whole days: step in local calendar days so the wall-clock time survives DST changes.
        days = int(seconds // DAY_SECONDS)
        local_anchor = anchor.astimezone(tz).replace(tzinfo=None)
        step = max(0, math.floor((start - anchor) / interval) - 1)
        while True:
            candidate = (local_anchor + timedelta(days=days * step)).replace(tzinfo=tz).astimezone(UTC)
            if candidate >= start:
                yield candidate
            step += 1
    else:
        step = max(0, math.ceil((start - anchor) / interval))
        while True:
            yield anchor + interval * step
            step += 1


def _cron_dates(schedule, start) -> Iterator[datetime]:
    tz = zone(schedule.get("timezone"))
    expression = schedule["cron"]
    # Fixed hours (a daily 01:30): when the clocks go back the same local time occurs twice,
    # but the job is meant to run once. Wildcard hours (hourly jobs) keep both instants.
    fixed_hours = expression.split()[1] != "*" if len(expression.split()) >= 5 else False
    iterator = croniter(
        expression, (start - timedelta(microseconds=1)).astimezone(tz), day_or=schedule.get("day_or", True)
    )
    previous_wall_clock = None
    while True:
        moment = iterator.get_next(datetime)
        wall_clock = moment.replace(tzinfo=None)
        if fixed_hours and wall_clock == previous_wall_clock:
            continue
        previous_wall_clock = wall_clock
        moment = moment.astimezone(UTC)
        if moment >= start:
            yield moment


def _rrule_dates(schedule, start) -> Iterator[datetime]:
    """rrules run on local wall-clock time: occurrences are computed naive in the schedule's zone."""
    tz = zone(schedule.get("timezone"))
    rule = dateutil_rrule.rrulestr(schedule["rrule"], dtstart=datetime(2020, 1, 1), forceset=True, cache=False)
    margin = timedelta(hours=3)  # occurrences just before `start` in local time may be after it in UTC
    if _has_zoned_start(schedule["rrule"]):  # DTSTART;TZID=...: occurrences come out aware
        occurrences = rule.xafter(start - margin, inc=True)
    else:
        occurrences = rule.xafter(start.astimezone(tz).replace(tzinfo=None) - margin, inc=True)
    seen = set()
    for steps, local in enumerate(occurrences):
        if steps > MAX_RRULE_STEPS:
            return
        if local.tzinfo is not None:  # DTSTART with a TZID: already aware
            moment = local.astimezone(UTC)
        else:
            moment = local.replace(tzinfo=tz).astimezone(UTC)
        if moment < start or moment in seen:
            continue
        seen.add(moment)
        yield moment


def _has_zoned_start(text: str) -> bool:
    for line in text.upper().splitlines():
        if line.startswith("DTSTART"):
            return line.startswith("DTSTART;TZID=") or line.rstrip().endswith("Z")
    return False


def dates_to_schedule(
    schedule: dict,
    *,
    now: datetime,
    min_runs: int,
    max_runs: int,
    min_time: timedelta,
    max_time: timedelta,
) -> list[datetime]:
    """The slots to keep scheduled ahead: at least `min_runs` runs and everything up to
    `now + min_time`, but never more than `max_runs` runs or anything past `now + max_time`."""
    dates = []
    for moment in schedule_dates(schedule, start=now):
        if len(dates) >= max_runs or moment > now + max_time:
            break
        if len(dates) >= min_runs and moment > now + min_time:
            break
        dates.append(moment)
    return dates


def describe_schedule(schedule: dict) -> str:
    """A short human description for the dashboard: "every 10 minutes", "cron 0 9 * * * (Europe/Berlin)"."""
    timezone_name = schedule.get("timezone") or "UTC"
    if schedule.get("interval") is not None:
        seconds = float(schedule["interval"])
        for unit, size in (("day", DAY_SECONDS), ("hour", 3600), ("minute", 60)):
            if seconds >= size and seconds % size == 0:
                count = int(seconds // size)
                return f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return f"every {seconds:g} seconds"
    if schedule.get("cron") is not None:
        return f"cron {schedule['cron']} ({timezone_name})"
    return f"rrule {schedule.get('rrule')} ({timezone_name})"
