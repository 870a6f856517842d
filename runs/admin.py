"""The Django admin over the raw records: every model, with list filters and search.

Lists can hold millions of rows, so foreign keys are shown as raw ids (no giant <select>s),
related rows are joined in the list query, and the change list does not count the whole table.
"""

from django.contrib import admin

from .models import Event, EventResource, Flow, FlowRun, FlowRunState, Log, TaskRun, TaskRunState


class BigTableAdmin(admin.ModelAdmin):
    show_full_result_count = False  # no second COUNT(*) over the whole table on filtered lists
    list_per_page = 50


@admin.register(Flow)
class FlowAdmin(BigTableAdmin):
    list_display = ("name", "id", "created", "updated")
    search_fields = ("name", "id")
    list_filter = ("created",)
    readonly_fields = ("id", "created", "updated")


class FlowRunStateInline(admin.TabularInline):
    model = FlowRunState
    fields = ("type", "name", "timestamp", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("timestamp",)
    show_change_link = True


@admin.register(FlowRun)
class FlowRunAdmin(BigTableAdmin):
    list_display = ("name", "flow", "state_type", "state_name", "expected_start_time", "start_time", "end_time", "run_count")
    list_select_related = ("flow",)
    list_filter = ("state_type", "expected_start_time", "start_time", "auto_scheduled")
    search_fields = ("name", "id", "flow__name", "idempotency_key")
    raw_id_fields = ("flow", "parent_task_run", "state")
    readonly_fields = ("id", "created", "updated")
    date_hierarchy = "expected_start_time"
    inlines = [FlowRunStateInline]


@admin.register(FlowRunState)
class FlowRunStateAdmin(BigTableAdmin):
    list_display = ("name", "type", "timestamp", "flow_run")
    list_select_related = ("flow_run",)
    list_filter = ("type", "timestamp")
    search_fields = ("name", "flow_run__id", "flow_run__name", "message")
    raw_id_fields = ("flow_run",)
    readonly_fields = ("id", "created", "updated")


@admin.register(TaskRun)
class TaskRunAdmin(BigTableAdmin):
    list_display = ("name", "task_key", "flow_run", "state_type", "state_name", "start_time", "end_time")
    list_select_related = ("flow_run",)
    list_filter = ("state_type", "start_time")
    search_fields = ("name", "id", "task_key", "flow_run__id", "flow_run__name")
    raw_id_fields = ("flow_run", "state")
    readonly_fields = ("id", "created", "updated")


@admin.register(TaskRunState)
class TaskRunStateAdmin(BigTableAdmin):
    list_display = ("name", "type", "timestamp", "task_run")
    list_select_related = ("task_run",)
    list_filter = ("type", "timestamp")
    search_fields = ("name", "task_run__id", "task_run__name", "message")
    raw_id_fields = ("task_run",)
    readonly_fields = ("id", "created", "updated")


class LogLevelFilter(admin.SimpleListFilter):
    """Levels by name and "this level and above", without a DISTINCT scan of the log table."""

    title = "level"
    parameter_name = "level_at_least"
    LEVELS = ((10, "Debug"), (20, "Info"), (30, "Warning"), (40, "Error"), (50, "Critical"))

    def lookups(self, request, model_admin):
        return [(str(number), f"{name} and above") for number, name in self.LEVELS]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(level__gte=int(value))
        return queryset


@admin.register(Log)
class LogAdmin(BigTableAdmin):
    list_display = ("timestamp", "level", "name", "short_message", "flow_run_id", "task_run_id")
    list_filter = (LogLevelFilter, "timestamp")
    search_fields = ("=flow_run_id", "=task_run_id", "name", "message")
    readonly_fields = ("id", "created", "updated")

    @admin.display(description="Message")
    def short_message(self, log):
        return log.message[:120]


class EventResourceInline(admin.TabularInline):
    model = EventResource
    fields = ("role", "resource_id", "labels")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Event)
class EventAdmin(BigTableAdmin):
    list_display = ("event", "resource_id", "occurred", "received")
    list_filter = ("occurred",)
    search_fields = ("event", "=resource_id", "=id")
    readonly_fields = ("received",)
    inlines = [EventResourceInline]


@admin.register(EventResource)
class EventResourceAdmin(BigTableAdmin):
    list_display = ("resource_id", "role", "occurred", "event")
    list_select_related = ("event",)
    list_filter = ("role", "occurred")
    search_fields = ("=resource_id", "role")
    raw_id_fields = ("event",)

from . import admin_concurrency  # noqa: E402,F401  (concurrency limits and leases)
from . import admin_blocks  # noqa: E402,F401  (blocks, variables, artifacts)
from . import admin_deployments  # noqa: E402,F401  (deployments, schedules, flow-run inputs)
