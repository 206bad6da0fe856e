# jobo-indexer: the indexer and the feed simulator in one image (used by docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY mappings ./mappings
COPY dashboards ./dashboards
RUN pip install --no-cache-dir . && useradd --system --create-home app
USER app
ENTRYPOINT ["jobo-indexer"]
CMD ["--help"]
