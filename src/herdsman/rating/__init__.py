"""Human rating of model answers: the web app and its SQLite database."""
