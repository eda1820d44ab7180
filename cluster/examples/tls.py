r"""Train over TLS: every scheduler, worker and client connection encrypted.

Runs anywhere with ``cryptography`` installed: an embedded cluster on loopback with
a temporary self-signed certificate::

    python cluster/examples/tls.py

For a cluster spanning machines, make a CA and certificates, start the processes
with them, and pass the same files to the client::

    dask scheduler --protocol tls --tls-ca-file ca.pem --tls-cert node.pem \
        --tls-key node.key
    dask worker tls://SCHEDULER:8786 --tls-ca-file ca.pem --tls-cert node.pem \
        --tls-key node.key
    python cluster/examples/tls.py --scheduler tls://SCHEDULER:8786 \
        --ca ca.pem --cert client.pem --key client.key
"""

from __future__ import annotations

import argparse

from distributed.security import Security
from train_stream import train

from careamics_dask import get_client


def make_security(ca: str | None, cert: str | None, key: str | None) -> Security:
    """Return TLS settings from files, or a temporary certificate when none given.

    Parameters
    ----------
    ca : str, optional
        The certificate authority's certificate (PEM).
    cert : str, optional
        This client's certificate (PEM).
    key : str, optional
        This client's private key (PEM).

    Returns
    -------
    distributed.security.Security
        Settings that require encryption.
    """
    security: Security
    if ca is None:
        security = Security.temporary()
    else:
        security = Security(
            tls_ca_file=ca,
            tls_client_cert=cert,
            tls_client_key=key,
            require_encryption=True,
        )
    return security


def main() -> None:
    """Connect over TLS (or start an embedded TLS cluster) and train."""
    parser = argparse.ArgumentParser(description="Train over TLS.")
    parser.add_argument("--scheduler", help="a tls:// address; none: embedded cluster")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    security = make_security(args.ca, args.cert, args.key)
    client = get_client(args.scheduler, security=security, n_workers=2)
    try:
        print(f"scheduler: {client.scheduler_info()['address']}")  # tls://...
        train(client)
    finally:
        client.close()


if __name__ == "__main__":
    main()
