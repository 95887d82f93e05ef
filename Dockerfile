# One image for the API and the worker; docker-compose.yml picks the command
# (`taskq api ...` or `taskq worker`). Built from this checkout: docker-compose build.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY system ./system
COPY lab ./lab
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskq

# Nothing in the image needs root at run time.
USER taskq
EXPOSE 8000 9100

# The API answers /healthz; a worker answers on its /metrics port (it sets
# TASKQ_HEALTH_URL). Both mean "the process serves", not "Redis is reachable".
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('TASKQ_HEALTH_URL', 'http://127.0.0.1:8000/healthz'), timeout=2)"]

CMD ["taskq", "api", "--host", "0.0.0.0", "--port", "8000"]
