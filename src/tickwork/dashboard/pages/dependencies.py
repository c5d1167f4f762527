"""The dependency graph (``/dependencies``): every ``after`` and ``requires`` among the live
jobs, drawn as server-rendered SVG (``dashboard/graph.py``) and listed as a table."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.graph import dependency_svg
from tickwork.dashboard.web import LookerDep, render

router = APIRouter(include_in_schema=False)


@router.get("/dependencies", response_class=HTMLResponse)
async def dependencies_page(request: Request, who: LookerDep) -> HTMLResponse:
    view = await get_context(request).service.dependencies()
    return render(request, "dependencies.html", {"view": view, "graph": dependency_svg(view)})
