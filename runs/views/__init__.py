"""The HTMX dashboard: thin views over runs.domain.dashboard, one module per page."""
