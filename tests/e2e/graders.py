"""Re-export of :mod:`qmdr.testing.graders` (moved into the package for ``qmdr bench``)."""

from qmdr.testing.graders import PASSAGE, STOPWORDS, WORD, content_words, grading_chat, overlap_grade  # noqa: F401
