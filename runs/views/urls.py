from django.urls import path

from . import actions, flow_runs, flows, home
from . import artifacts as artifact_views
from . import blocks as block_views
from . import variables as variable_views
from . import concurrency as concurrency_views
from . import work_pools as work_pool_views
from . import deployments as deployment_views
from . import events as event_views

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
    path("concurrency/", concurrency_views.concurrency_limits, name="concurrency"),
    path("concurrency/<uuid:limit_id>/reset/", concurrency_views.reset_concurrency_limit, name="concurrency-reset"),
    # Pool pages sit where the prefect client's links point (/work-pools/work-pool/NAME).
    path("work-pools/", work_pool_views.work_pool_list, name="work-pools"),
    path("work-pools/work-pool/<str:name>", work_pool_views.work_pool_detail, name="work-pool"),
    path("work-pools/work-pool/<str:name>/pause", work_pool_views.pause_work_pool, name="work-pool-pause"),
    path("work-pools/work-pool/<str:name>/resume", work_pool_views.resume_work_pool, name="work-pool-resume"),
    path("blocks/", block_views.block_list, name="blocks"),
    path("blocks/new/<str:slug>/", block_views.create_block, name="block-create"),
    path("blocks/<uuid:block_document_id>/", block_views.block_detail, name="block"),
    path("blocks/<uuid:block_document_id>/delete/", block_views.delete_block, name="block-delete"),
    path("variables/", variable_views.variable_list, name="variables"),
    path("variables/create/", variable_views.create_variable, name="variable-create"),
    path("variables/<uuid:variable_id>/", variable_views.variable_row, name="variable"),
    path("variables/<uuid:variable_id>/update/", variable_views.update_variable, name="variable-update"),
    path("variables/<uuid:variable_id>/delete/", variable_views.delete_variable, name="variable-delete"),
    # Deployment pages sit where the prefect client's links point (/deployments/deployment/ID).
    path("deployments/", deployment_views.deployment_list, name="deployments"),
    path("deployments/deployment/<uuid:deployment_id>", deployment_views.deployment_detail, name="deployment"),
    path("deployments/deployment/<uuid:deployment_id>/pause", deployment_views.pause_deployment, name="deployment-pause"),
    path("deployments/deployment/<uuid:deployment_id>/resume", deployment_views.resume_deployment, name="deployment-resume"),
    path("deployments/deployment/<uuid:deployment_id>/run", deployment_views.run_deployment, name="deployment-run"),
    path("runs/<uuid:flow_run_id>/resume/", deployment_views.resume_flow_run, name="flow-run-resume"),
    path("artifacts/", artifact_views.artifact_list, name="artifacts"),
    path("artifacts/key/<str:key>/", artifact_views.artifact_key, name="artifact-key"),
    path("artifacts/<uuid:artifact_id>/", artifact_views.artifact_detail, name="artifact"),
    path("events/", event_views.event_list, name="events"),
    path("events/<uuid:event_id>/", event_views.event_detail, name="event"),
]
