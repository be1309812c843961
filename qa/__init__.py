"""reportqa: ask a report questions, get back the paragraphs that answer them."""

__version__ = "0.1.0"
