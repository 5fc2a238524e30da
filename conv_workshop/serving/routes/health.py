"""GET /health (the service is up, and which model it serves) and GET /classes (the labels it answers with)."""

from __future__ import annotations

from fastapi import APIRouter

from ...constants import CLASS_NAMES
from ..dependencies import SettingsDep

router = APIRouter()


@router.get("/health")
def health(settings: SettingsDep) -> dict:
    return {"status": "ok", "model": settings.model_path.name}


@router.get("/classes")
def classes() -> dict:
    return {"classes": [{"label": i, "name": name} for i, name in enumerate(CLASS_NAMES)]}
