"""The HTML report of a run: the page and its figures."""
