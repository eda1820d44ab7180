"""Opt-in logging: the library never adds handlers unless asked to here."""

from __future__ import annotations

import logging

__all__ = ["set_log_level"]

_HANDLER_NAME = "careamics_dask"


def set_log_level(level: int | str = "INFO") -> None:
    """Attach one stream handler to the ``careamics_dask`` logger and set its level.

    Calling it again changes the level without adding a second handler.

    Parameters
    ----------
    level : int or str, default "INFO"
        A logging level, e.g. ``"DEBUG"`` or ``logging.WARNING``.

    Examples
    --------
    >>> set_log_level("WARNING")
    >>> logging.getLogger("careamics_dask").level == logging.WARNING
    True
    """
    logger = logging.getLogger("careamics_dask")
    if not any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(handler)
    logger.setLevel(level)
