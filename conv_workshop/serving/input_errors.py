"""The refusals of one request, each with its HTTP status; the message says what is wrong and what to send instead."""

from __future__ import annotations


class InputError(ValueError):
    """The input is not an image or array this model can take; the message says why and what to send instead."""

    http_status = 400


class InputTooLargeError(InputError):
    """The input is over a stated limit of size or decoding cost, which the message names."""

    http_status = 413


class UnsupportedFormatError(InputError):
    """The data is not in one of the accepted image formats."""

    http_status = 415


class ServiceBusyError(InputError):
    """Not the input's fault: the service already holds as much work as it admits; retry in a second."""

    http_status = 429
