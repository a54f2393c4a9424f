"""The evolink-mock testing kit: pytest plugin, respx router, conformance and drift checks."""

#: Where the real API lives; the in-process fixture intercepts requests to it.
DEFAULT_BASE_URL = "https://api.evolink.ai"
