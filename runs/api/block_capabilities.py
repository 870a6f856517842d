from ninja import Router

from runs.domain import blocks as domain

router = Router(tags=["Block capabilities"])


@router.get("/block_capabilities/", response=list[str])
def read_block_capabilities(request):
    return domain.read_block_capabilities()
