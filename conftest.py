import os
import tempfile

# Settings are read at import time: give the test session its own PREFECT_HOME so no developer
# profile or database is touched. The database comes from PREFECT_API_DATABASE_CONNECTION_URL
# (SQLite in memory when unset, PostgreSQL when .ci/run sets it).
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="orchestrator-test-home-"))
