"""Automations: only what `flow.serve()`, `prefect deploy` and `prefect deployment inspect` call.

They clear the automations a deployment owns before (re)creating it, and list the ones related to
it. This server has no automations yet: there is never anything to delete or list.
"""

from django.http import HttpResponse
from ninja import Router

router = Router(tags=["Automations"])


@router.delete("/automations/owned-by/{resource_id}")
def delete_automations_owned_by(request, resource_id: str):
    return HttpResponse(status=202)


@router.get("/automations/related-to/{resource_id}", response=list[dict])
def read_automations_related_to(request, resource_id: str):
    """`prefect deployment inspect` lists a deployment's automations: there are none."""
    return []
