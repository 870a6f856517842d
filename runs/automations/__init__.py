"""The automations engine: which events an automation's trigger counts, when it fires, and the
actions that run then.

- `matching`: pure rules (does a trigger cover an event, which bucket does it count in).
- `triggers`: the counting and firing, with bucket state in the database (AutomationBucket).
- `actions`: each action type, carried out through the domain functions.
- `jobs`: the django-q2 entry points, and the hook `events_recorded` that runs/domain/events.py
  calls so new events are evaluated after their transaction commits, off the ingestion path.
"""
