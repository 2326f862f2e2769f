"""Films: Continue's chains of clips as one sequence, played back to back and exported by the worker
as one MP4, with their pages and admin.
"""
