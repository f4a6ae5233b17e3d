"""The /v2 OCI distribution API: the router (``routes``), one module per resource, the one error table
(``errors``), who may do what under /v2 (``access``) and the Docker token endpoint ``/v2/token``
(``token_endpoint``). It reads credentials with ``cargohold.api.auth``; that package never imports this
one."""
