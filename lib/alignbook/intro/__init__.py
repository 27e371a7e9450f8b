"""The introduction chapter: the book machine's own demonstration (:mod:`.machine`)."""
