"""Django admin for concurrency limits and the leases holding their slots."""

from django.contrib import admin, messages

from .admin import BigTableAdmin
from .domain import concurrency
from .models import ConcurrencyLease, ConcurrencyLeaseLimit, ConcurrencyLimit


class LeaseLinkInline(admin.TabularInline):
    model = ConcurrencyLeaseLimit
    fk_name = "limit"
    fields = ("lease",)
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "lease"
    verbose_name_plural = "leases holding slots"


@admin.register(ConcurrencyLimit)
class ConcurrencyLimitAdmin(admin.ModelAdmin):
    list_display = ("name", "limit", "active_slots", "active", "slot_decay_per_second", "avg_slot_occupancy_seconds", "updated")
    list_filter = ("active",)
    search_fields = ("name", "=id")
    readonly_fields = ("id", "created", "updated", "denied_slots", "avg_slot_occupancy_seconds", "decay_counted_at")
    inlines = [LeaseLinkInline]
    actions = ["reset_slots"]

    @admin.action(description="Release every slot (drops the leases on the selected limits)")
    def reset_slots(self, request, queryset):
        for limit in queryset:
            concurrency.reset_concurrency_limit(id_or_name=limit.id)
        self.message_user(request, f"Released the slots of {queryset.count()} limit(s).", messages.SUCCESS)


class LeaseLimitInline(admin.TabularInline):
    model = ConcurrencyLeaseLimit
    fk_name = "lease"
    fields = ("limit",)
    raw_id_fields = ("limit",)
    extra = 0


@admin.register(ConcurrencyLease)
class ConcurrencyLeaseAdmin(BigTableAdmin):
    list_display = ("id", "slots", "holder_type", "holder_id", "created", "expires_at")
    list_filter = ("holder_type", "expires_at")
    search_fields = ("=id", "=holder_id")
    readonly_fields = ("id", "created")
    inlines = [LeaseLimitInline]
