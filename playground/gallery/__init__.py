"""The gallery: browse and organise the team's videos: filters, search and keyset pages, collections,
select-mode actions on many videos, and the streamed zip.
"""
