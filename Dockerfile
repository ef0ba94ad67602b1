# Kalido Audience: the collector and the dashboards (`audience serve`) in a slim, non-root image.
#
#   docker build -t kalido-audience:0.1.0 .
#   docker run -p 127.0.0.1:8000:8000 -v audience-data:/data kalido-audience:0.1.0
#
# Alone it runs on the embedded ClickHouse in /data; docker-compose.yml runs it against a
# ClickHouse server, docker-compose.cluster.yml against a cluster (docs/deployment.md).
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

# 1. The project's wheel, checked to carry every data file the app serves (the snippet's
#    sources, templates, static files, SQL): a file missing here would only fail at run time.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector collector
COPY dashboards dashboards
COPY schema schema
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -c "import pathlib, sys, zipfile; \
wheel = next(pathlib.Path('/wheels').glob('kalido_audience-*.whl')); \
packed = set(zipfile.ZipFile(wheel).namelist()); \
data = {str(p) for d in ('collector', 'dashboards', 'schema') for p in pathlib.Path(d).rglob('*') \
        if p.is_file() and p.suffix not in ('.py', '.pyc')}; \
missing = sorted(data - packed); \
sys.exit('not in the wheel: ' + ' '.join(missing) if missing else 0)"

# 2. The wheel and its dependencies (binary wheels: no compiler needed) on a slim Python, with
#    the user the product runs as and its data directory (/data/geoip exists so that a volume
#    mounted there starts out owned by that user).
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AUDIENCE_DATA_DIR=/data
RUN groupadd --system --gid 10001 audience \
 && useradd --system --uid 10001 --gid audience --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin audience \
 && mkdir -p /data/geoip \
 && chown -R audience:audience /data \
 && chmod 0700 /data
COPY --from=builder /wheels/ /tmp/wheels/
RUN pip install /tmp/wheels/kalido_audience-*.whl && rm -rf /tmp/wheels

# 3. The server tests, run against a ClickHouse server by `docker compose --profile test run
#    --rm test` (docker-compose.yml); not part of the default image.
FROM base AS test
COPY --from=builder /wheels/ /tmp/wheels/
RUN pip install "$(echo /tmp/wheels/kalido_audience-*.whl)[test]" && rm -rf /tmp/wheels
WORKDIR /app
COPY pyproject.toml ./
COPY tests tests
USER audience
CMD ["pytest", "-p", "no:cacheprovider", "tests/test_clickhouse_server.py"]

# 4. The runtime (the default target). The snippet is built once here from the installed
#    package, so an image whose snippet cannot be built is never made.
FROM base AS runtime
RUN python -c "from collector.snippet import ADAPTERS, asset; [asset(a) for a in (None, *ADAPTERS)]"
USER audience
WORKDIR /data
# The spool, the secret key file (when AUDIENCE_SECRET_KEY is unset), the embedded ClickHouse
# (when AUDIENCE_CLICKHOUSE_URL is unset) and the GeoIP databases of `audience geoip update`.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["audience", "serve", "--host", "0.0.0.0", "--port", "8000"]
