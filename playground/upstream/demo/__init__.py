"""The demo upstream: a stand-in of the AI/ML API video endpoints, and the renderer behind it."""
