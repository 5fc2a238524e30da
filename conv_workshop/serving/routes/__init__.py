"""The service's routers, one per file: `health` (GET /health, GET /classes) and `predict` (POST /predict)."""
