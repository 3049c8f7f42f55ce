"""seed-rag: offline retrieval-augmented question answering over a folder of documents.

Importing this package loads no model and opens no index.

Module map, lowest layer first; a module imports only from the layers above it in this list
(tests/test_layers.py walks the import graph and fails on a cycle):

- plain data and words: `errors.py`, `text.py` (the one tokeniser and stopword list),
  `types.py` (StoredPassage, Hit, IndexReport, ...), `jsonl.py`, `metrics.py`, `inputs.py` (a
  question and k as any front end receives them: text, a whole number in range);
- configuration and models: `config.py` (the one Config), `models.py` (each model loaded once
  per process: encoders, the reader, spaCy), `nlp.py` (spaCy for the span rules);
- documents to passages: `documents.py` (load, decode, title), `formats.py` (PDF and .docx
  text), `passages.py` (split, offsets),
  `corpus.py` (packed evaluation corpora);
- the store: `lexical.py` (FTS5 BM25 within a postings budget), `migrations.py` (numbered
  schema changes), `store.py` (SQLite, the source of truth), with the FAISS side in embeddings/
  (`manifest.py`, `index.py`, `ann.py`, `encoder.py`, `pooling.py`, `registry.py`);
- indexing: `crashpoints.py` (the crash tests' kill points), `generations.py` (FAISS files:
  delta, merge or rebuild; publish; stale-file removal), `indexer.py` (seeds -> passages ->
  vectors -> a published generation), `ray_encode.py` (`rag index --ray`: the encode phase as
  a Ray Data job; Ray is imported only then), `uploads.py`, `watch.py`, `status.py`;
- answering, as stages run by `pipeline.py` (Query, Stage, the timing runner):
  `question.py` (what a question asks), `sentences.py` (sentence overlap), `retrieve.py`
  (embed, dense, lexical, fusion, fetch, rescore, rerank), `answer.py` (Answer, Citation, the
  span rules' `extract` stage), `reader.py` (the trained reader's `read` stage),
  `confidence.py` (signals, abstention), `qa.py` (a mode's stages, end to end),
  `followup.py` (pronouns in follow-up questions);
- evaluation and the command line: `evaluate.py`, `report.py`, `cli.py`.
"""
__version__ = "0.1.0"
