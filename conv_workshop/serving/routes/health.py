"""GET /health (the service is up, and which model it serves) and GET /classes (the labels it answers with).

Both are `async def`: they answer on the event loop itself, never waiting for a thread while images are decoded.
"""

from __future__ import annotations

from fastapi import APIRouter

from ...constants import CLASS_NAMES
from ..dependencies import SettingsDep

router = APIRouter()


@router.get("/health")
async def health(settings: SettingsDep) -> dict:
    return {"status": "ok", "model": settings.model_path.name}


@router.get("/classes")
async def classes() -> dict:
    return {"classes": [{"label": i, "name": name} for i, name in enumerate(CLASS_NAMES)]}
