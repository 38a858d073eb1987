"""Isnad: cited bilingual question answering over news articles."""
