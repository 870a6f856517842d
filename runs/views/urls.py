from django.urls import path

from . import actions, flow_runs, flows, home

app_name = "dashboard"

urlpatterns = [
    path("", home.home, name="home"),
    path("runs/", flow_runs.flow_run_list, name="flow-runs"),
    path("runs/<uuid:flow_run_id>/", flow_runs.flow_run_detail, name="flow-run"),
    path("runs/<uuid:flow_run_id>/logs/", flow_runs.flow_run_logs, name="flow-run-logs"),
    path("runs/<uuid:flow_run_id>/cancel/", actions.cancel_flow_run, name="flow-run-cancel"),
    path("runs/<uuid:flow_run_id>/retry/", actions.retry_flow_run, name="flow-run-retry"),
    path("runs/<uuid:flow_run_id>/delete/", actions.delete_flow_run, name="flow-run-delete"),
    path("flows/", flows.flow_list, name="flows"),
    path("flows/<uuid:flow_id>/", flows.flow_detail, name="flow"),
]
