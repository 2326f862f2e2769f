"""The AI/ML API contract: the client (every request to the service), the catalogue of models as data,
the API code shown on a video's page, and the demo stand-in that answers as the service does.

Nothing here imports a domain package: the domains read the contract from here.
"""
