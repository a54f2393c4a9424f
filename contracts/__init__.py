"""The evolink-mock testing kit: pytest plugin, respx router, conformance and drift checks."""
