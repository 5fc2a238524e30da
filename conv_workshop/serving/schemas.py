"""The service's request and response bodies (pydantic), as the OpenAPI documentation at /docs shows them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from ..constants import IMAGE_SIZE
from ..settings import ServiceSettings

DEFAULTS = ServiceSettings()
PIXELS_SHAPE = f'{{"pixels": [[{IMAGE_SIZE} numbers in [0, 1]], … {IMAGE_SIZE} rows]}}'


class PixelsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pixels: list[list[StrictFloat]] = Field(description=f"{IMAGE_SIZE}×{IMAGE_SIZE} rows of numbers in [0, 1], "
                                                        "light garment on black")
    top_k: int | None = Field(None, strict=True,  # its range and default: Classifier.top_k, from the settings
                              description="how many classes to return (or ?top_k=, not both)")


class ClassScore(BaseModel):
    label: int
    name: str
    probability: float


class Prediction(BaseModel):
    top: list[ClassScore]
    preprocessing: str


class Error(BaseModel):
    error: str = Field(description="what is wrong and what to send instead")
