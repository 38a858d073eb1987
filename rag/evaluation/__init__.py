"""Evaluations users can run on their own question sets (retrieval now; answers and briefings later)."""
