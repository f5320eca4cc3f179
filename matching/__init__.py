"""Recognising customers: name normalisation, the fuzzy index, the cached masterdata snapshot."""
