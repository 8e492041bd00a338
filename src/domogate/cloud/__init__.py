"""The cloud (``domogate cloud serve``): one TLS port that is both the relay and the
cloud's API (``docs/cloud.md``).

The relay's data plane:

- ``pools``: :class:`PoolRegistry`, the linked installations and their idle pool
  connections;
- ``splice``: :func:`pump`, copying bytes both ways between a client and a pool
  connection (``os.splice`` through a pipe, a plain copy otherwise);
- ``relay``: :class:`RelayAcceptor`, the accept loop that sorts connections by their first
  bytes (pool line, ClientHello of ``<label>.<zone>``, anything else for the cloud API).
"""
