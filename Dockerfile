# MobileNetV2 (ONNX) as a ModelHub model server.
#   docker build -t modelhub/mobilenetv2:1.0.0 .
#   docker run --rm -p 8080:80 modelhub/mobilenetv2:1.0.0
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MODELHUB_ROOT=/srv/modelhub \
    MODELHUB_HOST=0.0.0.0 \
    MODELHUB_PORT=80

# The unprivileged user that runs the server (uid/gid 10001, no login, no home).
RUN groupadd --system --gid 10001 modelhub \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin modelhub

WORKDIR /srv/modelhub

# The engine and its pinned dependencies first: this layer stays cached while the model package changes.
COPY framework/requirements.txt ./framework/requirements.txt
RUN pip install --no-cache-dir -r framework/requirements.txt
COPY setup.py ./
COPY framework ./framework
RUN pip install --no-cache-dir --no-deps .

# The contributor package and the list of model files; then the model files themselves, each
# checked against the sha256 (and size) in init/init.json: a mismatch fails the build.
COPY init ./init
COPY contrib_src ./contrib_src
# Then the golden outputs of the downloaded file, made by the independent reference implementation
# (contrib_src/golden/reference.py) and checked against the served pipeline: drift fails the build.
RUN modelhub fetch && modelhub verify --record

# Code and model files stay owned by root and read-only to the server's user.
# (Docker >= 20.10 lets unprivileged processes bind ports below 1024 inside a container.)
USER 10001:10001

EXPOSE 80

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:80/v2/health/ready', timeout=4)"]

CMD ["modelhub", "serve", "--host", "0.0.0.0", "--port", "80"]
