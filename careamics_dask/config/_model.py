"""The base of every config model: clear errors, rejected assignments rolled back."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["ConfigModel", "without_cascade"]

logger = logging.getLogger(__name__)


_CASCADE = "default_factory_not_called"
"""Pydantic's follow-up error for defaults that depend on a field that failed."""


def without_cascade(error: ValidationError) -> ValidationError:
    """Return ``error`` without pydantic's follow-up errors, one per real problem.

    A default factory that reads other fields is not called once any field fails,
    and pydantic reports each such default as an error of its own
    (``default_factory_not_called``). They are consequences, not problems: only the
    errors that name a wrong or missing value are kept.

    Parameters
    ----------
    error : pydantic.ValidationError
        The error pydantic raised.

    Returns
    -------
    pydantic.ValidationError
        ``error`` itself when it holds no follow-up errors (or only those), else
        a new error of the same title holding the real problems.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> try:
    ...     DataConfig(mode="training", data_type="zarr", axes="SCYQ",
    ...                patching={"name": "random", "patch_size": [8, 8]},
    ...                normalization={"name": "none"})
    ... except ValueError as exc:
    ...     print(exc.error_count())
    1
    """
    errors = error.errors(include_url=False)
    real = [e for e in errors if e["type"] != _CASCADE]
    if not real or len(real) == len(errors):
        return error
    details: list[Any] = [
        {key: e[key] for key in ("type", "loc", "input", "ctx") if key in e}
        for e in real
    ]
    try:
        return ValidationError.from_exception_data(error.title, details)
    except (TypeError, ValueError, KeyError):  # a custom error type pydantic lacks
        return error


class ConfigModel(BaseModel):
    """A pydantic model with one error per real problem and rolled-back assignments.

    With ``validate_assignment=True`` pydantic stores the new value before it runs
    the model validators, so a value they reject stays in the model. This base
    restores the previous state before the error propagates. Construction reports
    only the real problems (:func:`without_cascade`).
    """

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise without_cascade(exc) from None

    # Validation inside pydantic (nested models, copies of instances) stays
    # pydantic's own: marked as the base ``__init__``, this one only wraps calls
    # such as ``DataConfig(...)``.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        state = dict(self.__dict__)
        fields_set = set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except ValidationError:
            object.__setattr__(self, "__dict__", state)
            object.__setattr__(self, "__pydantic_fields_set__", fields_set)
            raise
