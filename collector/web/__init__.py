"""HTTP pieces every wing serves with: ASGI helpers, request facts behind trusted proxies, the
visitor cookie, security headers, the forwarder to the store owner."""
