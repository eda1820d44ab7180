"""Get a ``distributed.Client``: a given address, the configured one, or a local one."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import dask.config
from distributed import Client, LocalCluster

from careamics_dask.runtime import get_option

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["EmbeddedClient", "current_client", "get_client"]

logger = logging.getLogger(__name__)

_TRIM = "MALLOC_TRIM_THRESHOLD_"
_USER_TRIM = os.environ.get(_TRIM)
"""The user's own glibc trim threshold, before a nanny of this process set one."""


def _trim_environ(threshold: int | None) -> dict[str, Any]:
    """Config that starts the embedded workers with this glibc trim threshold.

    distributed's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536``; a
    fixed threshold also fixes glibc's mmap threshold at 128 KiB, so every decoded
    chunk and every batch buffer is a fresh ``mmap`` whose pages fault in again:
    ~3 ms of CPU per 32-patch batch ("Distributed path (issue 16)" in
    BENCHMARKS.md). ``None`` leaves glibc's adaptive default (or the user's own
    environment variable). A nanny also writes the value into this process's
    environment before it spawns a worker, so an earlier cluster's value is undone.
    """
    if threshold is None:
        if _USER_TRIM is None:
            os.environ.pop(_TRIM, None)
        else:
            os.environ[_TRIM] = _USER_TRIM
        return {f"distributed.nanny.pre-spawn-environ.{_TRIM}": _USER_TRIM}
    return {f"distributed.nanny.pre-spawn-environ.{_TRIM}": int(threshold)}


class EmbeddedClient(Client):
    """A client that owns its local cluster and closes it when it is closed."""

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """Close the client, then the embedded cluster.

        Parameters
        ----------
        *args : Any
            Passed to ``Client.close``.
        **kwargs : Any
            Passed to ``Client.close``.

        Returns
        -------
        Any
            What ``Client.close`` returns.
        """
        result = super().close(*args, **kwargs)  # type: ignore[no-untyped-call]
        cluster = self.cluster
        if isinstance(cluster, LocalCluster) and cluster.status.name != "closed":
            cluster.close()
        return result


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def get_client(
    address: str | Client | None = None,
    *,
    security: Security | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    **cluster_kwargs: Any,
) -> Client:
    """Return a client for the given address, the configured scheduler, or a new one.

    The order is: ``address`` (a scheduler address or a ``Client``, returned as
    is); else ``DASK_SCHEDULER_ADDRESS`` / dask config ``scheduler-address``; else an
    embedded ``LocalCluster`` of worker processes bound to 127.0.0.1 with its
    dashboard on localhost, sized by ``careamics-dask.client.*``.

    Parameters
    ----------
    address : str or distributed.Client, optional
        A scheduler address (``tcp://...``, ``tls://...``) or a client.
    security : distributed.security.Security, optional
        TLS settings, for clusters that span machines.
    n_workers : int, optional
        Workers of an embedded cluster (default: one per core, at most 4).
    threads_per_worker : int, optional
        Threads per worker of an embedded cluster.
    **cluster_kwargs : Any
        Further ``LocalCluster`` arguments.

    Returns
    -------
    distributed.Client
        A connected client; closing it also closes an embedded cluster.

    Examples
    --------
    >>> client = get_client(n_workers=1)  # doctest: +SKIP
    >>> client.dashboard_link  # doctest: +SKIP
    'http://127.0.0.1:8787/status'
    """
    if isinstance(address, Client):
        return address
    configured = address or dask.config.get("scheduler-address", None)
    if configured:
        logger.info("connecting to scheduler %s", configured)
        return Client(configured, security=security)
    workers = n_workers or get_option("client.n-workers") or _default_workers()
    threads = get_option("client.threads-per-worker", threads_per_worker)
    options: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": threads,
        "processes": True,
        "host": get_option("client.host"),
        "dashboard_address": get_option("client.dashboard-address"),
        "memory_limit": get_option("client.memory-limit"),
    }
    if security is not None:
        options["protocol"] = "tls://"
    if security is not None:
        options["security"] = security
    options.update(cluster_kwargs)
    interval = get_option("client.memory-manager-interval")
    key = "distributed.scheduler.active-memory-manager.interval"
    # read once, when the scheduler and the workers start (workers get the config)
    settings = {
        key: interval,
        # distributed's sampling profiler costs each worker ~1 ms of CPU per batch
        # ("Distributed path (issue 16)" in BENCHMARKS.md); on unless asked for
        "distributed.worker.profile.enabled": bool(get_option("client.worker-profile")),
        **_trim_environ(get_option("client.malloc-trim-threshold")),
    }
    with dask.config.set(settings):
        cluster = LocalCluster(**options)
    client = EmbeddedClient(cluster, security=security)  # type: ignore[no-untyped-call]
    logger.info(
        "started a local cluster of %d workers; dashboard %s",
        workers,
        client.dashboard_link,
    )
    return client


def current_client() -> Client | None:
    """Return the client this process made current (``distributed.default_client``).

    Returns
    -------
    distributed.Client or None
        None where no client runs.
    """
    from distributed import default_client

    try:
        client: Client = default_client()
    except ValueError:
        return None
    return client
