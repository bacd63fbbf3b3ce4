"""REST routers: one module per area, each exposing ``router = APIRouter()``.

:func:`citywatch.api.app.create_app` mounts them under ``/api/v1`` (``metrics`` at the root).
Every route declares its permission with ``Depends(requires(Permission.X))``.
"""
