from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("", views.policy_list, name="policies"),
    path("new/", views.new_policy, name="policy-new"),
    path("create/", views.create_policy, name="policy-create"),
    path("channel-fields/", views.channel_fields, name="channel-fields"),
    path("<uuid:policy_id>/", views.policy_detail, name="policy"),
    path("<uuid:policy_id>/update/", views.update_policy, name="policy-update"),
    path("<uuid:policy_id>/pause/", views.pause_policy, name="policy-pause"),
    path("<uuid:policy_id>/resume/", views.resume_policy, name="policy-resume"),
    path("<uuid:policy_id>/delete/", views.delete_policy, name="policy-delete"),
    path("<uuid:policy_id>/test/", views.send_test_message, name="policy-test"),
    path("<uuid:policy_id>/test/<uuid:delivery_id>/", views.test_message_result, name="policy-test-result"),
    path("<uuid:policy_id>/deliveries/", views.policy_deliveries, name="policy-deliveries"),
]
