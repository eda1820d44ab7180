"""The base of every config model: a rejected assignment leaves the model unchanged."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["ConfigModel"]

logger = logging.getLogger(__name__)


class ConfigModel(BaseModel):
    """A pydantic model whose failed field assignments are rolled back.

    With ``validate_assignment=True`` pydantic stores the new value before it runs
    the model validators, so a value they reject stays in the model. This base
    restores the previous state before the error propagates.
    """

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
