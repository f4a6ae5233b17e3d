"""Native TLS for the server: a reloadable server certificate (``context``) and the generated lab
certificate of ``tls: {self_signed: true}`` (``selfsigned``)."""

from cargohold.tls.context import MODERN_CIPHERS, ReloadingTls, load_server_context
from cargohold.tls.selfsigned import SelfSigned, ensure_self_signed

__all__ = ["MODERN_CIPHERS", "ReloadingTls", "SelfSigned", "ensure_self_signed", "load_server_context"]
