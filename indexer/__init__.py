"""jobo-indexer: keep an OpenSearch index of Jobo job postings exact and fresh."""

__version__ = "0.1.0"
