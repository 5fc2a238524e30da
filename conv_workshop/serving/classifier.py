"""What /predict does with a body once it is read: parse it, preprocess it, run the model; in a worker thread.

One Classifier per app holds the ONNX Runtime session (whose run() is thread-safe), the limits and the decode
budget its threads share.
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import ValidationError

from ..constants import IMAGE_SIZE
from ..settings import ServiceSettings
from .errors import describe_errors
from .inference import predict_probabilities, top_classes
from .input_errors import InputError, InputTooLargeError
from .multipart import file_field
from .preprocess import DecodeBudget, image_to_array, load_image, validate_array
from .schemas import PIXELS_SHAPE, ClassScore, PixelsRequest, Prediction

INVERSION = {None: "inverted if the background is light", True: "inverted (forced)", False: "not inverted (forced)"}


class Classifier:
    def __init__(self, session, settings: ServiceSettings):
        self.session, self.settings = session, settings
        self.budget = DecodeBudget(settings.decode_budget_bytes, settings.max_decode_waiting,
                                   settings.max_heavy_decodes)

    def top_k(self, top_k: int | None) -> int:
        """How many classes to return: the one place its range and default (the settings') are applied."""
        if top_k is not None and not 1 <= top_k <= self.settings.max_top_k:
            raise InputError(f"top_k is {top_k}: send a whole number from 1 to {self.settings.max_top_k}")
        return top_k or self.settings.default_top_k

    def classify(self, array: np.ndarray, top_k: int | None, note: str) -> Prediction:
        probabilities = predict_probabilities(self.session, array.reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE))[0]
        return Prediction(top=[ClassScore(**score) for score in top_classes(probabilities, self.top_k(top_k))],
                          preprocessing=note)

    def pixels(self, body: bytes, top_k: int | None) -> Prediction:
        """A JSON body {"pixels": ..., "top_k": ...}; top_k may come from the query instead, not from both."""
        limit = self.settings.max_json_bytes
        if len(body) > limit:
            raise InputTooLargeError(f"JSON body of {len(body):,} bytes is over the {limit:,}-byte limit; a "
                                     f"{IMAGE_SIZE}×{IMAGE_SIZE} array needs about 20 KB: send {PIXELS_SHAPE}")
        try:  # pydantic's JSON parser has its own nesting limit: no depth can raise past this handler
            payload = PixelsRequest.model_validate_json(body)
        except ValidationError as error:
            raise InputError(describe_errors(error.errors(include_url=False))) from None
        if top_k is not None and payload.top_k is not None and top_k != payload.top_k:
            raise InputError(f"top_k is given twice, {top_k} in the query and {payload.top_k} in the body: "
                             "send it once")
        return self.classify(validate_array(payload.pixels), payload.top_k if top_k is None else top_k,
                             "pixels used as sent")

    def image(self, data: bytes, top_k: int | None, invert: bool | None) -> Prediction:
        """An encoded image, checked, decoded within the budget and its deadline, shrunk and classified."""
        image = load_image(data, self.settings)
        size, image_format = image.size, image.format
        array = image_to_array(image, invert, self.budget, self.settings)
        return self.classify(array, top_k, f"{image_format} {size[0]}×{size[1]}: grey, upright (EXIF), shrunk to fit "
                                           f"28×28, {INVERSION[invert]}, padded with the background colour")

    def upload(self, body: bytes, content_type: str, top_k: int | None, invert: bool | None) -> Prediction:
        """The multipart field `file`, parsed here (in the worker thread) and classified as an image."""
        deadline = time.monotonic() + self.settings.decode_timeout_s
        return self.image(file_field(body, content_type, self.settings, deadline), top_k, invert)
