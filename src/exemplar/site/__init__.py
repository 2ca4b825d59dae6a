"""The site: running the notebooks with papermill, the Sphinx extension, the browser check."""
