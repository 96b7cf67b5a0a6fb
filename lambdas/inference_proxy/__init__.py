"""``POST /predict``: validates a request with the shared schema, then calls the endpoint."""
