"""Django admin for deployments (with their schedules) and flow-run inputs."""

from django.contrib import admin

from .admin import BigTableAdmin
from .models import Deployment, DeploymentSchedule, FlowRunInput


class ScheduleInline(admin.TabularInline):
    model = DeploymentSchedule
    fields = ("schedule", "active", "max_scheduled_runs", "parameters", "slug")
    extra = 0


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "flow", "paused", "status", "concurrency_limit", "work_queue_name", "last_polled", "updated")
    list_filter = ("paused", "status")
    search_fields = ("name", "flow__name", "=id")
    list_select_related = ("flow",)
    readonly_fields = ("id", "created", "updated", "last_polled", "concurrency_limit_id")
    raw_id_fields = ("flow", "work_queue")
    inlines = [ScheduleInline]


@admin.register(FlowRunInput)
class FlowRunInputAdmin(BigTableAdmin):
    list_display = ("key", "flow_run", "sender", "created")
    list_filter = ("created",)
    search_fields = ("key", "=flow_run__id")
    raw_id_fields = ("flow_run",)
    readonly_fields = ("id", "created", "updated")
