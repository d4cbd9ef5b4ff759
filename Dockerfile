# MobileNetV2 (ONNX) as a ModelHub model server.
#   docker build -t modelhub/mobilenetv2:1.0.0 .
#   docker run --rm -p 8080:80 modelhub/mobilenetv2:1.0.0
# Build arguments (README "Docker"): MODEL_SOURCE (published | a mirror's base URL | context),
# VERSION, SOURCE_URL and MODEL_FILE / MODEL_SHA256 (labels only).  Needs BuildKit (RUN --mount).
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
# Port 80 as uid 10001 on any runtime (podman, `--network host`, hosts where unprivileged ports start at
# 1024): the `modelhub` command runs on its own copy of the interpreter that holds the file capability
# cap_net_bind_service (the xattr `setcap cap_net_bind_service=+ep` writes: revision 2, effective, bit 10).
# Nothing else gets it; `python` itself (and so the HEALTHCHECK) stays without.
RUN pip install --no-cache-dir --no-deps . \
    && cp "$(python -c 'import os, sys; print(os.path.realpath(sys.executable))')" /usr/local/bin/modelhub-python \
    && python -c "import os, struct; os.setxattr('/usr/local/bin/modelhub-python', 'security.capability', \
        struct.pack('<5I', 0x02000001, 1 << 10, 0, 0, 0))" \
    && sed -i '1s|^#!.*python.*$|#!/usr/local/bin/modelhub-python|' /usr/local/bin/modelhub \
    && grep -qxF '#!/usr/local/bin/modelhub-python' /usr/local/bin/modelhub

# The contributor package and the list of model files; then the model files themselves, each checked
# against the sha256 (and size) in init/init.json (or init/override.json, when the build context has
# one): a mismatch fails the build.  MODEL_SOURCE: "published" (the URLs in init/init.json), a mirror's
# base URL (each file fetched as <base>/<file name>), or "context" (the files in the context's models/).
COPY init ./init
COPY contrib_src ./contrib_src
# Then the golden outputs of the downloaded file, made by the independent reference implementation
# (contrib_src/golden/reference.py) and checked against the served pipeline: drift fails the build.
ARG MODEL_SOURCE=published
RUN --mount=type=bind,source=models,target=/tmp/context-models \
    case "$MODEL_SOURCE" in \
        published) modelhub fetch ;; \
        context) modelhub fetch --mirror /tmp/context-models ;; \
        *) modelhub fetch --mirror "$MODEL_SOURCE" ;; \
    esac \
    && modelhub verify --record

# Code and model files stay owned by root and read-only to the server's user.
USER 10001:10001

EXPOSE 80

# Probes MODELHUB_HOST:MODELHUB_PORT (loopback for 0.0.0.0), so `-e MODELHUB_PORT=8080` is followed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "modelhubserve.healthcheck"]

# No --host/--port flags: they would override MODELHUB_HOST/MODELHUB_PORT (`docker run -e`).
CMD ["modelhub", "serve"]

# Labels last: changing them rebuilds nothing.  MODEL_FILE/MODEL_SHA256 describe the default variant
# (tests/test_dockerfile.py keeps them equal to init/init.json; a build with init/override.json passes its own).
ARG VERSION=1.0.0
ARG SOURCE_URL=""
ARG MODEL_FILE=mobilenetv2-7.onnx
ARG MODEL_SHA256=c1c513582d56afceff8516c73804e484c81c6a830712ab6d682253f4a3cd042f
LABEL org.opencontainers.image.title="modelhub/mobilenetv2" \
      org.opencontainers.image.description="MobileNetV2 (ImageNet, ONNX) served behind the ModelHub REST API and the Open Inference Protocol" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT AND Apache-2.0" \
      ai.modelhub.model.file="${MODEL_FILE}" \
      ai.modelhub.model.sha256="${MODEL_SHA256}"
