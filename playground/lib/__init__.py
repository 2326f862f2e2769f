"""What has no domain: typed requests, the one id reader, the safe link fetcher, the client's address,
leases, media serving, CSV cells, the security headers and the database-outage page.

Nothing here imports a domain package; every domain may import from here.
"""
