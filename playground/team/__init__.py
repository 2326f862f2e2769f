"""The team around the maker: accounts (django-allauth), invitations, roles, the Team page, the audit."""
