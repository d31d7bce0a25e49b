"""Web pages: Jinja2 templates, local static assets, and the HTML routes."""
