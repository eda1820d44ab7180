"""S3 stores through obstore (Rust) instead of s3fs, chosen per source.

zarr-python reads an ``s3://`` URL through fsspec and s3fs by default: about 3.7 ms
of client CPU per chunk request on this project's benchmark machine. Through
zarr-python's ``ObjectStore`` over obstore's ``S3Store`` the same request costs
about 1.3 ms (``BENCHMARKS.md``, "Object stores and sharding"), CPU that the
training process keeps. A source asks for it with ``storage_options={"zarr_store":
"obstore", ...}``; the other options keep s3fs's names (``key``, ``secret``,
``token``, ``anon``, ``client_kwargs={"endpoint_url", "region_name"}``,
``config_kwargs={"retries", "read_timeout", "connect_timeout"}``) and are
translated, so a source switches by adding one key. Options with no obstore
counterpart are refused by name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from careamics_dask.errors import MissingDependencyError

__all__ = ["STORE_OPTION", "obstore_s3", "wants_obstore"]

STORE_OPTION = "zarr_store"
"""The ``storage_options`` key that picks the store: ``"fsspec"`` (default) or
``"obstore"``."""

_TOP = {"key", "secret", "token", "anon", "client_kwargs", "config_kwargs"}
_CLIENT = {"endpoint_url", "region_name"}
_CONFIG = {"retries", "read_timeout", "connect_timeout"}


def wants_obstore(options: dict[str, Any] | None, url: str) -> bool:
    """Return whether a source's options ask for obstore (checked for its URL).

    Parameters
    ----------
    options : dict or None
        The source's ``storage_options``.
    url : str
        The store's URL.

    Returns
    -------
    bool
        True for ``zarr_store="obstore"``.

    Raises
    ------
    ValueError
        When ``zarr_store`` is neither ``"fsspec"`` nor ``"obstore"``, or obstore
        is asked for a URL other than ``s3://``.

    Examples
    --------
    >>> wants_obstore({"zarr_store": "obstore"}, "s3://bucket/x.zarr")
    True
    >>> wants_obstore(None, "s3://bucket/x.zarr")
    False
    """
    choice = (options or {}).get(STORE_OPTION, "fsspec")
    if choice not in ("fsspec", "obstore"):
        raise ValueError(
            f"storage_options[{STORE_OPTION!r}] of {url!r} must be 'fsspec' or "
            f"'obstore', got {choice!r}."
        )
    if choice == "obstore" and urlparse(url).scheme != "s3":
        raise ValueError(
            f"storage_options[{STORE_OPTION!r}]='obstore' is supported for s3:// "
            f"URLs, got {url!r}: remove it to read through fsspec."
        )
    return bool(choice == "obstore")


def obstore_s3(url: str, options: dict[str, Any]) -> Any:
    """Open an ``s3://`` store read-only through obstore, from s3fs-style options.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix``.
    options : dict
        The source's ``storage_options`` (``zarr_store`` included).

    Returns
    -------
    zarr.storage.ObjectStore
        The read-only store.

    Raises
    ------
    MissingDependencyError
        When obstore is not installed.
    ValueError
        When an option has no obstore counterpart.
    """
    try:
        from obstore.store import S3Store
        from zarr.storage import ObjectStore
    except ImportError as exc:
        raise MissingDependencyError(
            f"storage_options[{STORE_OPTION!r}]='obstore' for {url!r} needs obstore, "
            f"which cannot be imported ({exc}): pip install 'careamics-dask[remote]'"
            f", or drop {STORE_OPTION!r} to read through s3fs.",
            extra="remote",
        ) from exc
    config, client, retry = _translate(url, options)
    parsed = urlparse(url)
    settings: dict[str, Any] = {
        "prefix": parsed.path.strip("/") or None,
        "config": config,
        "client_options": client,
        "retry_config": retry,
    }
    store = S3Store(parsed.netloc, **settings)
    return ObjectStore(store, read_only=True)


def _translate(
    url: str, options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Return obstore's ``config``, ``client_options`` and ``retry_config``."""
    client_kwargs = dict(options.get("client_kwargs") or {})
    config_kwargs = dict(options.get("config_kwargs") or {})
    unknown = sorted(set(options) - _TOP - {STORE_OPTION})
    unknown += [f"client_kwargs.{k}" for k in sorted(set(client_kwargs) - _CLIENT)]
    unknown += [f"config_kwargs.{k}" for k in sorted(set(config_kwargs) - _CONFIG)]
    if unknown:
        raise ValueError(
            f"storage_options of {url!r} with {STORE_OPTION}='obstore' accept "
            f"key, secret, token, anon, client_kwargs {sorted(_CLIENT)} and "
            f"config_kwargs {sorted(_CONFIG)}; got also {unknown}. Drop "
            f"{STORE_OPTION!r} to read through s3fs, which takes them."
        )
    config: dict[str, Any] = {}
    names = {"key": "access_key_id", "secret": "secret_access_key"}
    names["token"] = "session_token"
    for ours, theirs in names.items():
        if options.get(ours) is not None:
            config[theirs] = options[ours]
    if options.get("anon"):
        config["skip_signature"] = True
    client: dict[str, Any] = {}
    endpoint = client_kwargs.get("endpoint_url")
    if endpoint:
        config["endpoint"] = endpoint
        client["allow_http"] = str(endpoint).startswith("http://")
    if client_kwargs.get("region_name"):
        config["region"] = client_kwargs["region_name"]
    for key in ("read_timeout", "connect_timeout"):
        if key in config_kwargs:
            client["timeout" if key == "read_timeout" else key] = (
                f"{float(config_kwargs[key])}s"
            )
    retry = None
    retries = config_kwargs.get("retries")
    if retries is not None:
        attempts = retries.get("total_max_attempts", retries.get("max_attempts"))
        if attempts is not None:
            retry = {"max_retries": max(0, int(attempts) - 1)}
    return config, client, retry
