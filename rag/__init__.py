"""seed-rag: offline retrieval-augmented question answering over a folder of documents.

Importing this package loads no model and opens no index.
"""
__version__ = "0.1.0"
