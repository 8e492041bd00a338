"""The home server's certificate for its cloud name, by ACME with the TLS-ALPN-01
challenge answered through the relay (``docs/cloud-acme.md``): ``keeper.py`` (the
services' certificate keeper and the relayed connections' choice of certificate),
``issuer.py`` (the ACME exchange, ``acme`` package), ``store.py`` (``DATA/acme/``)."""

from domogate.cloud.acme.keeper import AcmeKeeper

__all__ = ["AcmeKeeper"]
