"""Train on a Dask cluster run by the dask-kubernetes operator.

Cannot run on a machine without Kubernetes. With the operator installed and
``cluster/kubernetes/daskcluster.yaml`` applied, either connect to that cluster by
name (``--name careamics``), or let ``KubeCluster`` create one from the same manifest
(``--create``). Needs ``pip install dask-kubernetes`` and a kube config; the client
must reach the scheduler's Service (run it in a pod, or ``kubectl port-forward``
and pass ``--scheduler tcp://127.0.0.1:8786`` to ``train_stream.py`` instead)::

    python cluster/examples/kubernetes.py --name careamics
    python cluster/examples/kubernetes.py --create --workers 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from dask_kubernetes.operator import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
    KubeCluster,
)
from distributed import Client
from train_stream import train

MANIFEST = Path(__file__).resolve().parents[1] / "kubernetes" / "daskcluster.yaml"


def main() -> None:
    """Connect to (or create) a DaskCluster and train."""
    parser = argparse.ArgumentParser(description="Train on a Kubernetes DaskCluster.")
    parser.add_argument("--name", default="careamics", help="the DaskCluster's name")
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--create", action="store_true", help="create it from yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", help="a Zarr store (SCYX) the workers can read")
    args = parser.parse_args()
    if args.create:
        spec = yaml.safe_load(MANIFEST.read_text())
        spec["metadata"]["name"] = args.name
        cluster = KubeCluster(custom_cluster_spec=spec, namespace=args.namespace)
    else:
        cluster = KubeCluster.from_name(args.name, namespace=args.namespace)
    try:
        cluster.scale(args.workers)
        with Client(cluster) as client:
            client.wait_for_workers(args.workers, timeout=300)
            train(client, source=args.source)
    finally:
        if args.create:
            cluster.close()  # deletes the DaskCluster resource it created


if __name__ == "__main__":
    main()
