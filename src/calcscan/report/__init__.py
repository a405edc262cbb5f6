"""Reports: HTML and figures (Jinja2 templates + matplotlib)."""
