"""Admin for notification policies and deliveries. The stored channel config (encrypted secrets) is
never shown or edited here: the admin shows it masked and read-only; edit policies on the
notifications page or through the API, where the channel validates them."""

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import Delivery, DeliveryAttempt, NotificationPolicy
from .policies import shown_config


@admin.register(NotificationPolicy)
class NotificationPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "channel", "state_names", "tags", "is_active", "updated")
    list_filter = ("is_active", "channel")
    search_fields = ("name",)
    exclude = ("channel_config",)
    readonly_fields = ("id", "created", "updated", "channel", "state_names", "tags", "message_template", "masked_config")
    fields = ("id", "name", "is_active", "channel", "state_names", "tags", "message_template", "masked_config", "created", "updated")

    @admin.display(description="channel config (secrets masked)")
    def masked_config(self, policy):
        return format_html("<pre>{}</pre>", json.dumps(shown_config(policy), indent=2, sort_keys=True))


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "finished_at", "status_code", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("created", "policy", "status", "attempt_count", "is_test", "subject", "sent_at")
    list_filter = ("status", "is_test")
    list_select_related = ("policy",)
    search_fields = ("subject",)
    inlines = [DeliveryAttemptInline]
    readonly_fields = (
        "id", "created", "policy", "flow_run_id", "state_id", "is_test", "subject", "body", "run_url", "status",
        "attempt_count", "next_attempt_at", "lease_until", "sent_at", "last_error", "completed_requests",
    )
    exclude = ("facts",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
