# jobo-indexer: the indexer and the feed simulator in one image (used by docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY mappings ./mappings
COPY dashboards ./dashboards
# The image runs as `app`, so everything it writes lives in directories `app` owns: its home and
# the work directory where `resync` spills the feed's ids. A named volume mounted on /work starts
# as a copy of this directory, owner included (a mount point the image lacks would be root's).
RUN pip install --no-cache-dir . \
    && useradd --system --create-home --uid 10001 app \
    && install -d -o app -g app -m 0750 /work
ENV JOBO_INDEXER_WORK_DIR=/work
USER app
ENTRYPOINT ["jobo-indexer"]
CMD ["--help"]
